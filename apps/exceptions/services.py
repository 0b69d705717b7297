"""Triage: assign, acknowledge, comment, resolve, ignore, reopen — one at a time or in bulk.

Every change locks the exception's row (``select_for_update``), applies itself to the fresh row and
saves only the fields it changes, so two people working the same exception at once both keep their
change; each change is a history row naming the person and the reason. Comments are rows of their own.
Who may do what: the ``exception.*`` actions of ``apps.tenants.access``; each service asks before it acts
(``acting_user=None`` is the system: escalation, monitors, the engine).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, F, Sum
from django.utils import timezone

from apps.common.history import save_attributed
from apps.exceptions import classify, webhooks
from apps.exceptions.choices import ACTIVE_STATUSES, DEFAULT_SEVERITY, Severity, Source, Status
from apps.exceptions.errors import TriageRefused, owner_refused
from apps.exceptions.models import EscalationPolicy, ExceptionComment, ExceptionRecord, IntegrationException
from apps.tenants import access
from apps.tenants.models import Customer, User


def current_customer() -> Customer | None:
    """The customer whose schema is active (requests and tasks alike)."""
    return access.current_customer()


def _locked(exception: IntegrationException) -> IntegrationException:
    return IntegrationException.objects.select_for_update().get(pk=exception.pk)


def _save(exception: IntegrationException, fields: list[str], *, acting_user, reason: str) -> IntegrationException:
    exception._history_user = acting_user
    exception._change_reason = reason
    exception.save(update_fields=[*fields, "updated_at"])
    return exception


@transaction.atomic
def exception_assign(*, exception: IntegrationException, owner: User | None, acting_user,
                     customer: Customer | None = None) -> IntegrationException:
    """Give the exception to ``owner`` (None: nobody). The owner must be able to see this customer."""
    access.check(acting_user, "exception.assign", customer=customer)
    if owner is not None and customer is not None and not access.can(owner, "customer.view", customer=customer):
        raise owner_refused(owner.get_username())
    exception = _locked(exception)
    if exception.owner_id == (owner.pk if owner else None):
        return exception
    exception.owner = owner
    reason = f"Assigned to {owner.get_username()}" if owner else "Unassigned"
    return _save(exception, ["owner"], acting_user=acting_user, reason=reason)


@transaction.atomic
def exception_acknowledge(*, exception: IntegrationException, acting_user, now: datetime | None = None
                          ) -> IntegrationException:
    """Someone knows and is on it: escalation rules for open exceptions stop firing."""
    access.check(acting_user, "exception.acknowledge")
    exception = _locked(exception)
    if exception.status == Status.ACKNOWLEDGED:
        return exception
    if exception.status != Status.OPEN:
        raise TriageRefused(f"Only open exceptions can be acknowledged; this one is {exception.get_status_display()}.")
    exception.status, exception.acknowledged_at = Status.ACKNOWLEDGED, now or timezone.now()
    return _save(exception, ["status", "acknowledged_at"], acting_user=acting_user, reason="Acknowledged")


@transaction.atomic
def exception_resolve(*, exception: IntegrationException, acting_user, reason: str = "",
                      now: datetime | None = None) -> IntegrationException:
    """Mark it fixed. Its records count as cleared: if one fails again, the exception reopens."""
    access.check(acting_user, "exception.resolve")
    now = now or timezone.now()
    exception = _locked(exception)
    if exception.status == Status.RESOLVED:
        return exception
    ExceptionRecord.objects.filter(exception=exception, is_open=True).update(is_open=False, cleared_at=now,
                                                                             cleared_by="person")
    exception.status, exception.resolved_at, exception.status_reason = Status.RESOLVED, now, reason.strip()
    exception.open_records = 0
    exception = _save(exception, ["status", "resolved_at", "status_reason", "open_records"], acting_user=acting_user,
                      reason=f"Resolved: {reason.strip()}" if reason.strip() else "Resolved")
    _announce(exception, "exception.resolved")
    return exception


@transaction.atomic
def exception_ignore(*, exception: IntegrationException, acting_user, reason: str) -> IntegrationException:
    """Stop treating it as work; new occurrences still count but do not reopen it. A reason is required."""
    access.check(acting_user, "exception.ignore")
    if not reason or not reason.strip():
        raise TriageRefused("Say why the exception is ignored.")
    exception = _locked(exception)
    exception.status, exception.status_reason = Status.IGNORED, reason.strip()
    return _save(exception, ["status", "status_reason"], acting_user=acting_user, reason=f"Ignored: {reason.strip()}")


@transaction.atomic
def exception_reopen(*, exception: IntegrationException, acting_user, reason: str = "",
                     now: datetime | None = None) -> IntegrationException:
    access.check(acting_user, "exception.reopen")
    exception = _locked(exception)
    if exception.status in ACTIVE_STATUSES:
        return exception
    _start_cycle(exception, now or timezone.now())
    exception = _save(exception, ["status", "cycle", "opened_at", "resolved_at", "acknowledged_at", "status_reason"],
                      acting_user=acting_user, reason=f"Reopened: {reason}" if reason else "Reopened")
    _announce(exception, "exception.opened")
    return exception


@transaction.atomic
def exception_set_severity(*, exception: IntegrationException, severity: int, acting_user,
                           reason: str = "") -> IntegrationException:
    access.check(acting_user, "exception.severity")
    exception = _locked(exception)
    if exception.severity == severity:
        return exception
    exception.severity = Severity(severity)
    return _save(exception, ["severity"], acting_user=acting_user,
                 reason=reason or f"Severity set to {exception.get_severity_display()}")


def exception_comment(*, exception: IntegrationException, body: str, acting_user) -> ExceptionComment:
    access.check(acting_user, "exception.comment")
    body = (body or "").strip()
    if not body:
        raise TriageRefused("A comment needs some text.")
    return ExceptionComment.objects.create(exception=exception, author=acting_user, body=body[:10000])


def _start_cycle(exception: IntegrationException, now: datetime) -> None:
    exception.status, exception.cycle, exception.opened_at = Status.OPEN, exception.cycle + 1, now
    exception.resolved_at = exception.acknowledged_at = None
    exception.status_reason = ""


@transaction.atomic
def status_change_system(*, exception: IntegrationException, status: str, reason: str, now: datetime
                         ) -> IntegrationException:
    """The system resolves (every record succeeded, a monitor's condition cleared) or reopens an exception."""
    exception = _locked(exception)
    if exception.status == status:
        return exception
    if status == Status.OPEN:
        _start_cycle(exception, now)
        fields = ["status", "cycle", "opened_at", "resolved_at", "acknowledged_at", "status_reason"]
    else:
        exception.status, exception.resolved_at, exception.status_reason = status, now, reason
        fields = ["status", "resolved_at", "status_reason"]
    exception = _save(exception, fields, acting_user=None, reason=reason)
    if status in (Status.OPEN, Status.RESOLVED):
        _announce(exception, "exception.opened" if status == Status.OPEN else "exception.resolved")
    return exception


def _announce(exception: IntegrationException, event_type: str, **extra) -> None:
    """Tell subscribed endpoints (``apps.exceptions.webhooks``); deliveries are rows, sent after commit."""
    webhooks.event_publish(event_type=event_type, data=webhooks.exception_event(exception, **extra))


# --- bulk ------------------------------------------------------------------------------------------
BULK_ACTIONS = {
    "acknowledge": lambda e, user, params: exception_acknowledge(exception=e, acting_user=user),
    "resolve": lambda e, user, params: exception_resolve(exception=e, acting_user=user,
                                                         reason=params.get("reason", "")),
    "ignore": lambda e, user, params: exception_ignore(exception=e, acting_user=user, reason=params.get("reason", "")),
    "assign": lambda e, user, params: exception_assign(exception=e, owner=params.get("owner"), acting_user=user,
                                                       customer=params.get("customer")),
    "reopen": lambda e, user, params: exception_reopen(exception=e, acting_user=user),
}


@dataclass
class BulkResult:
    done: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)


