"""Hub records, read-only: ``hub/<object>/`` and ``hub/<object>/<id>/`` for every hub object."""

from django.urls import path

from apps.canonical.api.views import HUB_VIEWS

urlpatterns = [
    route
    for name, (list_view, detail_view) in HUB_VIEWS.items()
    for route in (path(f"hub/{name}/", list_view.as_view(), name=f"hub-{name}"),
                  path(f"hub/{name}/<int:pk>/", detail_view.as_view(), name=f"hub-{name}-detail"))
]
