"""Tasks the tenancy tests queue; they run inside whatever schema the queue says."""

from django.db import connection

from apps.connectors.models import Connection


def record_schema(marker: str) -> str:
    """Write a row naming the schema this task ran in, and return that schema."""
    Connection.objects.create(name=f"{marker}:{connection.schema_name}", kind="probe")
    return connection.schema_name


def connection_names() -> list[str]:
    return sorted(Connection.objects.values_list("name", flat=True))


def always_fails(marker: str) -> None:
    raise RuntimeError(f"probe failure {marker}")