def exceptions_bulk(*, exceptions, action: str, acting_user, **params) -> BulkResult:
    """Apply one triage action to many exceptions; each is its own transaction, refusals are reported."""
    if action not in BULK_ACTIONS:
        raise TriageRefused(f"Unknown action {action!r}; one of {', '.join(BULK_ACTIONS)}.")
    access.check(acting_user, f"exception.{action}")
    result = BulkResult()
    for exception in exceptions:
        try:
            BULK_ACTIONS[action](exception, acting_user, params)
        except TriageRefused as refusal:
            result.refused[exception.pk] = refusal.message
        else:
            result.done.append(exception.pk)
    return result


# --- raised by monitors and reconciliation -----------------------------------------------------------
@dataclass
class RecordAtRisk:
    key: str
    context: dict = field(default_factory=dict)
    hours: object = None
    amount: object = None
    currency: str = ""


@transaction.atomic
def exception_raise(*, kind: str, message: str, scope: str, source: str = Source.MONITOR, connection_id=None,
                    flow_id=None, object_type: str = "", severity: int | None = None,
                    records: list[RecordAtRisk] | None = None, fingerprint_text: str | None = None,
                    now: datetime | None = None) -> IntegrationException:
    """Raise (or count again) an exception that no ledger item carries: a monitor's finding, a
    reconciliation mismatch. ``scope`` names what it is about: one exception per scope and message (or
    per scope and ``fingerprint_text``, when the message carries figures that change every time)."""
    now = now or timezone.now()
    sig = classify.signature(kind=kind, message=fingerprint_text or message, flow_id=flow_id,
                             connection_id=connection_id, object_type=object_type, error_field="", scope=scope)
    exception, created = IntegrationException.objects.get_or_create(fingerprint=sig.fingerprint, defaults={
        "kind": kind, "source": source, "title": message[:300], "message": message[:4000],
        "flow_id": flow_id,
        "connection_id": connection_id, "object_type": object_type, "first_seen": now, "last_seen": now,
        "opened_at": now, "severity": severity or DEFAULT_SEVERITY.get(kind, Severity.MEDIUM),
        "occurrences": 0})
    for record in records or [RecordAtRisk(key=scope)]:
        ExceptionRecord.objects.update_or_create(exception=exception, record_key=record.key[:255], defaults={
            "is_open": True, "last_seen": now, "context": record.context, "hours": record.hours,
            "amount": record.amount, "currency": record.currency[:3]}, create_defaults={
            "is_open": True, "first_seen": now, "last_seen": now, "context": record.context, "hours": record.hours,
            "amount": record.amount, "currency": record.currency[:3]})
    IntegrationException.objects.filter(pk=exception.pk).update(occurrences=F("occurrences") + 1, last_seen=now,
                                                                 message=message[:4000], title=message[:300])
    exception_refresh(exception_id=exception.pk, now=now)
    exception.refresh_from_db()
    if exception.status == Status.RESOLVED:
        exception = status_change_system(exception=exception, status=Status.OPEN, now=now,
                                         reason="Reopened by the system: the condition is back.")
    return exception


