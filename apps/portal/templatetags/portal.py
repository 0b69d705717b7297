"""Formatting for figures on pages: one place decides how hours, money, ratios and times look."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django import template
from django.utils import timezone
from django.utils.formats import date_format

from apps.tenants import access

register = template.Library()


@register.simple_tag(takes_context=True)
def may(context, action: str) -> bool:
    """May the signed-in person do ``action`` here (this customer's portal, or this partner site's partner)?
    For links only (the menu): the views ask ``apps.tenants.access`` themselves."""
    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return False
    tenant = getattr(request, "tenant", None)
    customer = tenant if tenant is not None and tenant.kind == "firm" else None
    return access.can(request.user, action, customer=customer, partner=getattr(request, "partner", None))


def _number(value, places: int) -> str:
    return f"{Decimal(value):,.{places}f}"


@register.simple_tag
def cell(row: dict, column) -> str:
    """A table cell shown as its column's kind says (reporting ``Column.kind``)."""
    return show(row.get(column.key), column.kind)


@register.filter
def show(value, kind: str = "text") -> str:
    if value is None or value == "" or value == [] or value == ():
        return "—"
    if kind == "money":
        return _number(value, 2)
    if kind == "hours":
        return _number(value, 1)
    if kind == "ratio":
        return f"{Decimal(value) * 100:.1f}%"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "ms":
        return f"{int(value):,} ms"
    if kind == "days":
        return f"{Decimal(value):,.1f} days"
    if kind == "flag":
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return date_format(timezone.localtime(value), "Y-m-d H:i")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


@register.filter
def amounts(by_currency) -> str:
    """``{"EUR": Decimal("1200.00")}`` as ``EUR 1,200.00``; several currencies side by side."""
    if not by_currency:
        return "—"
    return " · ".join(f"{currency or ''} {_number(amount, 2)}".strip() for currency, amount in by_currency.items())


@register.filter
def ago(value, now: datetime | None = None) -> str:
    """"3 hours ago" for a datetime or an ISO string; "never" for none. Cheap: long lists call it a lot."""
    if not value:
        return "never"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    seconds = ((now or timezone.now()) - value).total_seconds()
    for limit, unit, size in ((5400, "minute", 60), (129600, "hour", 3600), (5184000, "day", 86400)):
        if seconds < limit:
            count = max(int(seconds // size), 0)
            return "just now" if unit == "minute" and count < 1 else f"{count} {unit}{'s' if count != 1 else ''} ago"
    return f"{int(seconds // 2592000)} months ago"


@register.filter
def iso_datetime(value) -> str:
    if not value:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return date_format(timezone.localtime(value), "Y-m-d H:i")


@register.filter
def get(mapping, key):
    return mapping.get(key) if mapping else None


@register.filter
def usage_used(line, meter: str) -> int:
    return line.used(meter)


@register.filter
def usage_included(line, meter: str):
    return line.included(meter)


@register.filter
def usage_over(line, meter: str) -> int:
    return line.overage(meter)


@register.simple_tag
def first_rows(rows, limit=None):
    """``rows`` cut to ``limit`` when a limit is given (long tables in printed reviews)."""
    return rows[: int(limit)] if limit not in (None, "") else rows


@register.filter
def seconds(value) -> str:
    """"45 s", "3.5 min", "2.1 h" for a number of seconds; "—" for none."""
    if value is None:
        return "—"
    if value < 90:
        return f"{value:.0f} s"
    return f"{value / 60:.1f} min" if value < 5400 else f"{value / 3600:.1f} h"
