"""Running reads and flows, writing the ledger, and receiving and processing inbound webhook events."""

from __future__ import annotations

import json
import logging
import math
import re
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db import connection as db
from django.db.models import F
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.common.errors import ConflictError, ExternalSystemError
from apps.common.locks import LockBusy, advisory_lock
from apps.connectors.errors import ConnectorError, CredentialsError
from apps.connectors.flatfiles.layouts import OBJECT_TYPES, REFERENCE_OBJECTS
from apps.connectors.kinds.api import MAX_RECORDS, ApiRecordsKind
from apps.connectors.kinds.base import ConnectorKind
from apps.connectors.kinds.webhook import BAD_SIGNATURE, InboundWebhookKind
from apps.connectors.models import Connection
from apps.connectors.services import connection_create, connection_kind
from apps.runs import events
from apps.runs.engine import hub_changed, run_finish
from apps.runs.errors import EventInvalid, EventTooLarge, RecordsRefused, RecordsTooMany, WebhookRefused
from apps.runs.inbound import inbound_page_store
from apps.runs.models import InboundEvent, Run, RunItem, RunStatus, SyncCursor, Trigger, finished_status
from apps.runs.queue import WAKE_CHANNEL
from apps.runs.signals import run_finished
from apps.tenants import access
from apps.tenants import selectors as tenant_selectors
from apps.tenants.tasks import tenant_task_enqueue, tenant_task_package

logger = logging.getLogger(__name__)


def pull_run(*, connection: Connection, object_name: str, trigger: str = Trigger.MANUAL,
             from_start: bool = False, kind: ConnectorKind | None = None) -> Run:
    """Read ``object_name`` from ``connection`` into the hub, resuming after the last good cursor.

    Every record either lands in the hub or becomes a failed/conflict item in the ledger with a
    message naming the record and the field. The cursor advances only past pages that were stored.
    """
    kind = kind or connection_kind(connection)
    spec = kind.capabilities.spec(object_name)
    cursor_row, _ = SyncCursor.objects.get_or_create(connection=connection, object_name=object_name)
    start = "" if from_start or not spec.incremental else cursor_row.value
    run = Run.objects.create(connection=connection, object_name=object_name, object_type=spec.object_type,
                             trigger=trigger, status=RunStatus.RUNNING, cursor_start=start, started_at=timezone.now())
    notes: list[str] = []
    try:
        for page in kind.read(object_name, cursor=start or None):
            # As a flow's read does, record every item (created, updated, unchanged, failed) in the ledger; a pull
            # stores into the hub only (no outbound flows run from it).
            inbound_page_store(run, kind, page, announce=_announce_nothing)
            notes += page.notes
            if spec.incremental and page.next_cursor:
                SyncCursor.objects.filter(pk=cursor_row.pk).update(value=page.next_cursor)
                run.cursor_end = page.next_cursor
    except ExternalSystemError as error:
        return _finish(run, run.counts, error_message=error.message, error_category=error.category)
    return _finish(run, run.counts, note=" ".join(notes))


def _announce_nothing(**changes) -> None:
    pass


def _finish(run: Run, counts: dict[str, int], error_message: str = "", error_category: str = "", note: str = "") -> Run:
    """Settle a pull; ``note`` (what the source left for later) is kept in ``error_message`` of a run that did
    not fail, shown beside its status."""
    status = RunStatus.FAILED if error_message else finished_status(counts)
    run.status, run.counts, run.finished_at = status, counts, timezone.now()
    run.error_message = error_message or note
    run.error_category = error_category
    run.save(update_fields=["status", "counts", "error_message", "error_category", "finished_at", "cursor_end",
                            "updated_at"])
    logger.info("run %s %s/%s: %s %s", run.pk, run.connection, run.object_name, status, counts)
    run_finished.send(sender=Run, run=run)  # exceptions and reporting learn of pulls as of flow runs
    return run


