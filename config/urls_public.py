"""URLs on the platform and partner hosts (public schema): partner site and platform admin."""

from django.conf import settings
from django.conf.urls.static import static
from django.urls import include, path

from apps.tenants.admin import public_admin_site

urlpatterns = [
    path("admin/", public_admin_site.urls),
    path("", include("apps.portal.urls_partner")),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

# Errors under /api/ are RFC 9457 problems like the API's own (apps.common.problems); pages keep Django's.
handler404 = "apps.common.problems.not_found"
handler500 = "apps.common.problems.server_error"
