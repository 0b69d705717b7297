"""Rules stated both in the ORM and in SQL, held to the same answer on the same rows (the hand-computed data set):
"still to send" (``runs.selectors.pending_records`` and ``reporting.store.pending_sql``) and "synced"
(``runs.models.SYNCED_OUTCOMES``: ``Run.records_synced``, the health figure and the refresh's touched parts)."""

from __future__ import annotations

from apps.canonical.models import TimeEntry
from apps.reporting import store
from apps.reporting.health import customer_health_compute
from apps.reporting.sql import T, fetch
from apps.runs.models import SYNCED_OUTCOMES, ItemOutcome, Run, RunItem
from apps.runs.selectors import pending_records


def _names(data, ids) -> set[str]:
    return {name for name, entry in data.entries.items() if entry.pk in ids}


def test_still_to_send_is_the_same_rule_in_the_orm_and_in_sql(data):
    # E11 came from the target; changed there since it was read, it still goes nowhere (never back to its source).
    TimeEntry.objects.filter(pk=data.entries["E11"].pk).update(content_hash="changed-at-the-target")
    orm = set(pending_records(data.flow).filter(deleted_at__isnull=True).values_list("pk", flat=True))
    clause, params = store.pending_sql([data.flow])
    sql = {row["id"] for row in fetch(f"SELECT te.id FROM {T['time']} te WHERE te.deleted_at IS NULL AND {clause}",
                                      params)}

    assert orm == sql
    # Not posted (E4, E9, E10), posted with other content (E2), and the unapproved ones (E6, E7: the flow's
    # rules, not this one, hold those back); not E1, E3, E5, E12 (in sync) nor E11 (it came from the target).
    assert _names(data, sql) == {"E2", "E4", "E6", "E7", "E9", "E10"}


def test_a_deleted_entry_is_still_to_send_only_where_it_was_sent(data):
    """The reversal half of the rule is the ORM's alone: reporting never counts deleted time as unposted."""
    deleted = set(pending_records(data.flow).filter(deleted_at__isnull=False).values_list("pk", flat=True))
    assert _names(data, deleted) == {"E8"} and TimeEntry.objects.filter(deleted_at__isnull=False).count() == 1


def test_synced_means_the_same_outcomes_for_usage_health_and_the_refresh(data, monkeypatch):
    monkeypatch.setattr(store, "PART", 1)  # one entry per id range: the refresh's touched parts name the entries
    before = customer_health_compute()["records_synced"]
    run = Run.objects.create(connection=data.tryton, object_name="timesheet", object_type="time_entry",
                             counts={outcome.value: 1 for outcome in ItemOutcome})
    entry_of = dict(zip(ItemOutcome, sorted(e.pk for e in data.entries.values()), strict=False))
    for outcome, entry_id in entry_of.items():  # one item of every outcome, each about its own entry
        RunItem.objects.create(run=run, object_type="time_entry", canonical_id=entry_id, outcome=outcome)

    assert run.records_synced() == len(SYNCED_OUTCOMES) == 3  # what usage meters
    assert customer_health_compute()["records_synced"] - before == 3  # what health counts this month
    edited = set(TimeEntry.objects.filter(updated_at__gte=run.created_at).values_list("pk", flat=True))
    touched = set(store.touched_parts(run.created_at)) - edited  # what the refresh recomputes, besides edits
    assert touched == {entry_of[outcome] for outcome in SYNCED_OUTCOMES} - edited
