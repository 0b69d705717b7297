"""URLs on a customer's domain (its schema): branded portal, tenant admin and the API."""

from django.conf import settings
from django.conf.urls.static import static
from django.urls import include, path
from drf_spectacular.views import SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from apps.tenants.admin import tenant_admin_site

urlpatterns = [
    path("admin/", tenant_admin_site.urls),
    path("api/v1/", include("config.api_router")),
    # The API's docs page: Swagger UI from vendored files, reading /api/v1/schema/; shows no customer data.
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api:schema", authentication_classes=(),
                                                     permission_classes=(AllowAny,)), name="api-docs"),
    path("", include("apps.portal.urls_customer")),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

# Errors under /api/ are RFC 9457 problems like the API's own (apps.common.problems); pages keep Django's.
handler404 = "apps.common.problems.not_found"
handler500 = "apps.common.problems.server_error"
