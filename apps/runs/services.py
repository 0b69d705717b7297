"""Running reads and flows, writing the ledger, and receiving and processing inbound webhook events."""

from __future__ import annotations

import json
import logging
import math
import re
import time
import zlib
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db import connection as db
from django.db.models import F
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.common.errors import ConflictError, ExternalSystemError
from apps.common.locks import LockBusy, advisory_lock, advisory_xact_lock
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
from apps.runs.models import InboundEvent, InboundStream, Run, RunItem, RunStatus, SyncCursor, Trigger, finished_status
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
# Two statements in one simple-query message (Django's psycopg cursor binds client-side): one round trip, one implicit
# transaction, and the second statement's snapshot is taken once the first has the stream's intake lock (see
# ``_stream_intake_lock``); a lock taken inside the storing statement would come after that statement's snapshot.
_INTAKE_SQL = """SELECT pg_advisory_xact_lock_shared(%(lock_class)s, %(lock_key)s);
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
), fresh AS (
    SELECT FROM {schema}.runs_inboundstream s
     WHERE s.connection_id = %(connection)s AND s.event_type = %(event_type)s
       AND s.dispatch_queued_at >= now() - %(stale)s * interval '1 second'
), turn AS (
    INSERT INTO {schema}.runs_inboundstream AS s (connection_id, event_type, dispatch_queued_at)
    SELECT %(connection)s, %(event_type)s, now() FROM event WHERE NOT EXISTS (SELECT FROM fresh)
    ON CONFLICT (connection_id, event_type) DO UPDATE SET dispatch_queued_at = now()
     WHERE s.dispatch_queued_at IS NULL OR s.dispatch_queued_at < now() - %(stale)s * interval '1 second'
    RETURNING 1
){queue}
SELECT id, EXISTS (SELECT FROM turn){wake} FROM event"""
# The stream's task, written only when the statement above found none waiting (``inbound_stream_dispatch``).
_INTAKE_QUEUE = """, task AS (
    INSERT INTO public.django_q_ormq (key, payload, lock) SELECT %(queue)s, %(task)s, now() FROM turn
)"""
_INTAKE_WAKE = f", (SELECT count(pg_notify('{WAKE_CHANNEL}', '')) FROM turn)"


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
              "customer": route.customer_id, "stale": _stream_dispatch_stale_seconds()}
    params["lock_class"], params["lock_key"] = _stream_intake_lock(route.schema_name, connection_id, event_type)
    package = tenant_task_package(route.schema_name, STREAM_TASK, connection_id, event_type)
    if package is not None:
        params["queue"], params["task"] = package
    schema = db.ops.quote_name(route.schema_name)
    wake = package is not None and _wake_due()
    sql = _INTAKE_SQL.format(schema=schema, queue=_INTAKE_QUEUE if package else "", wake=_INTAKE_WAKE if wake else "")
    stored = _intake_execute(sql, params)
    if stored is None:
        tenant_selectors.firm_route_forget(host)
        _SIGNERS.pop((route.schema_name, connection_slug), None)
        return None
    queued = stored[1]
    if wake and queued:
        _woken()
    if package is None and queued:  # tasks run inline (tests) or through Redis: queue the usual way
        tenant_task_enqueue(route.schema_name, STREAM_TASK, connection_id, event_type)
    return route.schema_name, event_id


def _wake_due() -> bool:
    """Whether this event should announce the task it queues, if it queues one (most events of a busy stream do not:
    its task is waiting already). NOTIFY takes a lock every notifying commit waits for, so a process
    announces at most once per ``_WAKE_EVERY``: at a few events a second each one wakes the cluster at once; in a
    burst the cluster is awake anyway and takes the rest with its next look at the queue (at worst after `poll`)."""
    return time.monotonic() - _last_wake >= _WAKE_EVERY


def _woken() -> None:
    """This process just announced a queued task (only an event that queued one announces it)."""
    global _last_wake
    _last_wake = time.monotonic()


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


