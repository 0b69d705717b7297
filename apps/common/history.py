"""Saving configuration so that its history row names the person and the reason."""

from __future__ import annotations

from django.db import models


def save_attributed(
    instance: models.Model, *, acting_user, reason: str = "", update_fields: list[str] | None = None
) -> models.Model:
    """Validate and save ``instance``; django-simple-history records ``acting_user`` and ``reason``."""
    instance.full_clean()
    instance._history_user = acting_user
    instance._change_reason = reason or None
    instance.save(update_fields=update_fields)
    return instance
