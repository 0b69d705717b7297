"""Reads of connections shared by the engine's commands, the monitors and configuration installs."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.connectors.models import Connection


def connections_enabled() -> QuerySet[Connection]:
    return Connection.objects.filter(is_enabled=True)


def connection_by_slug(slug: str) -> Connection | None:
    return Connection.objects.filter(slug=slug).first()
