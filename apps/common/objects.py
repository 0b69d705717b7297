"""The canonical object types every connector and mapping speaks of, and the shape records travel in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import models


class ObjectType(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    PROJECT = "project", "Project"
    PERSON = "person", "Person"
    ASSIGNMENT = "assignment", "Assignment"
    TIME_ENTRY = "time_entry", "Time entry"
    EXPENSE = "expense", "Expense"
    INVOICE = "invoice", "Invoice / billing event"
    REVENUE_SCHEDULE = "revenue_schedule", "Revenue schedule"
    RATE_CARD = "rate_card", "Rate card"


@dataclass(frozen=True)
class Ref:
    """A pointer from one record to another: by the external id in the same connection, by code, or (for a row
    that carries no code, such as a vendor's export naming people by name) by email or name, which the hub
    resolves only when exactly one record matches."""

    by: str  # "external", "code", "email" or "name"
    value: str

    @classmethod
    def external(cls, value: Any) -> Ref | None:
        return None if value in (None, "") else cls("external", str(value))

    @classmethod
    def code(cls, value: Any) -> Ref | None:
        return None if value in (None, "") else cls("code", str(value))

    @classmethod
    def email(cls, value: Any) -> Ref | None:
        return None if value in (None, "") else cls("email", str(value).strip())

    @classmethod
    def name(cls, value: Any) -> Ref | None:
        return None if value in (None, "") else cls("name", " ".join(str(value).split()))


@dataclass(frozen=True)
class Origin:
    """Where a record keyed by its content was read (a file and row). With ``once``, the same key read from
    another file is a duplicate row, not the same record again (docs/data-quality.md, "Keys and duplicates")."""

    file: str
    row: int
    once: bool = True


@dataclass
class CanonicalInput:
    """One record read from a system, already in canonical field names, ready for the hub.

    ``fields`` hold plain values (strings for decimals and dates are fine; the hub converts them);
    ``refs`` name related records (``{"project": Ref.external("8812")}``); ``deleted`` marks a
    reversal (the record was deleted or voided at the source).
    """

    object_type: str
    external_id: str
    fields: dict[str, Any]
    refs: dict[str, Ref | None] = field(default_factory=dict)
    deleted: bool = False
    source_updated_at: datetime | None = None
    origin: Origin | None = None
