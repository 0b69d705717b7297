"""Audit history: saving configuration so that its history row names the person and the reason, and history
tables kept lean.

Every customer schema carries one history table per tracked model. django-simple-history indexes every copied
key, slug and name, the history date and the acting user: ≈ 6 indexes a history table, 8 KiB each even when
empty, in every schema (issue 20). History is read per object (``instance.history``: by the object's id,
newest first, a handful of rows), so the object's id is the one index it needs; a search by user or date
over one customer's audit trail is rare and scans a small table.
"""

from __future__ import annotations

from django.db import models
from simple_history.models import HistoricalRecords


class History(HistoricalRecords):
    """``HistoricalRecords`` whose history table indexes only its own key and the tracked object's id."""

    def copy_fields(self, model):
        fields = super().copy_fields(model)
        for name, field in fields.items():
            if name != model._meta.pk.name:
                field.db_index = False
        return fields

    def _get_history_user_fields(self):
        fields = super()._get_history_user_fields()
        user = fields.get("history_user")
        if isinstance(user, models.Field):
            user.db_index = False
        return fields


def save_attributed(
    instance: models.Model, *, acting_user, reason: str = "", update_fields: list[str] | None = None
) -> models.Model:
    """Validate and save ``instance``; django-simple-history records ``acting_user`` and ``reason``."""
    instance.full_clean()
    instance._history_user = acting_user
    instance._change_reason = reason or None
    instance.save(update_fields=update_fields)
    return instance
