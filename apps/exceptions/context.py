"""Business context of failed records: whose customer and project, which person and day, and what is at risk.

Money at risk for time is billable hours × bill rate (the entry's own rate, else the project's default,
else its rate card's; an entry its source marks not billable puts hours at risk but no money); for
expenses the amount; for invoices the total. Records known to the hub are read from it
(in one query per object type); records that never reached the hub (a row that failed to map, a
reference the hub does not know) are read from what the engine kept: the canonical fields it tried to
store, or the source record itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from apps.canonical.models import Expense, Invoice, Project, TimeEntry
from apps.common.objects import ObjectType

MONEY_MODELS = {ObjectType.TIME_ENTRY: TimeEntry, ObjectType.EXPENSE: Expense, ObjectType.INVOICE: Invoice}


@dataclass
class RecordContext:
    customer: str = ""
    project: str = ""
    person: str = ""
    day: date | None = None
    hours: Decimal | None = None
    amount: Decimal | None = None
    currency: str = ""
    labels: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"customer": self.customer, "project": self.project, "person": self.person,
                "date": self.day.isoformat() if self.day else None, **self.labels}


def contexts_for(object_type: str, items: list) -> dict[int, RecordContext]:
    """Context per RunItem pk: from the hub where the record is there, else from the item's payloads."""
    known = _from_hub(object_type, {i.canonical_id for i in items if i.canonical_id})
    contexts = {}
    for item in items:
        context = known.get(item.canonical_id) if item.canonical_id else None
        contexts[item.pk] = context or _from_payload(object_type, item)
    _price_unknown_hours(contexts)
    return contexts


def _from_hub(object_type: str, ids: set[int]) -> dict[int, RecordContext]:
    if not ids:
        return {}
    if object_type == ObjectType.TIME_ENTRY:
        rows = TimeEntry.objects.filter(pk__in=ids).values(
            "id", "date", "hours", "billable", "bill_rate", "currency", "person__name", "project__code",
            "project__default_bill_rate", "project__currency", "project__rate_card__bill_rate",
            "project__rate_card__currency", "project__customer__code", "project__customer__currency")
        return {r["id"]: _time_context(r) for r in rows}
    if object_type == ObjectType.EXPENSE:
        rows = Expense.objects.filter(pk__in=ids).values("id", "date", "amount", "currency", "person__name",
                                                         "project__code", "project__customer__code")
        return {r["id"]: RecordContext(customer=r["project__customer__code"], project=r["project__code"],
                                       person=r["person__name"], day=r["date"], amount=r["amount"],
                                       currency=r["currency"]) for r in rows}
    if object_type == ObjectType.INVOICE:
        rows = Invoice.objects.filter(pk__in=ids).values("id", "issue_date", "amount_total", "currency", "number",
                                                         "project__code", "customer__code", "extra")
        return {r["id"]: _invoice_context(r) for r in rows}
    if object_type == ObjectType.PROJECT:
        rows = Project.objects.filter(pk__in=ids).values("id", "code", "customer__code")
        return {r["id"]: RecordContext(customer=r["customer__code"], project=r["code"]) for r in rows}
    return {}


def _invoice_context(row: dict) -> RecordContext:
    """An invoice puts its total at risk; a billing-readiness draft (``extra.at_stake``) also the value of the time
    still waiting for approval, and names its hours, period and what blocks it."""
    extra = row["extra"] if isinstance(row["extra"], dict) else {}
    labels = {"invoice": row["number"]}
    if extra.get("period"):
        labels.update(period=extra["period"], blocked_by=[b.get("reason") for b in extra.get("blocked") or []
                                                          if isinstance(b, dict)])
    return RecordContext(customer=row["customer__code"], project=row["project__code"] or "", day=row["issue_date"],
                         hours=_decimal(extra.get("hours")), amount=_decimal(extra.get("at_stake")) or
                         row["amount_total"], currency=row["currency"], labels=labels)


def _time_context(row: dict) -> RecordContext:
    rate, currency = _rate(row)
    return RecordContext(
        customer=row["project__customer__code"] or "", project=row["project__code"] or "",
        person=row["person__name"] or "", day=row["date"], hours=row["hours"],
        amount=_priced(row["hours"], rate, row.get("billable")), currency=currency,
    )


def _priced(hours: Decimal | None, rate: Decimal | None, billable) -> Decimal | None:
    """Billable hours × rate; hours the entry marks not billable are worth nothing to bill (0, not unknown)."""
    if hours is None:
        return None
    if billable is False:
        return Decimal("0.00")
    return (hours * rate).quantize(Decimal("0.01")) if rate is not None else None


def _rate(row: dict) -> tuple[Decimal | None, str]:
    """The bill rate in force and its currency: the entry's, the project's default, the project's rate card's."""
    fallback = row.get("project__currency") or row.get("project__customer__currency") or ""
    if row.get("bill_rate") is not None:
        return row["bill_rate"], row.get("currency") or fallback
    if row.get("project__default_bill_rate") is not None:
        return row["project__default_bill_rate"], fallback
    if row.get("project__rate_card__bill_rate") is not None:
        return row["project__rate_card__bill_rate"], row.get("project__rate_card__currency") or fallback
    return None, fallback