# --- inbound webhook events ----------------------------------------------------------------------
MAX_EVENT_BYTES = 1024 * 1024  # larger bodies are refused with 413 before they are parsed
MAX_EVENT_DEPTH = 64  # deeper nesting is refused: no real event needs it, and parsers pay for it
EVENT_ID_MAX = InboundEvent._meta.get_field("event_id").max_length
EVENT_TYPE_MAX = InboundEvent._meta.get_field("event_type").max_length
_UNIX_SECONDS = re.compile(r"[0-9]{1,11}")


@dataclass(frozen=True)
class EventReceipt:
    event: InboundEvent
    created: bool  # False: a re-delivery of an event stored before


def inbound_event_receive(
    *, connection_slug: str, timestamp: str | None, signature: str | None, body: bytes, now: float | None = None,
    message_id: str | None = None,
) -> EventReceipt:
    """Authenticate a webhook request, store its event once, and queue its processing after commit.

    With ``message_id`` the request is signed the Standard Webhooks way (``webhook-*`` headers), and that id
    is the event's id when the body names none. Refusals store nothing. A re-delivery of a stored event id
    only counts the delivery.
    """
    if len(body) > MAX_EVENT_BYTES:
        raise EventTooLarge(f"The body is larger than {MAX_EVENT_BYTES} bytes.")
    connection = _webhook_authenticate(connection_slug, timestamp, signature, body, time.time() if now is None else now,
                                       message_id=message_id)
    event_id, event_type, payload = _event_parse(body, default_id=message_id)
    return _event_store(connection, event_id, event_type, payload)


# --- the webhook intake's hot path ------------------------------------------------------------------
# (schema, slug) -> (connection id, credentials token, updated_at, the verifying kind): a per-process memo of what
# ``_webhook_authenticate`` loads and decrypts. The statement that stores the event re-checks the token, the
# updated_at stamp and the switches, so a secret rotated or a connection disabled anywhere is never honoured late.
_SIGNERS: dict[tuple[str, str], tuple[int, str, object, InboundWebhookKind]] = {}
_SIGNERS_KEPT = 10_000
_WAKE_EVERY, _last_wake = 0.05, 0.0
_INTAKE_SQL = """
WITH event AS (
    INSERT INTO {schema}.runs_inboundevent
        (connection_id, event_id, event_type, payload, received_at, status, error_message, deliveries)
    SELECT c.id, %(event_id)s, %(event_type)s, %(payload)s::jsonb, now(), 'received', '', 1
      FROM {schema}.connectors_connection c
     WHERE c.id = %(connection)s AND c.kind = %(kind)s AND c.is_enabled
       AND c.credentials_token = %(token)s AND c.updated_at = %(updated_at)s
       AND EXISTS (SELECT 1 FROM public.tenants_domain d JOIN public.tenants_customer t ON t.id = d.tenant_id
                    WHERE d.domain = %(host)s AND t.id = %(customer)s AND t.is_active AND t.kind = 'firm')
    ON CONFLICT (connection_id, event_id) DO NOTHING
    RETURNING id
){queue}
SELECT id{wake} FROM event"""
_INTAKE_QUEUE = """, task AS (
    INSERT INTO public.django_q_ormq (key, payload, lock) SELECT %(queue)s, %(task)s, now() FROM event
)"""


