"""Mappings over the API: list with versions, and a preview of any version over sample payloads."""

from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.mappings.selectors import mapping_version_get, mappings_with_versions
from apps.mappings.services import mapping_preview


class MappingListApi(APIView):
    api_area = "configuration"  # the API key scope its reads need
    def get(self, request) -> Response:
        mappings = mappings_with_versions()
        return Response([
            {"slug": m.slug, "name": m.name, "direction": m.direction, "object_type": m.object_type,
             "connector_kind": m.connector_kind,
             "versions": [{"number": v.number, "status": v.status, "published_at": v.published_at, "rules": v.rules}
                          for v in m.versions.all()]}
            for m in mappings
        ])


class PreviewInput(serializers.Serializer):
    samples = serializers.ListField(child=serializers.DictField(), min_length=1, max_length=200)
    variables = serializers.DictField(required=False, default=dict)


class MappingPreviewApi(APIView):
    """``POST /api/v1/mappings/<slug>/versions/<number>/preview/``: each sample's result and every rule's error."""

    api_area = "configuration"  # the API key scope its reads need
    write_action = "customer.view"  # a preview changes nothing

    def post(self, request, slug: str, number: int) -> Response:
        version = mapping_version_get(slug=slug, number=number)
        data = PreviewInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response({"mapping": slug, "version": number, "status": version.status,
                         "results": mapping_preview(version=version, samples=data.validated_data["samples"],
                                                    variables=data.validated_data["variables"])})