def exception_clear(*, exception: IntegrationException, reason: str, now: datetime | None = None
                    ) -> IntegrationException:
    """A monitor's condition is gone: its records clear and the exception resolves (attributed to the system)."""
    now = now or timezone.now()
    ExceptionRecord.objects.filter(exception=exception, is_open=True).update(is_open=False, cleared_at=now,
                                                                             cleared_by="monitor")
    exception_refresh(exception_id=exception.pk, now=now)
    if exception.status in ACTIVE_STATUSES:
        return status_change_system(exception=exception, status=Status.RESOLVED, reason=reason, now=now)
    return exception


# --- totals and the status that follows from them ----------------------------------------------------
def exception_refresh(*, exception_id: int, now: datetime | None = None) -> IntegrationException:
    """Recount what is open and at risk; resolve when no record still fails, reopen when one fails again."""
    now = now or timezone.now()
    had_records = IntegrationException.objects.filter(pk=exception_id, records_total__gt=0).exists()
    records = ExceptionRecord.objects.filter(exception_id=exception_id)
    open_records = records.filter(is_open=True)
    totals = open_records.aggregate(n=Count("pk"), hours=Sum("hours"))
    amounts = {row["currency"] or "": row["total"] for row in open_records.exclude(amount=None)
               .values("currency").annotate(total=Sum("amount"))}
    currency, amount = max(amounts.items(), key=lambda kv: kv[1], default=("", Decimal("0")))
    labels = _labels(records)
    IntegrationException.objects.filter(pk=exception_id).update(
        open_records=totals["n"], records_total=records.count(), hours_at_risk=totals["hours"] or 0,
        amount_at_risk=amount, currency=currency[:3], amounts={k: str(v) for k, v in amounts.items()}, **labels)
    exception = _settle(exception_id, has_open=bool(totals["n"]), now=now)
    if not had_records and exception.records_total and exception.status == Status.OPEN:
        _announce(exception, "exception.opened")  # a new exception (a reopened one is announced as it reopens)
    return exception