def inbound_event_receive_fast(
    *, host: str, connection_slug: str, timestamp: str | None, signature: str | None, body: bytes,
) -> tuple[str, str] | None:
    """The intake at the cost of one statement: (schema, event id) when a new, authentic event was stored, else
    None.

    None means "not decided here" (a refusal, a re-delivery, a customer or connection that changed): the caller
    hands the request to the full path (``inbound_event_receive`` behind the API view), which answers exactly as
    it always has. What is stored here is what the full path stores; with the ORM broker the event's task row
    is written by the same statement, so event and task commit together, and a NOTIFY wakes the cluster.
    """
    route = tenant_selectors.firm_route_for_host(host)
    if route is None or not timestamp or not signature or not _UNIX_SECONDS.fullmatch(timestamp):
        return None
    signer = _signer(route.schema_name, connection_slug)
    if signer is None:
        return None
    connection_id, token, updated_at, kind = signer
    try:
        kind.verify(timestamp=timestamp, signature=signature, body=body, now=time.time())
        event_id, event_type, payload = _event_parse(body)
    except (ConnectorError, EventInvalid):
        return None
    params = {"event_id": event_id, "event_type": event_type, "payload": json.dumps(payload), "kind": kind.slug,
              "connection": connection_id, "token": token, "updated_at": updated_at, "host": host,
              "customer": route.customer_id}
    package = tenant_task_package(route.schema_name, "apps.runs.tasks.inbound_event_received", connection_id, event_id)
    if package is not None:
        params["queue"], params["task"] = package
    schema = db.ops.quote_name(route.schema_name)
    sql = _INTAKE_SQL.format(schema=schema, queue=_INTAKE_QUEUE if package else "",
                             wake=f", pg_notify('{WAKE_CHANNEL}', '')" if package and _wake_due() else "")
    stored = _intake_execute(sql, params)
    if stored is None:
        tenant_selectors.firm_route_forget(host)
        _SIGNERS.pop((route.schema_name, connection_slug), None)
        return None
    if package is None:  # tasks run inline (tests) or through Redis: queue the usual way
        tenant_task_enqueue(route.schema_name, "apps.runs.tasks.inbound_event_process", stored)
    return route.schema_name, event_id


def _wake_due() -> bool:
    """Whether this event should announce itself. NOTIFY takes a lock every notifying commit waits for, so a process
    announces at most once per ``_WAKE_EVERY``: at a few events a second each one wakes the cluster at once; in a
    burst the cluster is awake anyway and takes the rest with its next look at the queue (at worst after `poll`)."""
    global _last_wake
    now = time.monotonic()
    if now - _last_wake < _WAKE_EVERY:
        return False
    _last_wake = now
    return True


def _signer(schema_name: str, slug: str):
    key = (schema_name, slug)
    if key not in _SIGNERS:
        with schema_context(schema_name):
            connection = Connection.objects.filter(slug=slug, kind=InboundWebhookKind.slug, is_enabled=True).first()
            if connection is None:
                return None
            try:
                kind = connection_kind(connection)
                kind.context.credentials.get("signing_secret")  # decrypted now, not on the first request
            except CredentialsError:
                return None
        if len(_SIGNERS) >= _SIGNERS_KEPT:
            _SIGNERS.clear()
        _SIGNERS[key] = (connection.pk, connection.credentials_token, connection.updated_at, kind)
    return _SIGNERS[key]


def _intake_execute(sql: str, params: dict) -> int | None:
    """Run the intake statement on the request's connection, bypassing the tenant ``SET search_path`` (every
    name in it carries its schema). Any database refusal leaves the decision to the full path."""
    db.ensure_connection()

    def execute():
        with db.connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()

    try:
        if db.in_atomic_block:  # inside a transaction (tests, a caller's atomic): a savepoint keeps it usable
            with transaction.atomic():
                row = execute()
        else:  # one autocommitted statement: no BEGIN, no COMMIT round trips
            row = execute()
    except DatabaseError:
        logger.warning("webhook intake: the one-statement path failed; the full path answers", exc_info=True)
        return None
    return row[0] if row else None