def _intake_execute(sql: str, params: dict) -> tuple[int, bool] | None:
    """Run the intake's message (the stream's lock, then the storing statement) on the request's connection, bypassing
    the tenant ``SET search_path`` (every name in it carries its schema). Any database refusal leaves the decision to
    the full path."""
    db.ensure_connection()

    def execute():
        with db.connection.cursor() as cursor:
            cursor.execute(sql, params)
            cursor.nextset()  # past the lock's result to the stored event's
            return cursor.fetchone()

    try:
        if db.in_atomic_block:  # inside a transaction (tests, a caller's atomic): a savepoint keeps it usable
            with transaction.atomic():
                row = execute()
        else:  # one message, its own implicit transaction: no BEGIN, no COMMIT round trips
            row = execute()
    except DatabaseError:
        logger.warning("webhook intake: the one-statement path failed; the full path answers", exc_info=True)
        return None
    return (row[0], row[1]) if row else None


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
    if created:
        inbound_stream_dispatch(connection_id=connection.pk, event_type=event_type)
    elif _event_task_lost(event):
        _event_enqueue(event)
    return EventReceipt(event=event, created=created)


def _event_task_lost(event: InboundEvent) -> bool:
    """Unclaimed long after its task should have run (queueing after commit is not durable): queue it again."""
    overdue = timezone.now() - timedelta(seconds=settings.Q_CLUSTER["retry"])
    return event.status == InboundEvent.Status.RECEIVED and event.processed_at is None and event.received_at < overdue


def _event_enqueue(event: InboundEvent) -> None:
    tenant_task_enqueue(db.schema_name, "apps.runs.tasks.inbound_event_process", event.pk)


# --- one task per stream, not per event ------------------------------------------------------------------------
STREAM_TASK = "apps.runs.tasks.inbound_stream_process"
STREAM_TASK_SECONDS = 10.0  # a stream's task works this long at most, then queues the rest behind other work
# The stream's intake lock: a transaction advisory lock, in PostgreSQL's lock manager, so deliveries holding it side by
# side write nothing to the stream's row (a shared row lock takes a MultiXact per concurrent holder and rewrites the
# tuple header). Two-key locks with this negative class cannot meet Weft's other two-key locks (their first key, a
# connection id or a 31-bit crc, is never negative) nor any one-key lock (a separate key space in PostgreSQL). Two
# streams whose keys collide (a 32-bit crc) share it: a task's clear then also waits for the other stream's
# deliveries, which is harmless.
_STREAM_INTAKE_LOCK_CLASS = -0x5745_4654  # "WEFT", negated
_STREAM_DISPATCH_SQL = """
WITH fresh AS (
    SELECT FROM runs_inboundstream
     WHERE connection_id = %(connection)s AND event_type = %(event_type)s
       AND dispatch_queued_at >= now() - %(stale)s * interval '1 second'
)
INSERT INTO runs_inboundstream AS s (connection_id, event_type, dispatch_queued_at)
SELECT %(connection)s, %(event_type)s, now() WHERE NOT EXISTS (SELECT FROM fresh)
ON CONFLICT (connection_id, event_type) DO UPDATE SET dispatch_queued_at = now()
 WHERE s.dispatch_queued_at IS NULL OR s.dispatch_queued_at < now() - %(stale)s * interval '1 second'
RETURNING 1"""


def _stream_intake_lock(schema_name: str, connection_id: int, event_type: str) -> tuple[int, int]:
    """The two int4 keys of a stream's intake lock. A delivery holds it shared from before the statement that reads the
    stream's stamp until its event commits; the stream's task holds it exclusively while it clears the stamp."""
    key = zlib.crc32(f"{schema_name}:{connection_id}:{event_type}".encode())
    return _STREAM_INTAKE_LOCK_CLASS, (key - (1 << 32) if key >= 1 << 31 else key)  # as a signed int4


def inbound_stream_dispatch(*, connection_id: int, event_type: str) -> bool:
    """Queue the task that processes a stream's (a connection's, one event type's) stored events, unless one is queued
    and not yet started; True if this queued it. The webhook intake's statements do the same in SQL.

    First the stream's intake lock, shared, held until this transaction commits (deliveries do not wait for one
    another); then, in a statement of its own, so its snapshot is taken after the lock is granted, the stamp is read
    and, if it is empty or stale, set (the row's exclusive lock only then: ON CONFLICT takes it even when it changes
    nothing). The task clears the stamp under the same lock, exclusive, before it looks for events, so either the
    clear waits for this commit and the task's look sees this event, or this waited for the clear and sees the stamp
    empty and queues a task: an event stored with no new task is always seen by the waiting task's look.
    A stamp older than ``WEFT_Q_RETRY`` seconds is not trusted (its task may have been lost with a Redis queue or
    an inline enqueue): the next event queues another task, and a duplicate task does no harm."""
    params = {"connection": connection_id, "event_type": event_type, "stale": _stream_dispatch_stale_seconds()}
    with transaction.atomic(savepoint=False), db.cursor() as cursor:  # the lock lasts until the caller's commit
        cursor.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)",
                       _stream_intake_lock(db.schema_name, connection_id, event_type))
        cursor.execute(_STREAM_DISPATCH_SQL, params)
        queued = cursor.fetchone() is not None
    if queued:
        tenant_task_enqueue(db.schema_name, STREAM_TASK, connection_id, event_type)
    return queued


