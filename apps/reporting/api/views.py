"""Reports API: every figure as JSON under /api/v1/reports/<name>/, or as CSV with ?format=csv or .../csv/.

Reads need VIEW on the customer the host selects (``CanViewTenant``); the filters and options are the
query parameters the pages use (see docs/reporting.md).
"""

from __future__ import annotations

import dataclasses

import orjson
from django.db import connection
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder
from rest_framework.views import APIView

from apps.reporting.api import examples
from apps.reporting.errors import ReportFilterError
from apps.reporting.exports import csv_response
from apps.reporting.figures import FIGURES, figure_get, figure_table
from apps.reporting.filters import FILTER_PARAMS
from apps.reporting.tables import table_json


class CSVRenderer(BaseRenderer):
    """Lets DRF accept ``?format=csv``; the view streams the file itself."""

    media_type = "text/csv"
    format = "csv"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes | str) else b""


class FigureJSONRenderer(JSONRenderer):
    """Compact JSON through orjson: a figure can have tens of thousands of rows (27,000 rows, 4.5 MB: ~5 ms
    instead of ~40 ms with the standard library). Indented output (``; indent=``) goes the standard way."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None or self.get_indent(accepted_media_type, renderer_context or {}):
            return super().render(data, accepted_media_type, renderer_context)
        return orjson.dumps(data, default=JSONEncoder().default)


PAGE_SIZE = 1000  # rows per page of JSON; the CSV export always has every row
MAX_PAGE_SIZE = 10_000
MAX_PAGE = 1_000_000  # a larger page number would overflow the row slice (a 500), and no figure has that many
PAGE_PARAMS = ("page", "page_size")


class FigureSerializer(serializers.Serializer):
    name = serializers.CharField()
    title = serializers.CharField()
    url = serializers.URLField()
    csv = serializers.URLField()
    parameters = serializers.ListField(child=serializers.CharField())


class ColumnSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    kind = serializers.CharField()


class FigureAnswer(serializers.Serializer):
    name = serializers.CharField()
    title = serializers.CharField()
    columns = ColumnSerializer(many=True)
    rows = serializers.ListField(child=serializers.DictField(), help_text="One object per row, keyed by column.")
    summary = serializers.JSONField()
    notes = serializers.JSONField()
    count = serializers.IntegerField()
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)


class ReportListApi(APIView):
    """The figures there are, with their URLs and the parameters each takes."""

    api_area = "reports"  # the API key scope its reads need

    @extend_schema(responses=FigureSerializer(many=True), examples=examples.FIGURES)
    def get(self, request: Request) -> Response:
        return Response([{"name": f.name, "title": f.title, "url": request.build_absolute_uri(_url(f.name)),
                          "csv": request.build_absolute_uri(_url(f.name, csv=True)),
                          "parameters": [*FILTER_PARAMS, *f.option_names, *PAGE_PARAMS]} for f in FIGURES.values()])


class ReportApi(APIView):
    """One figure: ``columns``, ``rows``, ``summary`` and ``notes`` (Decimals as exact strings).

    Rows come a page at a time (``page``, ``page_size``; ``count`` and ``next``/``previous`` links say how
    many and where the rest are): a large firm's mismatch figure has tens of thousands. ``summary`` always
    covers every row.
    """

    api_area = "reports"  # the API key scope its reads need
    renderer_classes = [FigureJSONRenderer, BrowsableAPIRenderer, CSVRenderer]
    as_csv = False

    @extend_schema(
        parameters=[*(OpenApiParameter(p, str, description="A report filter (docs/reporting.md).")
                      for p in FILTER_PARAMS),
                    OpenApiParameter("page", int), OpenApiParameter("page_size", int,
                                                                     description=f"At most {MAX_PAGE_SIZE}.")],
        responses={(200, "application/json"): FigureAnswer,
                   (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="Every row, as CSV.")},
        examples=examples.FIGURE)
    def get(self, request: Request, name: str):
        figure = figure_get(name)
        table = figure_table(name, request.query_params)
        if self.as_csv or request.accepted_renderer.format == "csv":
            return csv_response(table, f"{connection.schema_name}-{figure.name}.csv")
        page, size = _page_params(request.query_params)
        start = (page - 1) * size
        count = len(table.rows)
        body = table_json(dataclasses.replace(table, rows=table.rows[start:start + size]))
        return Response({"name": figure.name, "title": figure.title, **body, "count": count, "page": page,
                         "page_size": size,
                         "next": _page_url(request, page + 1) if start + size < count else None,
                         "previous": _page_url(request, page - 1) if page > 1 else None})


def _page_params(params) -> tuple[int, int]:
    values = []
    for name, default, most in (("page", 1, MAX_PAGE), ("page_size", PAGE_SIZE, MAX_PAGE_SIZE)):
        raw = params.get(name) or str(default)
        if not raw.isdigit() or len(raw) > 9 or not 1 <= int(raw) <= most:
            raise ReportFilterError(f"{name} must be a whole number from 1 to {most}.")
        values.append(int(raw))
    return values[0], values[1]


def _page_url(request: Request, page: int) -> str:
    query = request.query_params.copy()
    query["page"] = str(page)
    return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")


def _url(name: str, *, csv: bool = False) -> str:
    return reverse("api:report-csv" if csv else "api:report", kwargs={"name": name})
