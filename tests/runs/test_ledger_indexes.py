"""Every read of the ledger that runs on a large table finds its rows through an index (runs.0017 kept only the
indexes these reads need): with sequential scans priced out, none of them reads the whole of runs_runitem."""

from django.db import connection
from django.db.models import Count
from django.utils import timezone

from apps.connectors.services import connection_create
from apps.runs import replay
from apps.runs.ledger import LedgerRow, run_item_rows_write
from apps.runs.models import SYNCED_OUTCOMES, ItemOutcome, Run, RunItem


def _whole_table_read(plan: str) -> bool:
    return "Seq Scan on runs_runitem" in plan


def _explain(sql: str, params=()) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_the_ledgers_reads_use_an_index(in_alpha):
    source = connection_create(name="Time export", kind="csv", acting_user=None)
    run = Run.objects.create(connection=source, object_name="time_entries", object_type="time_entry")
    outcomes = [ItemOutcome.CREATED, ItemOutcome.UNCHANGED, ItemOutcome.FAILED, ItemOutcome.UPDATED]
    run_item_rows_write([LedgerRow(run_id=run.pk, object_type="time_entry", external_id=f"TE-{n:05d}",
                                   canonical_id=n if n % 4 != 2 else None, outcome=outcomes[n % 4])
                         for n in range(1, 2001)])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE runs_runitem")
        cursor.execute("SET LOCAL enable_seqscan = off")
    since = timezone.now()
    reads = {
        # a source record's trace (API ?external_id=, with or without its type); clearing an exception's records
        "by external id": RunItem.objects.filter(external_id="TE-00042").order_by("-created_at"),
        "by external id and type": RunItem.objects.filter(object_type="time_entry", external_id="TE-00042"),
        "records that succeed later": run.items.filter(outcome__in=[ItemOutcome.CREATED, ItemOutcome.UPDATED],
                                                       external_id__in=["TE-00041", "TE-00042"]),
        # a hub record's trace (search, API ?canonical_id= and ?project=), what a flow wrote back, created before
        "by hub record": RunItem.objects.filter(object_type="time_entry", canonical_id__in=[41, 43]),
        "written back": RunItem.objects.filter(outcome__in=[ItemOutcome.CREATED, ItemOutcome.UPDATED],
                                               canonical_id__in=[41, 43]).order_by("canonical_id", "-pk"),
        "created before": RunItem.objects.filter(object_type="time_entry", canonical_id=41,
                                                 outcome=ItemOutcome.CREATED),
        # failures and synced records by date (replay lists, reporting's refresh, usage)
        "failures, newest first": replay.items_matching(),
        "synced since": RunItem.objects.filter(outcome__in=SYNCED_OUTCOMES, created_at__gte=since),
        # a run's items and their counts
        "a run's counts": RunItem.objects.filter(run=run).values_list("outcome").annotate(n=Count("pk")),
        "a run's failures": run.items.filter(outcome__in=[ItemOutcome.FAILED, ItemOutcome.CONFLICT]),
    }
    plans = {name: queryset.explain() for name, queryset in reads.items()}
    # reporting's reconciliation: the latest posting of each stale entry (a LATERAL look-up per entry)
    plans["latest posting of an entry"] = _explain(
        "SELECT id FROM runs_runitem WHERE object_type = 'time_entry' AND canonical_id = %s "
        "AND outcome IN ('created', 'updated') ORDER BY id DESC LIMIT 1", [41])

    assert not {name: plan for name, plan in plans.items() if _whole_table_read(plan)}
