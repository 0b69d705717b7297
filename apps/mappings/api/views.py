"""Mappings over the API: list with versions, and a preview of any version over sample payloads."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.mappings.selectors import mapping_version_get, mappings_with_versions
from apps.mappings.services import mapping_preview


class VersionSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    status = serializers.CharField()
    published_at = serializers.DateTimeField(allow_null=True)
    rules = serializers.ListField(child=serializers.DictField())


class MappingSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    direction = serializers.CharField()
    object_type = serializers.CharField()
    connector_kind = serializers.CharField()
    versions = VersionSerializer(many=True)


class PreviewAnswer(serializers.Serializer):
    mapping = serializers.CharField()
    version = serializers.IntegerField()
    status = serializers.CharField()
    results = serializers.ListField(child=serializers.DictField(), help_text="Per sample: input, output and "
                                    "errors (first, if any rule is wrong: {\"rule_problems\": [...]}).")


class MappingListApi(APIView):
    api_area = "configuration"  # the API key scope its reads need

    @extend_schema(responses=MappingSerializer(many=True))
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

    @extend_schema(request=PreviewInput, responses=PreviewAnswer)
    def post(self, request, slug: str, number: int) -> Response:
        version = mapping_version_get(slug=slug, number=number)
        data = PreviewInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response({"mapping": slug, "version": number, "status": version.status,
                         "results": mapping_preview(version=version, samples=data.validated_data["samples"],
                                                    variables=data.validated_data["variables"])})
