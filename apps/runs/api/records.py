"""Reference data in bulk over the API: many people, customers, projects, assignments or rate cards per request."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.connectors.kinds.api import MAX_RECORDS
from apps.runs import services
from apps.runs.api import examples
from apps.runs.api.serializers import RecordsBulkAnswer


class RecordsBulkSerializer(serializers.Serializer):
    records = serializers.ListField(child=serializers.DictField(), min_length=1, max_length=MAX_RECORDS)
    connection = serializers.SlugField(required=False, help_text="An API connection; default: this customer's "
                                                                 "'api' connection, made on first use.")


class RecordsBulkApi(APIView):
    """``POST /api/v1/records/<object>/`` with ``{"records": [...]}``: each record stored like a row of a file,
    and per record (in request order) its outcome, id, canonical id and, if it failed, the message and field.
    A body that is not such a list answers 400, more than ``MAX_RECORDS`` records 400, an unknown object 400."""

    api_area = "records"  # the API key scope its reads need
    write_action = "records.store"

    @extend_schema(request=RecordsBulkSerializer, responses=RecordsBulkAnswer, examples=examples.RECORDS)
    def post(self, request, object_name: str) -> Response:
        body = RecordsBulkSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = services.records_bulk_store(object_name=object_name, records=body.validated_data["records"],
                                             connection_slug=body.validated_data.get("connection"),
                                             acting_user=request.user)
        run = result.run
        return Response({"run": run.pk, "status": run.status, "connection": run.connection.slug,
                         "counts": {k: v for k, v in run.counts.items() if v}, "results": result.results})
