"""`manage.py pull --customer <slug> <connection> <object>` reads one object into the hub and says what happened."""

import pytest
from django.core.management import CommandError, call_command
from django_tenants.utils import schema_context

from apps.canonical.models import TimeEntry
from apps.canonical.services import hub_upsert_all
from apps.common.objects import CanonicalInput, ObjectType, Ref
from apps.connectors.services import connection_create, connection_files_root
from apps.runs.models import Run


def test_pull_reads_a_drop_folder_into_the_hub_and_reports_failures(cast, capsys):
    with schema_context("alpha"):
        files = connection_create(name="Time export", slug="time-export", kind="csv", settings={"settle_seconds": 0},
                                  acting_user=None)
        hub_upsert_all(connection=files, object_type=ObjectType.PERSON,
                       records=[CanonicalInput("person", "ann", {"code": "ann", "name": "Ann"})])
        hub_upsert_all(connection=files, object_type=ObjectType.CUSTOMER,
                       records=[CanonicalInput("customer", "c", {"code": "C", "name": "C"})])
        hub_upsert_all(connection=files, object_type=ObjectType.PROJECT, records=[
            CanonicalInput("project", "p", {"code": "P-1", "name": "P"}, refs={"customer": Ref.code("C")})])
        inbox = connection_files_root(files) / "inbox"
        inbox.mkdir(parents=True)
        (inbox / "time-1.csv").write_text("id,person,project,date,hours\n"
                                          "t1,ann,P-1,2026-11-02,7.5\nt2,ann,P-1,2026-11-03,abc\n")

    call_command("pull", "--customer", "alpha", "time-export", "time_entries")

    out = capsys.readouterr().out
    assert "Finished with failures" in out and "'created': 1" in out and "'failed': 1" in out
    assert "time-1.csv row 3" in out and "hours" in out
    with schema_context("alpha"):
        assert TimeEntry.objects.count() == 1
        # The ledger holds every item read, as a flow's run does: the one stored too, not only the failure.
        (run,) = Run.objects.filter(connection__slug="time-export", object_name="time_entries")
        assert sorted(run.items.values_list("external_id", "outcome")) == [("t1", "created"), ("t2", "failed")]
        (stored,) = run.items.filter(outcome="created")
        assert stored.canonical_id == TimeEntry.objects.get().pk and stored.payload_before["hours"] == "7.5"


@pytest.mark.parametrize(("args", "message"), [
    (["--customer", "nobody", "x", "y"], "No customer with slug 'nobody'"),
    (["--customer", "alpha", "missing", "y"], "has no connection 'missing'"),
])
def test_pull_names_what_it_could_not_find(cast, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("pull", *args)
