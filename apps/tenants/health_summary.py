"""The public-schema health summary of each customer, and the SLA judgement made from it.

The partner overview reads ``CustomerHealth`` only. Rows are written here from figures computed inside
the customer's schema (by ``apps.reporting.tasks.reporting_refresh`` after each run's figures are stored, and
``customer_health_refresh`` on a schedule); ``stale`` says figures changed since the row was computed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from apps.tenants.choices import SlaStatus
from apps.tenants.models import Customer, CustomerHealth

# A flow without a good run for this long breaches the SLA; for half of it, the SLA is at risk.
SYNC_BREACH_AFTER = timedelta(hours=24)
# Open exceptions older than this breach the SLA (the partner's promise to look at failures within a day).
EXCEPTION_BREACH_AFTER = timedelta(hours=24)


@dataclass
class HealthFigures:
    """What one customer's schema says about its health, in the units the summary table keeps."""

    open_exceptions: int = 0
    oldest_open_exception_at: datetime | None = None
    money_at_risk: Decimal = Decimal("0")
    money_at_risk_currency: str = ""
    unposted_hours: Decimal = Decimal("0")
    unposted_value: Decimal = Decimal("0")
    unposted_currency: str = ""
    # Every currency (currency → amount): the single figures above are the largest currency's, for sorting.
    money_at_risk_by_currency: dict[str, Decimal] = field(default_factory=dict)
    unposted_value_by_currency: dict[str, Decimal] = field(default_factory=dict)
    failed_runs_24h: int = 0
    # Per flow (JSON-safe): slug, name, enabled, scheduled, every_minutes, created_at, last_status,
    # last_run_at, last_success_at (times as ISO strings).
    flows: list[dict] = field(default_factory=list)


def sla_assess(figures: HealthFigures, *, now: datetime | None = None) -> tuple[str, str]:
    """(status, reason): breached, at risk, on track, or not measured when no scheduled flow is enabled.

    Freshness counts scheduled flows only (event-driven flows are quiet when nothing changes): a flow
    breaches when its last good run (or its creation, if it never ran) is older than the larger of
    ``SYNC_BREACH_AFTER`` and two of its intervals, and is at risk at half that.
    """
    now = now or timezone.now()
    scheduled = [f for f in figures.flows if f.get("enabled", True) and f.get("scheduled", True)]
    if not scheduled and not figures.flows:
        return SlaStatus.UNKNOWN, "No flows yet."
    worst = max((_lag_share(f, now) for f in scheduled), default=(0.0, "", timedelta(0)))
    share, laggard, lag = worst
    oldest = figures.oldest_open_exception_at
    if share >= 1:
        return SlaStatus.BREACHED, f"{laggard}: no successful run for {_hours(lag)}."
    if oldest is not None and now - oldest >= EXCEPTION_BREACH_AFTER:
        return SlaStatus.BREACHED, f"An exception has been open for {_hours(now - oldest)}."
    if share >= 0.5:
        return SlaStatus.AT_RISK, f"{laggard}: no successful run for {_hours(lag)}."
    if figures.open_exceptions or figures.failed_runs_24h:
        return SlaStatus.AT_RISK, (f"{figures.open_exceptions} open exception(s), "
                                   f"{figures.failed_runs_24h} failed run(s) in 24 h.")
    return SlaStatus.OK, "Scheduled flows synced recently; nothing open."


def _lag_share(flow: dict, now: datetime) -> tuple[float, str, timedelta]:
    """How far into its breach window a flow is (1.0 = breached), its name and its lag."""
    since = _when(flow.get("last_success_at")) or _when(flow.get("created_at")) or now
    every = timedelta(minutes=flow.get("every_minutes") or 24 * 60)
    lag = max(now - since, timedelta(0))
    return lag / max(SYNC_BREACH_AFTER, 2 * every), flow.get("name", ""), lag


def health_store(*, customer: Customer, figures: HealthFigures, now: datetime | None = None) -> CustomerHealth:
    """Write the customer's summary row (operational: no history)."""
    now = now or timezone.now()
    status, reason = sla_assess(figures, now=now)
    successes = [_when(f.get("last_success_at")) for f in figures.flows
                 if f.get("enabled", True) and f.get("scheduled", True)]
    defaults = {
        "open_exceptions": figures.open_exceptions, "money_at_risk": figures.money_at_risk,
        "money_at_risk_currency": figures.money_at_risk_currency, "unposted_hours": figures.unposted_hours,
        "unposted_value": figures.unposted_value, "unposted_currency": figures.unposted_currency,
        "money_at_risk_amounts": _amounts(figures.money_at_risk_by_currency),
        "unposted_values": _amounts(figures.unposted_value_by_currency),
        "failed_runs_24h": figures.failed_runs_24h, "flows": figures.flows,
        "last_good_sync_at": None if not successes or None in successes else min(successes),
        "sla_status": status, "sla_reason": reason[:255], "computed_at": now,
    }
    health, _ = CustomerHealth.objects.update_or_create(customer=customer, defaults=defaults)
    return health


def health_mark_stale(*, customer_id: int) -> bool:
    """Note that the customer's figures changed; True if no refresh was queued yet (so queue one)."""
    CustomerHealth.objects.get_or_create(customer_id=customer_id)
    return bool(CustomerHealth.objects.filter(customer_id=customer_id, stale=False).update(stale=True))


def health_claim(*, customer_id: int) -> None:
    """A refresh starts: clear the flag first, so a run finishing meanwhile queues another refresh."""
    CustomerHealth.objects.filter(customer_id=customer_id, stale=True).update(stale=False)


def _amounts(by_currency: dict[str, Decimal]) -> dict[str, str]:
    """JSON-safe, exact, largest first (the order pages show them in)."""
    ordered = sorted(by_currency.items(), key=lambda kv: (-kv[1], kv[0]))
    return {currency: f"{Decimal(amount):.2f}" for currency, amount in ordered if amount}


def _when(value) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.0f} days"