def _stream_clear(connection_id: int, event_type: str) -> None:
    """Mark the stream as having no task waiting, in a commit of its own, once every delivery that may have seen its
    stamp has committed (the intake lock, exclusive); a delivery from then on waits for this commit and sees it."""
    with transaction.atomic(), db.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)",
                       _stream_intake_lock(db.schema_name, connection_id, event_type))
        InboundStream.objects.filter(connection_id=connection_id, event_type=event_type).update(dispatch_queued_at=None)


def _stream_dispatch_stale_seconds() -> int:
    return settings.Q_CLUSTER["retry"]


def inbound_stream_process(*, connection_id: int, event_type: str) -> int:
    """The stream's task: process every event of the stream still ``received``, oldest first (each through
    ``inbound_event_process``, which takes the ones waiting behind it along in a batch); returns how many it settled.

    It first marks the stream as having no task waiting, in its own commit, so an event stored from then on queues
    the next task (which may run beside this one: the event locks and claims keep them apart). Past
    ``STREAM_TASK_SECONDS`` it queues the stream again and stops, so a long backlog takes turns with other work."""
    _stream_clear(connection_id, event_type)
    deadline, after, settled = time.monotonic() + STREAM_TASK_SECONDS, 0, 0
    while (pk := _stream_next_event(connection_id, event_type, after)) is not None:
        settled += inbound_event_process(event_id=pk) is not None
        after = pk
        if time.monotonic() > deadline:
            inbound_stream_dispatch(connection_id=connection_id, event_type=event_type)
            break
    return settled


def _stream_next_event(connection_id: int, event_type: str, after: int) -> int | None:
    """The oldest event of the stream after ``after`` that is still to be processed (one a dead worker had claimed
    too: ``inbound_event_process`` takes it over, or leaves it to a live worker holding it)."""
    return InboundEvent.objects.filter(
        connection_id=connection_id, event_type=event_type, status=InboundEvent.Status.RECEIVED, pk__gt=after,
    ).order_by("pk").values_list("pk", flat=True).first()


def inbound_event_process(*, event_id: int) -> InboundEvent | None:
    """Hand a stored event to the handler registered for its type, once, and record the outcome.

    The worker holds the event's advisory lock while it works (a worker that dies frees it at once, with its
    database session), and claims the event by stamping ``processed_at`` on a ``received`` row, in the transaction
    that handles it, so a duplicate task does nothing and a re-delivered task of a dead worker takes over at once;
    ``processed_at`` is stamped again when it settles. Returns None when the event is gone, settled, or being
    processed elsewhere.
    """
    try:
        with advisory_lock(f"inbound-event:{db.schema_name}:{event_id}", wait=False):
            return _event_process(event_id)
    except LockBusy:
        return None


def _event_process(event_id: int) -> InboundEvent | None:
    event = InboundEvent.objects.select_related("connection").filter(
        pk=event_id, status=InboundEvent.Status.RECEIVED).first()
    if event is None:
        return None
    handler = events.handler_for(event.event_type)
    if handler is None:
        return _event_settle(event, InboundEvent.Status.IGNORED, f"no flow handles {event.event_type} events") \
            if _event_claim(event_id) else None
    try:
        # A failing handler leaves nothing half-written; a handled event is settled in the same commit as what it
        # stored, so a worker killed after it (while hub changes go out) never has the event handled again.
        with transaction.atomic():
            batch = events.batch_handler_for(event.event_type)
            if batch is not None and _event_gather_left(event) > 0:
                _event_stream_turn(event)
            if not _event_claim(event_id):  # the worker whose turn came before took it along
                return None
            if batch is None or not _event_process_with_waiting(event, batch):
                handler(event)
            return _event_settle(event, InboundEvent.Status.PROCESSED, "")
    except Exception as error:  # whatever a handler raises is recorded; the event stays for reprocessing
        logger.exception("inbound event %s (%s) failed", event.pk, event.event_type)
        event.refresh_from_db(fields=["status"])
        if event.status == InboundEvent.Status.PROCESSED:  # it was committed; what failed came after
            return event
        return _event_settle(event, InboundEvent.Status.FAILED, str(error) or type(error).__name__)


