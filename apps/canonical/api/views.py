"""Hub records over the API, read-only: customers, projects, people, assignments, time entries, expenses,
invoices, revenue schedules and rate cards, each a list (paged by cursor, newest first) and a detail.

One typed serializer per object, made from the model (every business field; related records by id), so the
OpenAPI document shows each object's own shape. Filters: ``updated_since`` (changed at or after), ``code``
(where the object has one), ``include_deleted`` (records deleted at the source are left out by default)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.canonical.api import examples
from apps.canonical.models import OBJECT_MODELS
from apps.common.api import MAX_PAGE_SIZE, CursorPagination

# URL name -> object type, in the order the API root and the document list them.
HUB_OBJECTS = {"customers": "customer", "projects": "project", "people": "person", "assignments": "assignment",
               "time-entries": "time_entry", "expenses": "expense", "invoices": "invoice",
               "revenue-schedules": "revenue_schedule", "rate-cards": "rate_card"}
HIDDEN = ("content_hash",)  # internal: how the door detects unchanged records


class HubFilter(serializers.Serializer):
    updated_since = serializers.DateTimeField(required=False, help_text="Records changed at or after this time.")
    code = serializers.CharField(required=False, max_length=64, help_text="The record's code (objects with one).")
    include_deleted = serializers.BooleanField(required=False, default=False,
                                               help_text="Also records deleted or voided at the source.")


def _serializer(object_type: str) -> type[serializers.ModelSerializer]:
    model = OBJECT_MODELS[object_type]
    meta = type("Meta", (), {"model": model, "exclude": HIDDEN})
    name = "Hub" + "".join(part.title() for part in object_type.split("_"))
    return type(name, (serializers.ModelSerializer,), {"Meta": meta})


def _views(url_name: str, object_type: str) -> tuple[type[APIView], type[APIView]]:
    model, serializer = OBJECT_MODELS[object_type], _serializer(object_type)
    has_code = any(f.name == "code" for f in model._meta.fields)

    class ListApi(APIView):
        api_area = "records"  # the API key scope its reads need

        @extend_schema(operation_id=f"hub_{object_type}_list", parameters=[HubFilter, *_CURSOR_PARAMETERS],
                       responses=_page(serializer), summary=f"List hub {url_name.replace('-', ' ')}",
                       examples=examples.list_examples(url_name, object_type))
        def get(self, request) -> Response:
            filters = HubFilter(data=request.query_params)
            filters.is_valid(raise_exception=True)
            query = filters.validated_data
            records = model.objects.all()
            if not query["include_deleted"]:
                records = records.filter(deleted_at__isnull=True)
            if query.get("updated_since"):
                records = records.filter(updated_at__gte=query["updated_since"])
            if query.get("code") and has_code:
                records = records.filter(code=query["code"])
            paginator = CursorPagination()
            page = paginator.paginate_queryset(records, request, view=self)
            return paginator.get_paginated_response(serializer(page, many=True).data)

    class DetailApi(APIView):
        api_area = "records"  # the API key scope its reads need

        @extend_schema(operation_id=f"hub_{object_type}_detail", responses=serializer,
                       examples=examples.detail_examples(object_type))
        def get(self, request, pk: int) -> Response:
            return Response(serializer(get_object_or_404(model, pk=pk)).data)

    ListApi.__name__, DetailApi.__name__ = f"Hub{serializer.__name__[3:]}ListApi", f"Hub{serializer.__name__[3:]}Api"
    return ListApi, DetailApi


def _page(serializer):
    return inline_serializer(f"{serializer.__name__}Page", fields={
        "next": serializers.URLField(allow_null=True), "previous": serializers.URLField(allow_null=True),
        "results": serializer(many=True)})


_CURSOR_PARAMETERS = [
    OpenApiParameter("cursor", str, description="From `next` or `previous` of the page before (left out: the first "
                                                "page). Newest first (by id); a walk sees each record once."),
    OpenApiParameter("page_size", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
                     description=f"Results per page: 1 to {MAX_PAGE_SIZE} (default 50)."),
]
HUB_VIEWS = {url_name: _views(url_name, object_type) for url_name, object_type in HUB_OBJECTS.items()}
