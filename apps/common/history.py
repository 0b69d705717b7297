"""Audit history: saving configuration so that its history row names the person and the reason, and history
tables kept lean.

Every customer schema carries one history table per tracked model. django-simple-history indexes every copied
key, slug and name, the history date and the acting user: ≈ 6 indexes a history table, 8 KiB each even when
empty, in every schema (issue 20). History is read per object (``instance.history``: by the object's id,
newest first, a handful of rows), so the object's id is the one index it needs; a search by user or date
over one customer's audit trail is rare and scans a small table.

A customer schema's history table names the acting user without a foreign-key constraint into the public schema:
each such constraint hangs two triggers on the shared user table, which every login's ``UPDATE`` walks (38 a
customer before, 31 ms a login at 200 customers; docs/scale.md). The public schema's deletion of a user leaves
those rows alone (it could not reach them); ``apps.tenants.services.user_delete`` clears them first.
"""

from __future__ import annotations

from django.db import models
from simple_history.models import HistoricalRecords

from apps.common.tenancy import in_customer_schemas_only


class History(HistoricalRecords):
    """``HistoricalRecords`` whose history table indexes only its own key and the tracked object's id, and whose
    ``history_user`` in a customer schema has no constraint into the public schema."""

    def create_history_model(self, model, inherited):
        self._user_unconstrained = in_customer_schemas_only(model)  # read by _get_history_user_fields below
        return super().create_history_model(model, inherited)

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
            if getattr(self, "_user_unconstrained", False):  # simple-history hard-codes SET_NULL
                user.db_constraint = False
                user.remote_field.on_delete = models.DO_NOTHING
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
