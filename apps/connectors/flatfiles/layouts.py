"""What a firm keeps in spreadsheets, as the CSV kind (and the bulk API) read it: one layout per object.

A layout names the record keys a column (or an API field) can fill, the header names each is recognised
by, which are required, and how a row names its related records. ``to_canonical`` turns one read record
into the hub's input. Related records are named by code; where a row has no code for one, by email or by
name (a vendor's export names people by first and last name), which the hub resolves only when exactly one
record matches. See docs/connectors.md ("CSV files") and docs/data-quality.md ("Files").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from apps.common.objects import CanonicalInput, ObjectType, Ref
from apps.connectors.flatfiles.csvread import Layout


@dataclass(frozen=True)
class RefSpec:
    """How a row names a related record: the key with its code (or this connection's id for it), else the keys
    with its email or name. ``first_last``: first and last name columns make the name."""

    name: str  # the canonical reference: person, project, customer, manager, parent, rate_card
    code: str
    email: str = ""
    by_name: str = ""
    first_last: bool = False


_PERSON = ("person_code", "employee", "employee_code", "employee_id", "person_id", "user", "consultant", "staff_id")
_PERSON_NAME = ("person_name", "employee_name", "full_name", "consultant_name", "user_name", "staff_name")
_PERSON_EMAIL = ("email", "person_email", "employee_email", "user_email", "email_address")
_PROJECT = ("project_code", "project_id", "job", "job_code", "job_number", "engagement", "engagement_code")
_CUSTOMER = ("customer_code", "client_code", "client_id", "customer_id", "account_code", "client", "customer")
_COMMON = {
    "billable": ("is_billable",),
    "approval_status": ("status",),
    "approved": ("is_approved",),
    "approved_at": (),
    "notes": ("note", "description", "comment", "comments"),
    "deleted": ("is_deleted", "void", "voided"),
}
_WHO = {"person": _PERSON, "person_email": _PERSON_EMAIL, "person_name": _PERSON_NAME,
        "first_name": ("firstname", "given_name"), "last_name": ("lastname", "surname", "family_name")}
_WHO_REQUIRED = ("person", "person_email", "person_name", "last_name")
_PERSON_REF = RefSpec("person", "person", email="person_email", by_name="person_name", first_last=True)
_PROJECT_REF = RefSpec("project", "project", by_name="project_name")
_BILLING = {"time and materials": "tm", "time & materials": "tm", "time_and_materials": "tm", "t&m": "tm",
            "hourly": "tm", "fixed fee": "fixed", "fixed price": "fixed", "fixed_fee": "fixed",
            "non-billable": "non_billable", "non billable": "non_billable", "internal": "non_billable"}
_PROJECT_STATUS = {"open": "active", "in progress": "active", "on hold": "on_hold", "paused": "on_hold",
                   "archived": "closed", "done": "closed", "completed": "closed", "finished": "closed"}
_EMPLOYMENT = {"staff": "employee", "permanent": "employee", "freelancer": "contractor", "freelance": "contractor",
               "external": "contractor"}
_ACTIVE = {"is_active": ("active", "enabled", "is_enabled"), "is_archived": ("archived",)}

LAYOUTS: dict[str, Layout] = {
    "time_entries": Layout(
        "time_entries", noun="time entry",
        aliases={"external_id": ("id", "entry_id", "time_entry_id", "uid"), **_WHO, "project": _PROJECT,
                 "project_name": ("project_title",),
                 "date": ("work_date", "spent_date", "day"),
                 "hours": ("quantity", "duration", "duration_hours", "duration_decimal", "time_decimal"),
                 "task": ("task_name", "activity"), "approver": ("approved_by",),
                 "bill_rate": ("billable_rate", "hourly_rate"), "cost_rate": (), "currency": ("currency_code",),
                 "correction": ("is_correction", "correction_entry"), **_COMMON},
        required=(_WHO_REQUIRED, ("project", "project_name"), "date", "hours"),
        numbers=("hours", "bill_rate", "cost_rate"), dates=("date",), flags=("approved", "deleted"),
        lower=("approval_status",), markers=("correction",), currencies=("currency",),
        names={"project": "project_name", "person": "person_name"},
    ),
    "expenses": Layout(
        "expenses", noun="expense",
        aliases={"external_id": ("id", "expense_id", "uid"), **_WHO, "project": _PROJECT,
                 "project_name": ("project_title",),
                 "date": ("spent_date", "expense_date", "day"), "amount": ("total", "total_cost", "cost"),
                 "currency": ("currency_code",), "category": ("expense_category", "type", "expense_type"),
                 **_COMMON},
        required=(_WHO_REQUIRED, ("project", "project_name"), "date", "amount", "currency"),
        numbers=("amount",), dates=("date",), flags=("approved", "deleted"), lower=("approval_status",),
        currencies=("currency",), names={"project": "project_name", "person": "person_name"},
    ),
    "people": Layout(
        "people", noun="person", key=("code",), later="update",
        aliases={"external_id": ("id", "uid"), "code": _PERSON, "name": _PERSON_NAME,
                 "first_name": ("firstname", "given_name"), "last_name": ("lastname", "surname", "family_name"),
                 "email": ("person_email", "employee_email", "email_address", "work_email"),
                 "employment": ("employment_type", "contract", "contract_type", "worker_type"),
                 "is_employee": (), "practice": ("department", "practice_area", "team", "group"),
                 "capacity_hours_per_week": ("capacity", "weekly_capacity", "hours_per_week", "weekly_hours"),
                 "cost_rate": ("cost", "hourly_cost"), "cost_currency": ("currency", "cost_currency_code"),
                 **_ACTIVE},
        required=("code", ("name", "last_name")),
        numbers=("capacity_hours_per_week", "cost_rate"), flags=("is_employee", "is_active", "is_archived"),
        choices={"employment": _EMPLOYMENT}, lower=("employment",), currencies=("cost_currency",),
    ),
    "customers": Layout(
        "customers", noun="customer", key=("code",), later="update",
        aliases={"external_id": ("id", "uid"), "code": _CUSTOMER, "name": ("customer_name", "client_name", "company",
                                                                           "company_name"),
                 "parent": ("parent_code", "parent_customer", "parent_client"), "currency": ("currency_code",),
                 "payment_terms": ("terms",), "tax_id": ("vat", "vat_number", "vat_id", "tax_number"), **_ACTIVE},
        required=("code", "name"), flags=("is_active", "is_archived"), currencies=("currency",),
        names={"code": "name"},
    ),
    "projects": Layout(
        "projects", noun="project", key=("code",), later="update",
        aliases={"external_id": ("id", "uid"), "code": ("project_code", "project_id", "job_code", "job_number",
                                                         "engagement_code"),
                 "name": ("project_name", "project", "title", "job", "engagement"),
                 "customer": _CUSTOMER, "customer_name": ("client_name",),
                 "manager": ("manager_code", "project_manager", "manager_email"),
                 "status": ("project_status", "state"), "billing_type": ("billing", "billing_method", "bill_by"),
                 "start_date": ("starts_on", "start"), "end_date": ("ends_on", "end"),
                 "budget_amount": ("budget", "fee"), "budget_hours": ("hours_budget", "estimated_hours"),
                 "currency": ("currency_code",), "rate_card": ("rate_card_code",),
                 "default_bill_rate": ("bill_rate", "hourly_rate", "billable_rate", "rate")},
        required=("code", "name", ("customer", "customer_name")),
        numbers=("budget_amount", "budget_hours", "default_bill_rate"), dates=("start_date", "end_date"),
        choices={"billing_type": _BILLING, "status": _PROJECT_STATUS}, lower=("billing_type", "status"),
        currencies=("currency",), names={"code": "name", "customer": "customer_name"},
    ),
    "assignments": Layout(
        "assignments", noun="assignment", key=("person", "project", "role", "start_date"), later="update",
        aliases={"external_id": ("id", "assignment_id", "uid"), **_WHO, "project": _PROJECT,
                 "project_name": ("project_title",), "role": ("position", "function"),
                 "start_date": ("starts_on", "start", "from"), "end_date": ("ends_on", "end", "to", "until"),
                 "planned_hours": ("planned", "hours", "allocated_hours", "budget_hours", "total_hours",
                                   "total_planned_hours", "booked_hours"),
                 "hours_per_week": ("weekly_hours", "hours_week", "hrs_per_week", "hours_a_week", "booked_per_week",
                                    "weekly_allocation"),
                 "bill_rate_override": ("bill_rate", "rate", "billable_rate")},
        required=(_WHO_REQUIRED, ("project", "project_name")),
        numbers=("planned_hours", "hours_per_week", "bill_rate_override"), dates=("start_date", "end_date"),
        names={"project": "project_name", "person": "person_name"},
    ),
    "rate_cards": Layout(
        "rate_cards", noun="rate card", key=("code",), later="update",
        aliases={"external_id": ("id", "uid"), "code": ("rate_card_code", "rate_card", "card"),
                 "name": ("rate_card_name", "title"), "role": ("position",), "currency": ("currency_code",),
                 "bill_rate": ("rate", "billable_rate", "hourly_rate"), "cost_rate": ("cost",),
                 "effective_from": ("from", "valid_from", "start_date"),
                 "effective_to": ("to", "valid_to", "until", "end_date")},
        required=("code", "currency", "bill_rate"),
        numbers=("bill_rate", "cost_rate"), dates=("effective_from", "effective_to"), currencies=("currency",),
    ),
}
OBJECT_TYPES = {"time_entries": ObjectType.TIME_ENTRY, "expenses": ObjectType.EXPENSE, "people": ObjectType.PERSON,
                "customers": ObjectType.CUSTOMER, "projects": ObjectType.PROJECT,
                "assignments": ObjectType.ASSIGNMENT, "rate_cards": ObjectType.RATE_CARD}
REFERENCE_OBJECTS = ("people", "customers", "projects", "assignments", "rate_cards")
REFS: dict[str, tuple[RefSpec, ...]] = {
    "time_entries": (_PERSON_REF, _PROJECT_REF),
    "expenses": (_PERSON_REF, _PROJECT_REF),
    "assignments": (_PERSON_REF, _PROJECT_REF),
    "projects": (RefSpec("customer", "customer", by_name="customer_name"), RefSpec("manager", "manager"),
                 RefSpec("rate_card", "rate_card")),
    "customers": (RefSpec("parent", "parent"),),
}
# Keys consumed by the translation (references, flags turned into fields), not canonical fields themselves.
_CONSUMED = frozenset({"external_id", "approved", "deleted", "correction", "is_employee", "is_archived", "first_name",
                       "last_name", "person_email", "person_name", "project_name", "customer_name",
                       "hours_per_week"})


def to_canonical(object_name: str, record: dict[str, Any], *, external_refs: frozenset[str] = frozenset(),
                 cache: dict | None = None) -> CanonicalInput:
    """One read record as the hub's input. ``external_refs``: references whose code column holds this
    connection's ids for the related records instead of their codes. ``cache`` (a dict the caller keeps)
    makes each reference once: the same few hundred people and projects recur on every row."""
    specs = REFS.get(object_name, ())
    skip = _CONSUMED | {spec.code for spec in specs}
    fields = {k: v for k, v in record.items() if k not in skip and not k.startswith("_") and v not in ("", None)}
    _derived_fields(object_name, record, fields)
    refs = {}
    for spec in specs:
        ref = _cached_ref(spec, record, spec.name in external_refs, cache)
        if ref is not None or spec.name in ("person", "project", "customer"):
            refs[spec.name] = ref  # optional references a row does not give are left as they are
    return CanonicalInput(OBJECT_TYPES[object_name], record["external_id"], fields, refs=refs,
                          deleted=bool(record.get("deleted")))


def _derived_fields(object_name: str, record: dict, fields: dict) -> None:
    """Fields a row gives in other words: an approval flag, a correction mark, first and last names."""
    approved = record.get("approved")
    if approved is not None and "approval_status" not in fields:
        fields["approval_status"] = "approved" if approved else "submitted"
    if record.get("correction"):  # the door lets a marked correction take hours back (docs/data-quality.md)
        fields["extra"] = {**(fields.get("extra") or {}), "correction": True}
    if object_name == "people":
        if "name" not in fields and (record.get("first_name") or record.get("last_name")):
            fields["name"] = _full_name(record)
        if record.get("is_employee") is not None and "employment" not in fields:
            fields["employment"] = "employee" if record["is_employee"] else "contractor"
    if record.get("is_archived") is not None and "is_active" not in fields:
        fields["is_active"] = not record["is_archived"]
    if object_name == "assignments" and _text(record.get("hours_per_week")):
        _weekly_to_planned(record, fields)


def _weekly_to_planned(record: dict, fields: dict) -> None:
    """A booking given in hours per week (a resource tool's export): its planned hours are that many per five
    Monday–Friday days from start to end, so spread back over those days (as the resource plan spreads them) it
    books exactly the weekly hours. A row that also gives total hours keeps them; one without both dates, or
    with a value that is not a number or a date, keeps no planned hours (the hub or the door says why)."""
    weekly = _text(record["hours_per_week"])
    fields["extra"] = {**(fields.get("extra") or {}), "hours_per_week": weekly}
    if "planned_hours" in fields:
        return
    try:
        hours = Decimal(weekly)
        start, end = date.fromisoformat(_text(record.get("start_date"))), date.fromisoformat(
            _text(record.get("end_date")))
    except (InvalidOperation, ValueError):
        return
    fields["planned_hours"] = (hours * _workdays(start, end) / 5).quantize(Decimal("0.01"))


def _workdays(start: date, end: date) -> int:
    """Monday-to-Friday days from start to end inclusive (0 when the end is before the start)."""
    if end < start:
        return 0
    weeks, rest = divmod((end - start).days + 1, 7)
    return weeks * 5 + sum(1 for n in range(rest) if (start.weekday() + n) % 7 < 5)


def _cached_ref(spec: RefSpec, record: dict, external: bool, cache: dict | None) -> Ref | None:
    if cache is None:
        return _ref(spec, record, external)
    key = (spec.name, external, record.get(spec.code), record.get(spec.email) if spec.email else None,
           record.get(spec.by_name) if spec.by_name else None,
           (record.get("first_name"), record.get("last_name")) if spec.first_last else None)
    ref = cache.get(key, False)
    if ref is False:
        ref = _ref(spec, record, external)
        if len(cache) < 100_000:
            cache[key] = ref
    return ref


def _ref(spec: RefSpec, record: dict, external: bool) -> Ref | None:
    code = _text(record.get(spec.code))
    if code:
        return Ref.external(code) if external else Ref.code(code)
    if spec.email and (email := _text(record.get(spec.email))):
        return Ref.email(email)
    if spec.by_name and (name := _text(record.get(spec.by_name))):
        return Ref.name(name)
    if spec.first_last and (name := _full_name(record)):
        return Ref.name(name)
    return None


def _full_name(record: dict) -> str:
    return " ".join(part for part in (_text(record.get("first_name")), _text(record.get("last_name"))) if part)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ("" if value is None else str(value))
