"""Replay: send failed (or any) ledger items again, after showing what would be sent."""

from __future__ import annotations

from collections import defaultdict

from django.db import connection as db
from django.db import transaction
from django.db.models import QuerySet

from apps.common.errors import ApplicationError
from apps.connectors.services import connection_kind
from apps.mappings.models import MappingVersion
from apps.mappings.rules import apply_rules, to_canonical_input
from apps.runs.engine import flow_run_request
from apps.runs.errors import RunError
from apps.runs.models import Flow, FlowDirection, ItemOutcome, Run, RunItem, Trigger
from apps.runs.outbound import outbound_plan
from apps.tenants import access
from apps.tenants.models import Operation
from apps.tenants.operations import operation_finish, operation_progress, operation_start
from apps.tenants.tasks import tenant_task_enqueue


def items_matching(*, outcome: str | None = ItemOutcome.FAILED, flow: Flow | None = None, run: Run | None = None,
                   object_type: str | None = None, error_category: str | None = None,
                   since=None, until=None, search: str | None = None) -> QuerySet[RunItem]:
    """Ledger items by filter, newest first (the same filter the API and admin use)."""
    items = RunItem.objects.select_related("run__flow", "run__connection").order_by("-created_at")
    filters = {"outcome": outcome, "run__flow": flow, "run": run, "object_type": object_type,
               "error_category": error_category, "created_at__gte": since, "created_at__lte": until}
    items = items.filter(**{k: v for k, v in filters.items() if v is not None})
    if search:
        items = items.filter(error_message__icontains=search) | items.filter(external_id=search)
    return items


def replay_request(*, items: QuerySet[RunItem] | list[RunItem], acting_user,
                   mapping_version: MappingVersion | None = None, operation_id: int | None = None) -> list[Run]:
    """Queue one replay run per flow for these items, with the current (or the chosen) mapping version; with
    ``operation_id`` the runs report their progress to that operation."""
    access.check(acting_user, "run.replay")
    runs = []
    for flow, group in _by_flow(items).items():
        if flow is not None and flow.direction == FlowDirection.OUTBOUND:
            ids = sorted({i.canonical_id for i in group if i.canonical_id})
            if ids:
                runs.append(flow_run_request(flow=flow, trigger=Trigger.REPLAY, record_ids=ids,
                                             mapping_version=mapping_version, acting_user=acting_user,
                                             operation_id=operation_id))
        else:
            runs.append(_inbound_replay(flow, group, mapping_version, acting_user, operation_id))
    return runs


def _inbound_replay(flow, group: list[RunItem], mapping_version, acting_user, operation_id) -> Run:
    replayable = [i.pk for i in group if i.payload_before is not None]
    if not replayable:
        raise RunError("These items kept no source payload to replay; read the source again instead.")
    if flow is not None:
        return flow_run_request(flow=flow, trigger=Trigger.REPLAY, record_ids=replayable,
                                mapping_version=mapping_version, replay_payloads=True, acting_user=acting_user,
                                operation_id=operation_id)
    first = group[0].run
    run = Run.objects.create(connection=first.connection, object_name=first.object_name,
                             object_type=first.object_type, trigger=Trigger.REPLAY, record_ids=replayable,
                             replay_payloads=True, mapping_version=mapping_version, operation_id=operation_id)
    tenant_task_enqueue(db.schema_name, "apps.runs.tasks.run_execute", run.pk)
    return run


def replay_bulk_start(*, items: QuerySet[RunItem] | list[RunItem], acting_user) -> Operation:
    """Replay any number of items in the background; the operation returned shows the progress (a page redirects
    to ``apps.tenants.operations.operation_url``). The request only stores the ids; a task queues the runs."""
    access.check(acting_user, "run.replay")
    ids = list(items.values_list("pk", flat=True)) if isinstance(items, QuerySet) else [i.pk for i in items]
    if not ids:
        raise RunError("No items to replay.")
    operation = operation_start(kind="replay", title=f"Replay {len(ids):,} item(s)", total=len(ids),
                                customer=access.current_customer(), acting_user=acting_user)
    tenant_task_enqueue(db.schema_name, "apps.runs.tasks.replay_bulk_execute", operation.pk, ids,
                        getattr(acting_user, "pk", None))
    return operation


def replay_bulk_execute(*, operation_id: int, item_ids: list[int], acting_user) -> list[Run]:
    """The task's half of ``replay_bulk_start``: queue the replay runs, which report to the operation as they work."""
    operation_progress(operation_id, step="Queuing the replay runs")
    items = RunItem.objects.filter(pk__in=item_ids).select_related("run__flow", "run__connection")
    try:
        with transaction.atomic():  # the runs' tasks are queued on commit, after the total is known
            runs = replay_request(items=items, acting_user=acting_user, operation_id=operation_id)
            operation_progress(operation_id, total=sum(len(run.record_ids or []) for run in runs),
                               step=f"{len(runs)} replay run(s) queued")
    except ApplicationError as error:
        operation_finish(operation_id, error=error.message)
        return []
    if not runs:
        operation_finish(operation_id, step="Nothing left to replay: the items are gone or name no record.")
    return runs


def replay_preview(*, items: QuerySet[RunItem] | list[RunItem], mapping_version: MappingVersion | None = None
                   ) -> list[dict]:
    """What a replay would do, per record, without sending anything."""

    preview = []
    for flow, group in _by_flow(items).items():
        if flow is not None and flow.direction == FlowDirection.OUTBOUND:
            ids = sorted({i.canonical_id for i in group if i.canonical_id})
            run = Run(flow=flow, connection=flow.connection, object_name=flow.object_name,
                      object_type=flow.object_type)
            for plan in outbound_plan(run, connection_kind(flow.connection), ids, mapping_version=mapping_version):
                preview.append({"flow": flow.slug, "canonical_id": plan.canonical_id, "action": plan.action,
                                "payload": plan.payload, "message": plan.message})
        else:
            preview.extend(_inbound_preview(flow, group, mapping_version))
    return preview


def _inbound_preview(flow, group, mapping_version) -> list[dict]:
    version = mapping_version or (flow.mapping.published_version() if flow and flow.mapping_id else None)
    payloads = [i.payload_before for i in group if i.payload_before is not None]
    if version is None:
        kind = connection_kind(group[0].run.connection)
        results = []
        for payload in payloads:
            canonical = kind.to_canonical(group[0].run.object_name, payload)
            results.append({"flow": flow.slug if flow else None, "action": "store", "input": payload,
                            "output": _stored(canonical)})
        return results
    results = []
    for mapped in apply_rules(version.rules, payloads, variables=flow.variables if flow else {}):
        output = None
        if mapped.ok:
            output = _stored(to_canonical_input(version.mapping.object_type, mapped))
        results.append({"flow": flow.slug if flow else None, "action": "store" if mapped.ok else "fail",
                        "input": mapped.source, "output": output,
                        "errors": [{"target": e.target, "message": e.message} for e in mapped.errors]})
    return results


def _stored(canonical) -> dict:
    """What the hub would be given, references included: a missing-reference fix shows the record it now names."""
    return {"external_id": canonical.external_id, "fields": {k: str(v) for k, v in canonical.fields.items()},
            "refs": {k: f"{r.by}:{r.value}" if r else None for k, r in canonical.refs.items()}}


def _by_flow(items) -> dict[Flow | None, list[RunItem]]:
    groups: dict = defaultdict(list)
    for item in items:
        groups[item.run.flow].append(item)
    return groups
