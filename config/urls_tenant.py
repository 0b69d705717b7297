"""URLs on a customer's domain (its schema): branded portal, tenant admin and the API."""

from django.conf import settings
from django.conf.urls.static import static
from django.urls import include, path

from apps.tenants.admin import tenant_admin_site

urlpatterns = [
    path("admin/", tenant_admin_site.urls),
    path("api/v1/", include("config.api_router")),
    path("", include("apps.portal.urls_customer")),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
