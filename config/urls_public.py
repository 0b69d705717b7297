"""URLs on the platform and partner hosts (public schema): partner site and platform admin."""

from django.conf import settings
from django.conf.urls.static import static
from django.urls import include, path

from apps.tenants.admin import public_admin_site
from config import api_partner

urlpatterns = [
    path("admin/", public_admin_site.urls),
    # The partner API on a partner's host (apps/portal/api), and its docs page (Swagger UI, vendored files).
    path("api/v1/", include("config.api_partner")),
    path("api/docs/", api_partner.docs_view, name="partner-api-docs"),
    path("", include("apps.portal.urls_partner")),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

# Errors under /api/ are RFC 9457 problems like the API's own (apps.common.problems); pages keep Django's.
handler404 = "apps.common.problems.not_found"
handler500 = "apps.common.problems.server_error"
