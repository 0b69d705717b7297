from rest_framework import serializers


class TemplateInstallSerializer(serializers.Serializer):
    variables = serializers.DictField(child=serializers.JSONField(), required=False, default=dict)