def _webhook_authenticate(
    slug: str, timestamp: str | None, signature: str | None, body: bytes, now: float, *, message_id: str | None = None
) -> Connection:
    # Header checks come first and say what is wrong: they are the same for every slug.
    if not timestamp or not signature:
        raise WebhookRefused("Send the X-Weft-Timestamp and X-Weft-Signature headers (or Standard Webhooks' "
                             "webhook-id, webhook-timestamp and webhook-signature).")
    if not _UNIX_SECONDS.fullmatch(timestamp):
        raise WebhookRefused("The timestamp must be unix time in whole seconds.")
    if message_id is not None and not 0 < len(message_id) <= EVENT_ID_MAX:
        raise WebhookRefused(f"webhook-id must be 1 to {EVENT_ID_MAX} characters.")
    # Unknown, disabled or not-a-webhook connections answer exactly like a wrong signature.
    connection = Connection.objects.filter(slug=slug, kind=InboundWebhookKind.slug, is_enabled=True).first()
    if connection is None:
        raise WebhookRefused(BAD_SIGNATURE)
    try:
        kind = connection_kind(connection)
        if message_id is None:
            kind.verify(timestamp=timestamp, signature=signature, body=body, now=now)
        else:
            kind.verify_standard(message_id=message_id, timestamp=timestamp, signature=signature, body=body, now=now)
    except CredentialsError:
        logger.error("webhook %s: the signing secret cannot be decrypted; events are refused", connection)
        raise WebhookRefused(BAD_SIGNATURE) from None
    except ConnectorError as error:
        raise WebhookRefused(error.message) from None
    return connection


