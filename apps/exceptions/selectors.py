"""Reads of exceptions shared by the admin console, the API and reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Min, Q, QuerySet
from django.utils import timezone

from apps.exceptions.choices import Status
from apps.exceptions.models import IntegrationException


@dataclass
class ExceptionFilter:
    """Every filter is optional; ``owner`` is a user id, ``"me"`` (with ``user``) or ``"none"``."""

    kind: str | None = None
    status: str | None = None
    owner: str | None = None
    min_age_hours: float | None = None
    project: str | None = None
    customer: str | None = None
    min_amount: Decimal | None = None
    min_severity: int | None = None
    flow: str | None = None
    search: str | None = None


def exceptions_list(*, filters: ExceptionFilter | None = None, user=None, now: datetime | None = None
                    ) -> QuerySet[IntegrationException]:
    """Exceptions, worst and newest first, with owner, flow and connection loaded."""
    f = filters or ExceptionFilter()
    queryset = IntegrationException.objects.select_related("owner", "flow", "connection")
    plain = {"kind__in": _many(f.kind), "status__in": _many(f.status), "flow__slug": f.flow,
             "amount_at_risk__gte": f.min_amount, "severity__gte": f.min_severity}
    queryset = queryset.filter(**{k: v for k, v in plain.items() if v not in (None, [])})
    if f.owner == "me" and user is not None:
        queryset = queryset.filter(owner=user)
    elif f.owner == "none":
        queryset = queryset.filter(owner__isnull=True)
    elif f.owner:
        queryset = queryset.filter(owner_id=f.owner) if str(f.owner).isdigit() else queryset.filter(
            owner__username=f.owner)
    if f.min_age_hours is not None:
        queryset = queryset.filter(opened_at__lte=(now or timezone.now()) - timedelta(hours=f.min_age_hours))
    if f.project:
        queryset = queryset.filter(projects__contains=[f.project])
    if f.customer:
        queryset = queryset.filter(customers__contains=[f.customer])
    if f.search:
        queryset = queryset.filter(Q(title__icontains=f.search) | Q(message__icontains=f.search)
                                   | Q(projects__icontains=f.search) | Q(customers__icontains=f.search))
    return queryset.order_by("-severity", "-last_seen")


def _many(value: str | None) -> list[str] | None:
    return [v for v in value.split(",") if v] if value else None


def exception_detail(*, pk: int) -> IntegrationException | None:
    return (IntegrationException.objects.select_related("owner", "flow", "connection")
            .prefetch_related("comments__author").filter(pk=pk).first())


def exception_history(exception: IntegrationException, limit: int = 100) -> list[dict]:
    """Who changed what, newest first (triage and the system's own resolves and reopens)."""
    rows = exception.history.select_related("history_user").order_by("-history_date")[:limit]
    return [{"at": r.history_date, "by": r.history_user.get_username() if r.history_user else "system",
             "reason": r.history_change_reason or ("raised" if r.history_type == "+" else ""), "status": r.status,
             "severity": r.severity, "owner_id": r.owner_id} for r in rows]


def oldest_open_exception_at() -> datetime | None:
    """When the longest-open exception (open, not acknowledged) opened: acknowledged ones have an owner."""
    return IntegrationException.objects.filter(status=Status.OPEN).aggregate(oldest=Min("opened_at"))["oldest"]