# --- records that never reached the hub ----------------------------------------------------------
_HOURS_KEYS = ("hours", "quantity", "duration_hours")
_DATE_KEYS = ("date", "spent_date", "dateUtc", "issue_date")
_PROJECT_KEYS = ("project", "project_code", "projectCode")
_PERSON_KEYS = ("person", "person_code", "user", "employee")
_BILLABLE_KEYS = ("billable", "is_billable")
_RATE_KEYS = ("bill_rate", "billable_rate", "hourly_rate")
_NO = {"no", "n", "false", "0", "non-billable", "non_billable"}


def _from_payload(object_type: str, item) -> RecordContext:
    canonical = item.payload_after if isinstance(item.payload_after, dict) else {}
    fields = canonical.get("fields") if isinstance(canonical.get("fields"), dict) else {}
    refs = canonical.get("refs") if isinstance(canonical.get("refs"), dict) else {}
    source = item.payload_before if isinstance(item.payload_before, dict) else {}
    if "id" in source and isinstance(source.get("project"), dict | None) and "content_hash" in source:
        return _from_view(object_type, source)  # an outbound item's payload is the canonical view
    context = RecordContext(
        project=_ref_label(refs.get("project")) or _label(_first(source, _PROJECT_KEYS)),
        person=_ref_label(refs.get("person")) or _label(_first(source, _PERSON_KEYS)),
        day=_date(fields.get("date") or _first(source, _DATE_KEYS)),
    )
    if object_type == ObjectType.TIME_ENTRY:
        context.hours = _decimal(fields.get("hours") or _first(source, _HOURS_KEYS))
        _price_own(context, fields, source)
    elif object_type in (ObjectType.EXPENSE, ObjectType.INVOICE):
        context.amount = _decimal(fields.get("amount") or fields.get("amount_total") or source.get("amount"))
        context.currency = str(fields.get("currency") or source.get("currency") or "")[:3]
    return context


def _price_own(context: RecordContext, fields: dict, source: dict) -> None:
    """A row that says it is not billable, or carries its own rate, is priced by itself, project known or not."""
    billable = _flag(fields["billable"] if "billable" in fields else _first(source, _BILLABLE_KEYS))
    rate = _decimal(fields.get("bill_rate") or _first(source, _RATE_KEYS))
    if billable is False or rate is not None:
        context.amount = _priced(context.hours, rate, billable)
        context.currency = str(fields.get("currency") or source.get("currency") or "")[:3]


def _from_view(object_type: str, view: dict) -> RecordContext:
    project = view.get("project") or {}
    customer = project.get("customer") or view.get("customer") or {}
    context = RecordContext(customer=customer.get("code") or "", project=project.get("code") or "",
                            person=(view.get("person") or {}).get("name") or "",
                            day=_date(view.get("date") or view.get("issue_date")))
    if object_type == ObjectType.TIME_ENTRY:
        context.hours = _decimal(view.get("hours"))
        _price_own(context, {}, view)
    elif object_type in (ObjectType.EXPENSE, ObjectType.INVOICE):
        context.amount = _decimal(view.get("amount") or view.get("amount_total"))
        context.currency = str(view.get("currency") or "")[:3]
    return context


def _price_unknown_hours(contexts: dict[int, RecordContext]) -> None:
    """Hours of records outside the hub, priced at their project's rate when the project is known by code."""
    wanted = {c.project for c in contexts.values()
              if c.project and ((c.hours is not None and c.amount is None) or (c.amount and not c.currency))}
    if not wanted:
        return
    rows = Project.objects.filter(code__in=wanted).values("code", "default_bill_rate", "currency",
                                                          "rate_card__bill_rate", "rate_card__currency",
                                                          "customer__code", "customer__currency")
    projects = {r["code"]: r for r in rows}
    for context in contexts.values():
        row = projects.get(context.project)
        if row is None:
            continue
        context.customer = context.customer or row["customer__code"] or ""
        rate, currency = _rate({f"project__{k}": v for k, v in row.items()})
        if context.hours is not None and context.amount is None and rate is not None:
            context.amount, context.currency = (context.hours * rate).quantize(Decimal("0.01")), currency
        elif context.amount is not None and not context.currency:
            context.currency = currency  # the row's own rate, in its project's currency


def _first(source: dict, keys: tuple[str, ...]):
    for key in keys:
        if source.get(key) not in (None, ""):
            return source[key]
    return None


def _flag(value) -> bool | None:
    """A billable cell as read (a boolean once converted, else text such as ``No``); None when absent."""
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return None if not text else text not in _NO


def _label(value) -> str:
    if isinstance(value, dict):
        value = value.get("code") or value.get("name") or value.get("id")
    return str(value)[:120] if value not in (None, "") else ""


def _ref_label(value) -> str:
    return str(value).split(":", 1)[-1] if value else ""


def _date(value) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _decimal(value) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() and abs(number) < Decimal("1e9") else None
