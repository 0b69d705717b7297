"""Accelerators over the API (customer domains only): the templates this customer may install, and installing one."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accelerators.api import examples
from apps.accelerators.api.serializers import InstallAnswer, TemplateInstallSerializer, TemplateSerializer
from apps.accelerators.selectors import templates_for_customer
from apps.accelerators.services import template_install


class TemplateListApi(APIView):
    """``GET /api/v1/templates/``: accelerators this customer may install."""

    api_area = "configuration"  # the API key scope its reads need

    @extend_schema(responses=TemplateSerializer(many=True), examples=examples.TEMPLATES)
    def get(self, request) -> Response:
        templates = templates_for_customer(request.tenant).order_by("name")
        return Response([{"slug": t.slug, "name": t.name, "version": t.version, "description": t.description,
                          "premium": t.is_premium, "variables": t.definition.get("variables") or {}}
                         for t in templates])


class TemplateInstallApi(APIView):
    """``POST /api/v1/templates/<slug>/install/`` with ``{"variables": {...}}``."""

    api_area = "configuration"  # the API key scope its reads need
    write_action = "template.install"

    @extend_schema(request=TemplateInstallSerializer, responses={201: InstallAnswer, 200: InstallAnswer},
                   examples=examples.INSTALL)
    def post(self, request, slug: str) -> Response:
        template = templates_for_customer(request.tenant).filter(slug=slug).order_by("-version").first()
        if template is None:
            raise NotFound("No such template.")
        data = TemplateInstallSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        report = template_install(template=template, variables=data.validated_data["variables"],
                                  customer=request.tenant, acting_user=request.user)
        return Response({"created": report.created, "updated": report.updated, "unchanged": report.unchanged},
                        status=status.HTTP_201_CREATED if report.created else status.HTTP_200_OK)
