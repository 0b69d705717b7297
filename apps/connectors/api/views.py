"""Connections API: list and read for viewers, create and change for configurers, test for operators."""

from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.connectors import services
from apps.connectors.api import examples, serializers
from apps.connectors.crypto import SENSITIVE_NAMES
from apps.connectors.models import Connection


@extend_schema_view(list=extend_schema(examples=examples.LIST), retrieve=extend_schema(examples=examples.DETAIL))
class ConnectionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Connections of the customer whose domain the request came to (the schema is the scope)."""

    api_area = "configuration"  # the API key scope its reads need
    queryset = Connection.objects.order_by("name")
    lookup_field = "slug"
    write_action = "configuration.change"  # read by CanViewTenant; the test action asks for connection.test

    def get_serializer_class(self):
        return serializers.ConnectionSerializer if self.action == "list" else serializers.ConnectionDetailSerializer

    @extend_schema(request=serializers.ConnectionCreateSerializer,
                   responses={201: serializers.ConnectionDetailSerializer}, examples=examples.CREATE)
    @method_decorator(sensitive_variables(*SENSITIVE_NAMES))
    def create(self, request) -> Response:
        data = _validated(serializers.ConnectionCreateSerializer, request.data)
        connection = services.connection_create(**data, acting_user=request.user)
        return Response(serializers.ConnectionDetailSerializer(connection).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=serializers.ConnectionUpdateSerializer, responses=serializers.ConnectionDetailSerializer,
                   examples=examples.UPDATE)
    @method_decorator(sensitive_variables(*SENSITIVE_NAMES))
    def partial_update(self, request, slug: str) -> Response:
        data = _validated(serializers.ConnectionUpdateSerializer, request.data)
        credentials = data.pop("credentials", None)
        connection = services.connection_update(
            connection=self.get_object(), changes=data, credentials=credentials, acting_user=request.user,
        )
        return Response(serializers.ConnectionDetailSerializer(connection).data)

    @extend_schema(request=None, responses=serializers.ConnectionTestResultSerializer, examples=examples.TEST)
    @action(detail=True, methods=["post"], write_action="connection.test")
    @method_decorator(sensitive_variables(*SENSITIVE_NAMES))
    def test(self, request, slug: str) -> Response:
        result = services.connection_test(connection=self.get_object(), acting_user=request.user)
        return Response(serializers.ConnectionTestResultSerializer(result).data)


def _validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
