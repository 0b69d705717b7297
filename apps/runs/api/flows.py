"""Flows, runs, the ledger and replay over the API (customer domains only)."""

from __future__ import annotations

from django.db.models import OuterRef, Subquery
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ParseError
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.canonical.models import OBJECT_MODELS
from apps.mappings.models import MappingVersion
from apps.runs import engine, replay
from apps.runs.api import examples, serializers
from apps.runs.models import Flow, Run, RunItem, Trigger


@extend_schema_view(list=extend_schema(examples=examples.FLOW_LIST),
                   retrieve=extend_schema(examples=examples.FLOW_DETAIL))
class FlowViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    api_area = "runs"  # the API key scope its reads need
    queryset = Flow.objects.select_related("connection", "mapping", "rule_set", "after_flow").order_by("name")
    serializer_class = serializers.FlowSerializer
    lookup_field = "slug"
    write_action = None  # flows are configured in the admin; only the run command below writes

    @extend_schema(request=None, responses={202: serializers.RunSerializer}, examples=examples.FLOW_RUN)
    @action(detail=True, methods=["post"], write_action="run.start")
    def run(self, request, slug: str) -> Response:
        """Start a manual run (or return the unfinished one already queued)."""
        run = engine.flow_run_request(flow=self.get_object(), trigger=Trigger.MANUAL, acting_user=request.user)
        return Response(serializers.RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(list=extend_schema(parameters=[serializers.RunFilterSerializer], examples=examples.RUN_LIST),
                   retrieve=extend_schema(examples=examples.RUN_DETAIL))
class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    api_area = "runs"  # the API key scope its reads need
    serializer_class = serializers.RunSerializer

    def get_queryset(self):
        runs = Run.objects.select_related("flow", "connection").order_by("-created_at")
        params = _filters(serializers.RunFilterSerializer, self.request)
        if params.get("flow"):
            runs = runs.filter(flow__slug=params["flow"])
        if params.get("status"):
            runs = runs.filter(status=params["status"])
        if params.get("since"):
            runs = runs.filter(created_at__gte=params["since"])
        return runs


@extend_schema_view(list=extend_schema(parameters=[serializers.RunItemFilterSerializer], examples=examples.ITEM_LIST),
                   retrieve=extend_schema(examples=examples.ITEM_DETAIL))
class RunItemViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The ledger. Filters: run, flow, outcome, object_type, external_id, canonical_id, date_from/date_to
    (when the item was recorded), and the business key ``project`` (a project code: items about that
    project's records)."""

    api_area = "runs"  # the API key scope its reads need
    serializer_class = serializers.RunItemSerializer

    def get_queryset(self):
        items = RunItem.objects.select_related("run").order_by("-created_at")
        params = _filters(serializers.RunItemFilterSerializer, self.request)
        simple = {"run": "run_id", "flow": "run__flow__slug", "outcome": "outcome", "object_type": "object_type",
                  "external_id": "external_id", "canonical_id": "canonical_id", "date_from": "created_at__date__gte",
                  "date_to": "created_at__date__lte"}
        items = items.filter(**{lookup: params[name] for name, lookup in simple.items() if params.get(name)})
        if params.get("project"):
            items = _about_project(items, params["project"], params.get("object_type"))
        return items


def _filters(serializer_class, request) -> dict:
    """The query parameters, typed; a bad one is a 400 naming it (detail views take none and skip this)."""
    if request.resolver_match and "pk" in request.resolver_match.kwargs:
        return {}
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _about_project(items, code: str, object_type: str | None):
    types = [object_type] if object_type else list(serializers.RunItemFilterSerializer.PROJECT_TYPES)
    keep = RunItem.objects.none()
    for name in types:
        model = OBJECT_MODELS[name]
        lookup = "code" if name == "project" else "project__code"
        ids = model.objects.filter(**{lookup: code}).values("pk")
        keep = keep | items.filter(object_type=name, canonical_id__in=ids)
    return keep


class _ReplayBase(APIView):
    api_area = "runs"  # the API key scope its reads need
    write_action = "run.replay"

    def _selection(self, request):
        selection = serializers.ItemSelectionSerializer(data=request.data)
        selection.is_valid(raise_exception=True)
        data = selection.validated_data
        if data.get("items"):
            items = RunItem.objects.filter(pk__in=data["items"]).select_related("run__flow", "run__connection")
        else:
            flow = get_object_or_404(Flow, slug=data["flow"]) if data.get("flow") else None
            run = get_object_or_404(Run, pk=data["run"]) if data.get("run") else None
            items = replay.items_matching(outcome=data.get("outcome"), flow=flow, run=run,
                                          error_category=data.get("error_category"))
            items = _latest_per_record(items)
        version = get_object_or_404(MappingVersion, pk=data["mapping_version"]) if data.get(
            "mapping_version") else None
        return list(items[:10000]), version


def _latest_per_record(items):
    """A filter can match several failed items for one record; replay each record once."""
    newest = RunItem.objects.filter(run__flow=OuterRef("run__flow"), canonical_id=OuterRef("canonical_id"),
                                    external_id=OuterRef("external_id")).order_by("-created_at").values("pk")[:1]
    return items.filter(pk=Subquery(newest))


class ReplayPreviewApi(_ReplayBase):
    """``POST /api/v1/replay/preview/``: what a replay would send, per record; nothing is sent."""

    write_action = "customer.view"  # a preview changes nothing

    @extend_schema(request=serializers.ItemSelectionSerializer, responses=serializers.ReplayPreviewAnswer,
                   examples=examples.REPLAY_PREVIEW)
    def post(self, request) -> Response:
        items, version = self._selection(request)
        return Response({"items": len(items), "preview": replay.replay_preview(items=items,
                                                                               mapping_version=version)})


class ReplayApi(_ReplayBase):
    """``POST /api/v1/replay/``: queue replay runs for the selected items."""

    @extend_schema(request=serializers.ItemSelectionSerializer, responses={202: serializers.ReplayAnswer},
                   examples=examples.REPLAY)
    def post(self, request) -> Response:
        items, version = self._selection(request)
        if not items:
            raise ParseError("No items match.")
        runs = replay.replay_request(items=items, mapping_version=version, acting_user=request.user)
        return Response({"runs": serializers.RunSerializer(runs, many=True).data}, status=status.HTTP_202_ACCEPTED)
