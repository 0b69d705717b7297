"""The one API router: every app registers its viewsets here, under /api/v1/ on customer domains."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

router = DefaultRouter()

app_name = "api"
urlpatterns = [
    path("", include(router.urls)),
]