def _labels(records) -> dict:
    contexts = list(records.order_by("-last_seen").values_list("context", flat=True)[:500])
    days = sorted({c.get("date") for c in contexts if c.get("date")})

    def distinct(key: str) -> list[str]:
        return sorted({c.get(key) for c in contexts if c.get(key)})[:50]

    return {"customers": distinct("customer"), "projects": distinct("project"), "people": distinct("person"),
            "period_start": days[0] if days else None, "period_end": days[-1] if days else None}


def _settle(exception_id: int, *, has_open: bool, now: datetime) -> IntegrationException:
    exception = IntegrationException.objects.get(pk=exception_id)
    if exception.source == Source.MONITOR:
        return exception  # monitors settle their own exceptions when the condition clears
    if not has_open and exception.status in ACTIVE_STATUSES:
        return status_change_system(exception=exception, status=Status.RESOLVED, now=now,
                                    reason="Resolved by the system: every record has succeeded since.")
    if has_open and exception.status == Status.RESOLVED:
        return status_change_system(exception=exception, status=Status.OPEN, now=now,
                                    reason=f"Reopened by the system: {exception.open_records} record(s) failed again.")
    return exception


# --- escalation policies (configuration: history rows name the person and the reason) ---------------------
POLICY_FIELDS = ("name", "is_active", "rules", "email_recipients", "notify_owner", "webhook_url",
                 "webhook_allow_private_network", "quiet_start", "quiet_end", "timezone")


@transaction.atomic
def escalation_policy_create(*, acting_user, reason: str = "", **values) -> EscalationPolicy:
    """A customer's own escalation policy (the first active one applies); every field is checked first."""
    access.check(acting_user, "configuration.change")
    policy = EscalationPolicy(**{k: v for k, v in values.items() if k in POLICY_FIELDS})
    return save_attributed(policy, acting_user=acting_user, reason=reason or "Escalation policy created")


@transaction.atomic
def escalation_policy_update(*, policy: EscalationPolicy, acting_user, reason: str = "", **values
                             ) -> EscalationPolicy:
    """Change the given fields only; the whole policy is checked again before it is saved."""
    access.check(acting_user, "configuration.change")
    policy = EscalationPolicy.objects.select_for_update().get(pk=policy.pk)
    for name, value in values.items():
        if name in POLICY_FIELDS:
            setattr(policy, name, value)
    return save_attributed(policy, acting_user=acting_user, reason=reason or "Escalation policy edited")


@transaction.atomic
def escalation_policy_delete(*, policy: EscalationPolicy, acting_user, reason: str = "") -> None:
    """Remove the policy (its history keeps it); the partner's default applies again if no other is active."""
    access.check(acting_user, "configuration.change")
    policy._history_user, policy._change_reason = acting_user, reason or "Escalation policy deleted"
    policy.delete()
