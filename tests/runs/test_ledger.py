"""The ledger written with COPY holds exactly what bulk_create would have stored."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from apps.connectors.services import connection_create
from apps.runs.ledger import run_items_write
from apps.runs.models import ItemOutcome, Run, RunItem


def _items(run: Run) -> list[RunItem]:
    return [
        RunItem(run=run, idempotency_key="k1", object_type="time_entry", external_id="t1", canonical_id=7,
                outcome=ItemOutcome.CREATED, payload_before={"id": "t1", "notes": 'Tab\there, "quoted", \\ and ünï'},
                payload_after={"fields": {"hours": "7.50"}, "refs": {"project": "code:ACME-042"}}, duration_ms=3),
        RunItem(run=run, idempotency_key="k2", object_type="time_entry", external_id="t2", outcome=ItemOutcome.FAILED,
                error_category="validation", error_field="hours", error_message="hours: 'x' is not a number\nrow 3",
                payload_before=None, payload_after=[1, None, True], latency_ms=2**40),
    ]


def test_items_written_with_copy_read_back_as_bulk_create_stores_them(in_alpha):
    connection = connection_create(name="Time export", kind="csv", acting_user=None)
    run = Run.objects.create(connection=connection, object_name="time_entries", object_type="time_entry")
    expected = _items(run)
    RunItem.objects.bulk_create(expected)
    copied = _items(run)
    before = timezone.now()

    run_items_write(copied)

    assert all(item.pk for item in copied) and not any(item._state.adding for item in copied)
    fields = [f.attname for f in RunItem._meta.concrete_fields if f.attname not in ("id", "created_at", "updated_at")]
    stored = {row["external_id"]: row for row in RunItem.objects.filter(pk__in=[i.pk for i in copied]).values()}
    for original in RunItem.objects.filter(pk__in=[i.pk for i in expected]).values():
        row = stored[original["external_id"]]
        assert {name: row[name] for name in fields} == {name: original[name] for name in fields}
        assert before <= row["created_at"] == row["updated_at"] <= timezone.now() + timedelta(seconds=1)
    assert stored["t1"]["payload_after"]["fields"]["hours"] == str(Decimal("7.50"))