def _event_parse(body: bytes, *, default_id: str | None = None) -> tuple[str, str, dict]:
    try:
        payload = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise EventInvalid("The body must be JSON encoded as UTF-8.") from None
    except RecursionError:
        raise EventInvalid(f"The body is nested more than {MAX_EVENT_DEPTH} levels deep.") from None
    except ValueError as error:
        raise EventInvalid(f"The body is not valid JSON: {error}.") from None
    if not isinstance(payload, dict):
        raise EventInvalid("The body must be a JSON object: one event with an id and a type.")
    event_id, event_type = payload.get("id", default_id), payload.get("type")
    if not isinstance(event_id, str) or not event_id.strip() or len(event_id) > EVENT_ID_MAX:
        raise EventInvalid(f'The event needs an "id": a non-empty string of at most {EVENT_ID_MAX} characters.')
    if not isinstance(event_type, str) or not event_type.strip() or len(event_type) > EVENT_TYPE_MAX:
        raise EventInvalid(f'The event needs a "type": a non-empty string of at most {EVENT_TYPE_MAX} characters.')
    if "data" in payload and not isinstance(payload["data"], dict):
        raise EventInvalid('"data", when sent, must be a JSON object.')
    _check_storable(payload)
    return event_id, event_type, payload


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _check_storable(payload: dict) -> None:
    """Refuse what PostgreSQL's jsonb cannot hold (NUL characters, infinite numbers) or what nests absurdly."""
    stack: list[tuple[object, int]] = [(payload, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_EVENT_DEPTH:
            raise EventInvalid(f"The body is nested more than {MAX_EVENT_DEPTH} levels deep.")
        if isinstance(value, dict):
            stack.extend((key, depth) for key in value)
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str) and "\x00" in value:
            raise EventInvalid("The body contains a NUL character (\\u0000), which cannot be stored.")
        elif isinstance(value, float) and not math.isfinite(value):
            raise EventInvalid("The body contains a number too large to store.")


@transaction.atomic
def _event_store(connection: Connection, event_id: str, event_type: str, payload: dict) -> EventReceipt:
    # get_or_create inserts in a savepoint and, if a concurrent delivery won the unique constraint,
    # reads that row instead: exactly one row per (connection, event id).
    event, created = InboundEvent.objects.get_or_create(
        connection=connection, event_id=event_id, defaults={"event_type": event_type, "payload": payload},
    )
    if not created:
        # A counter, not configuration: QuerySet.update() adds in the database, so no delivery is lost.
        InboundEvent.objects.filter(pk=event.pk).update(deliveries=F("deliveries") + 1)
        event.refresh_from_db(fields=["deliveries", "status", "processed_at"])
    if created or _event_task_lost(event):
        _event_enqueue(event)
    return EventReceipt(event=event, created=created)


def _event_task_lost(event: InboundEvent) -> bool:
    """Unclaimed long after its task should have run (queueing after commit is not durable): queue it again."""
    overdue = timezone.now() - timedelta(seconds=settings.Q_CLUSTER["retry"])
    return event.status == InboundEvent.Status.RECEIVED and event.processed_at is None and event.received_at < overdue


def _event_enqueue(event: InboundEvent) -> None:
    tenant_task_enqueue(db.schema_name, "apps.runs.tasks.inbound_event_process", event.pk)


def inbound_event_process(*, event_id: int) -> InboundEvent | None:
    """Hand a stored event to the handler registered for its type, once, and record the outcome.

    The worker holds the event's advisory lock while it works (a worker that dies frees it at once, with its
    database session), and claims the event by stamping ``processed_at`` on a ``received`` row, so a duplicate
    task does nothing and a re-delivered task of a dead worker takes over at once; ``processed_at`` is stamped
    again when it settles. Returns None when the event is gone, settled, or being processed elsewhere.
    """
    try:
        with advisory_lock(f"inbound-event:{db.schema_name}:{event_id}", wait=False):
            return _event_process(event_id)
    except LockBusy:
        return None


def _event_process(event_id: int) -> InboundEvent | None:
    if not _event_claim(event_id):
        return None
    event = InboundEvent.objects.select_related("connection").get(pk=event_id)
    handler = events.handler_for(event.event_type)
    if handler is None:
        return _event_settle(event, InboundEvent.Status.IGNORED, f"no flow handles {event.event_type} events")
    try:
        # A failing handler leaves nothing half-written; a handled event is settled in the same commit as what it
        # stored, so a worker killed after it (while hub changes go out) never has the event handled again.
        with transaction.atomic():
            handler(event)
            return _event_settle(event, InboundEvent.Status.PROCESSED, "")
    except Exception as error:  # whatever a handler raises is recorded; the event stays for reprocessing
        logger.exception("inbound event %s (%s) failed", event.pk, event.event_type)
        event.refresh_from_db(fields=["status"])
        if event.status == InboundEvent.Status.PROCESSED:  # it was committed; what failed came after
            return event
        return _event_settle(event, InboundEvent.Status.FAILED, str(error) or type(error).__name__)


def inbound_event_process_by_key(*, connection_id: int, event_key: str) -> InboundEvent | None:
    """``inbound_event_process`` for the event a connection sent with id ``event_key``."""
    event = InboundEvent.objects.filter(connection_id=connection_id, event_id=event_key).values_list("pk", flat=True)
    pk = event.first()
    return None if pk is None else inbound_event_process(event_id=pk)


def _event_claim(event_id: int) -> bool:
    # Under the event's lock: a received event is ours, whoever stamped it last (that worker is gone).
    claimable = InboundEvent.objects.filter(pk=event_id, status=InboundEvent.Status.RECEIVED)
    return claimable.update(processed_at=timezone.now()) == 1


def _event_settle(event: InboundEvent, status: str, message: str) -> InboundEvent:
    event.status, event.error_message, event.processed_at = status, message[:2000], timezone.now()
    event.save(update_fields=["status", "error_message", "processed_at"])
    logger.info("inbound event %s (%s): %s %s", event.pk, event.event_type, status, message)
    return event


def inbound_event_reprocess(*, event: InboundEvent, acting_user) -> InboundEvent:
    """Queue a stored event for processing again: after a fix, or once a flow handles its type.

    Failed and ignored events go back to ``received``; a ``received`` one is queued again (its first
    task may have been lost). Processed events are refused: their effects have happened.
    """
    access.check(acting_user, "event.reprocess")
    event.refresh_from_db()
    if event.status == InboundEvent.Status.PROCESSED:
        raise ConflictError(f"Event {event.event_id} was processed already; it is not processed twice.")
    # Operational state, not configuration: QuerySet.update(), conditional so a racing worker is not undone.
    InboundEvent.objects.filter(
        pk=event.pk, status__in=[InboundEvent.Status.FAILED, InboundEvent.Status.IGNORED]
    ).update(status=InboundEvent.Status.RECEIVED, processed_at=None, error_message="")
    logger.info("inbound event %s (%s): reprocessing requested by %s", event.pk, event.event_type, acting_user)
    _event_enqueue(event)
    event.refresh_from_db()
    return event


# --- reference data sent to the API --------------------------------------------------------------
DEFAULT_API_CONNECTION = "api"
_RECORD_REFERENCE = re.compile(r"record (\d+)")


@dataclass(frozen=True)
class BulkResult:
    """A bulk request's run and, in request order, what became of each record."""

    run: Run
    results: list[dict]


def records_bulk_store(*, object_name: str, records: list, connection_slug: str | None = None,
                       acting_user) -> BulkResult:
    """Store many people, customers, projects, assignments or rate cards at once, each as a row of a file would
    be (the door, the hub, the ledger; changes go on to the outbound flows). They are read from an ``api``
    connection: the one named, else this customer's ``api`` connection, made on first use."""
    if object_name not in REFERENCE_OBJECTS:
        raise RecordsRefused(f"Unknown object {object_name!r}; send one of {', '.join(REFERENCE_OBJECTS)}.")
    if len(records) > MAX_RECORDS:
        raise RecordsTooMany(f"At most {MAX_RECORDS} records per request; this one has {len(records)}.")
    access.check(acting_user, "records.store")
    connection = _api_connection(connection_slug)
    kind = connection_kind(connection)
    page = kind.page(object_name, records)
    run = Run.objects.create(connection=connection, object_name=object_name, object_type=OBJECT_TYPES[object_name],
                             trigger=Trigger.MANUAL, status=RunStatus.RUNNING, started_at=timezone.now())
    inbound_page_store(run, kind, page, announce=hub_changed)
    run = run_finish(run)
    logger.info("bulk %s: %s records from %s by %s: %s", object_name, len(records), connection, acting_user,
                run.counts)
    return BulkResult(run=run, results=_bulk_results(run, page, len(records)))


def _api_connection(slug: str | None) -> Connection:
    if slug:
        connection = Connection.objects.filter(slug=slug, kind=ApiRecordsKind.slug, is_enabled=True).first()
        if connection is None:
            raise RecordsRefused(f"No enabled API connection {slug!r}.")
        return connection
    found = Connection.objects.filter(slug=DEFAULT_API_CONNECTION).first()
    if found is not None and (found.kind != ApiRecordsKind.slug or not found.is_enabled):
        raise RecordsRefused(f"The connection {DEFAULT_API_CONNECTION!r} is not an enabled API connection; name "
                             "one with 'connection'.")
    if found is not None:
        return found
    name = "API" if not Connection.objects.filter(name="API").exists() else "Weft API"
    try:
        with transaction.atomic():
            # Made by the system on behalf of a caller already allowed to store records ("records.store"),
            # who need not be allowed to configure connections.
            return connection_create(name=name, slug=DEFAULT_API_CONNECTION, kind=ApiRecordsKind.slug,
                                     acting_user=None, description="Records sent to Weft's API (made on "
                                                                   "first use).")
    except IntegrityError:  # a concurrent first request made it
        return Connection.objects.get(slug=DEFAULT_API_CONNECTION)


def _bulk_results(run: Run, page, count: int) -> list[dict]:
    index_by_key = {record["external_id"]: record["_index"] for record in page.records}
    results: list[dict | None] = [None] * count
    for item in run.items.order_by("pk"):
        index = index_by_key.get(item.external_id)
        if index is None and (reference := _RECORD_REFERENCE.match(item.external_id)):
            index = int(reference.group(1))
        if index is None or index >= count:
            continue
        results[index] = {"index": index, "outcome": item.outcome, "id": _key_of(item),
                          "canonical_id": item.canonical_id, "message": item.error_message,
                          "field": item.error_field}
    return [result for result in results if result is not None]


def _key_of(item: RunItem) -> str:
    """The key a record was (or would have been) stored under; for a refused one, from what it was sent with."""
    if not _RECORD_REFERENCE.fullmatch(item.external_id):
        return item.external_id
    raw = item.payload_before if isinstance(item.payload_before, dict) else {}
    return str(raw.get("external_id") or "")