# How many events of a stream one worker takes together (they become one page, and one write to the target).
EVENT_BATCH = 100
GATHER_POLL_SECONDS = 0.05  # how often a gathering worker counts the events waiting behind its own


def _event_stream_turn(event: InboundEvent) -> None:
    """Wait for any worker gathering or storing this event's stream (its connection and type) to commit; the lock is
    held until this transaction commits, before the hub changes go out, so posting does not hold the stream.

    Taken before the claim, so an event that arrives while another worker gathers is left to that worker rather
    than claimed away from its batch: its own task, once it has the turn, finds it processed. Only events still
    within their window take it: in a backlog every event is older, and workers take disjoint batches side by side
    (``SKIP LOCKED``) as they did before there was a window."""
    advisory_xact_lock(f"inbound-stream:{db.schema_name}:{event.connection_id}:{event.event_type}")


def _event_waiting(event: InboundEvent):
    """The events of ``event``'s stream that arrived after it and no worker has taken yet, oldest first."""
    return InboundEvent.objects.filter(
        connection_id=event.connection_id, event_type=event.event_type, status=InboundEvent.Status.RECEIVED,
        processed_at__isnull=True, pk__gt=event.pk).order_by("pk")


def _event_gather_left(event: InboundEvent) -> float:
    """Seconds left of ``event``'s gathering window (0 or less: none), never more than the window itself, even if
    the web host's clock and this one's disagree."""
    window = settings.WEFT_EVENT_GATHER_SECONDS
    if window <= 0:
        return 0.0
    return min(window, (event.received_at + timedelta(seconds=window) - timezone.now()).total_seconds())


def _event_gather(event: InboundEvent) -> None:
    """Wait until ``WEFT_EVENT_GATHER_SECONDS`` after ``event`` was received, or until ``WEFT_EVENT_GATHER_COUNT``
    events of its stream wait, whichever is first: on a quiet stream each event would otherwise go to the target
    alone. An event that already waited that long in the queue (the cluster is busy) does not wait again."""
    left = _event_gather_left(event)
    if left <= 0:
        return
    deadline = time.monotonic() + left
    enough = settings.WEFT_EVENT_GATHER_COUNT - 1
    while (now := time.monotonic()) < deadline and _event_waiting(event)[:enough].count() < enough:
        time.sleep(min(GATHER_POLL_SECONDS, deadline - now))


def _event_process_with_waiting(event: InboundEvent, batch: events.BatchHandler) -> bool:
    """Handle ``event`` together with the events of its connection and type that arrive behind it within the
    gathering window (``_event_gather``), unclaimed; True if that was done. Those events are locked (``SKIP
    LOCKED``: none another worker is settling) and settled as processed in the caller's transaction, so their own
    tasks find them done; should the batch fail, nothing of it stays and ``event`` is handled alone (the others by
    their own tasks)."""
    _event_gather(event)
    waiting = list(_event_waiting(event).select_for_update(skip_locked=True)[:EVENT_BATCH - 1])
    if not waiting:
        return False
    try:
        with transaction.atomic():
            handled = batch([event, *waiting])
            others = [other.pk for other in handled if other.pk != event.pk]
            # Operational fields of the events handled alongside: one UPDATE, in the transaction that stored them.
            InboundEvent.objects.filter(pk__in=others).update(
                status=InboundEvent.Status.PROCESSED, processed_at=timezone.now(), error_message="")
    except Exception:  # a batch that fails leaves nothing; the event is handled alone, which records why
        logger.exception("inbound events %s.. (%s) failed as a batch", event.pk, event.event_type)
        return False
    logger.info("inbound events %s (%s): processed with %d waiting", event.pk, event.event_type, len(others))
    return True


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
