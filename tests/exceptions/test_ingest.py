"""Failed ledger items become a handful of grouped exceptions with hours and money at risk; the same failure
counts up instead of adding rows; records that succeed later leave, and the exception resolves or reopens."""

from decimal import Decimal

from apps.canonical.services import hub_upsert_all
from apps.common.objects import CanonicalInput, Ref
from apps.exceptions import fixing, services
from apps.exceptions.choices import Kind, Severity, Status
from apps.exceptions.ingest import exceptions_from_run, runs_sweep
from apps.exceptions.models import ExceptionItem, IntegrationException, RunIngest
from apps.mappings.models import RuleKind, ValidationRule
from apps.runs.models import Run
from apps.tenants.choices import Role
from apps.tenants.models import Partner
from tests.conftest import member
from tests.runs.journal import drop, run_flow, run_until_done

BAD_ROWS = (
    "t1,ann,ACME-042,2026-11-02,7.5,approved,ok\n"
    "t2,bob,ACME-042,2026-11-03,13,approved,long day\n"
    "t3,bob,ACME-042,2026-11-04,14,approved,longer day\n"
    "t4,ann,NOPE-1,2026-11-05,2,approved,unknown project\n"
    "t5,bob,NOPE-1,2026-11-06,3,approved,unknown project\n"
    "t6,ann,NOPE-2,2026-11-06,1,approved,another unknown project\n"
)


def _by_title() -> dict[str, IntegrationException]:
    return {e.title: e for e in IntegrationException.objects.all()}


def test_bad_rows_become_a_handful_of_grouped_exceptions_with_hours_and_money_at_risk(setup):
    drop(setup["in"], "time-01.csv", BAD_ROWS)

    run_flow(setup["inbound"])

    found = _by_title()
    assert set(found) == {"over the 12 h daily limit", "project NOPE-1 is not known", "project NOPE-2 is not known"}
    limit = found["over the 12 h daily limit"]
    assert (limit.kind, limit.flow, limit.severity, limit.status) == (
        Kind.VALIDATION, setup["outbound"], Severity.MEDIUM, Status.OPEN)
    assert (limit.occurrences, limit.open_records, limit.hours_at_risk) == (2, 2, Decimal("27.00"))
    assert (limit.amount_at_risk, limit.currency) == (Decimal("4050.00"), "EUR")  # 27 h × 150 EUR
    assert (limit.customers, limit.projects, limit.people) == (["ACME"], ["ACME-042"], ["Bob Ray"])
    assert (str(limit.period_start), str(limit.period_end)) == ("2026-11-03", "2026-11-04")
    unknown = found["project NOPE-1 is not known"]
    assert (unknown.kind, unknown.flow, unknown.open_records, unknown.hours_at_risk) == (
        Kind.MISSING_REFERENCE, setup["inbound"], 2, Decimal("5.00"))
    assert unknown.projects == ["NOPE-1"] and unknown.amount_at_risk == 0  # no rate for a project nobody knows
    assert ExceptionItem.objects.filter(exception=unknown).count() == 2


def test_the_same_failure_again_counts_up_on_the_same_exception(setup):
    drop(setup["in"], "time-01.csv", BAD_ROWS)
    run_flow(setup["inbound"])
    drop(setup["in"], "time-02.csv", BAD_ROWS)

    run_flow(setup["inbound"])

    assert IntegrationException.objects.count() == 3
    unknown = _by_title()["project NOPE-1 is not known"]
    assert (unknown.occurrences, unknown.records_total, unknown.open_records) == (4, 2, 2)
    assert unknown.last_seen > unknown.first_seen


def test_a_run_is_taken_once_however_often_it_is_offered(setup):
    drop(setup["in"], "time-01.csv", BAD_ROWS)
    run = run_flow(setup["inbound"])

    again = exceptions_from_run(run=run)

    assert not again.taken and _by_title()["project NOPE-1 is not known"].occurrences == 2


def test_the_sweep_takes_runs_the_signal_missed(setup):
    drop(setup["in"], "time-01.csv", BAD_ROWS)
    run = run_flow(setup["inbound"])
    RunIngest.objects.filter(run=run).delete()
    IntegrationException.objects.filter(flow=setup["inbound"]).delete()

    assert runs_sweep() == 1
    assert _by_title()["project NOPE-1 is not known"].open_records == 2


def test_replaying_after_the_fix_resolves_the_exception_by_itself(setup):
    drop(setup["in"], "time-01.csv", BAD_ROWS)
    run_flow(setup["inbound"])
    unknown = _by_title()["project NOPE-1 is not known"]
    hub_upsert_all(connection=setup["in"], object_type="project", records=[
        CanonicalInput("project", "p2", {"code": "NOPE-1", "name": "Now known", "currency": "EUR"},
                       refs={"customer": Ref.code("ACME")})])

    [run] = fixing.exception_replay(exception=unknown, acting_user=None)
    run_until_done(run)

    unknown.refresh_from_db()
    assert (unknown.status, unknown.open_records, unknown.amount_at_risk) == (Status.RESOLVED, 0, 0)
    latest = unknown.history.latest("history_date")
    assert latest.history_user is None and "every record has succeeded" in latest.history_change_reason
    assert _by_title()["project NOPE-2 is not known"].status == Status.OPEN  # other failures are untouched


def test_a_replay_that_fails_again_reopens_the_exception(setup):
    engineer = member(Role.INTEGRATION_ENGINEER, partner=Partner.objects.get(slug="xpartner"), username="eve")
    drop(setup["in"], "time-01.csv", BAD_ROWS)
    run_flow(setup["inbound"])
    unknown = _by_title()["project NOPE-2 is not known"]
    services.exception_resolve(exception=unknown, acting_user=engineer, reason="Project created in the ERP")

    [run] = fixing.exception_replay(exception=IntegrationException.objects.get(pk=unknown.pk), acting_user=engineer)
    run_until_done(run)

    unknown.refresh_from_db()
    assert (unknown.status, unknown.cycle, unknown.open_records) == (Status.OPEN, 2, 1)
    reasons = list(unknown.history.order_by("history_date").values_list("history_change_reason", flat=True))
    assert reasons[-3:] == ["Resolved: Project created in the ERP", reasons[-2], reasons[-1]]
    assert reasons[-2].startswith("Replay of 1 record(s) requested")
    assert reasons[-1].startswith("Reopened by the system")


def test_an_outbound_replay_after_fixing_the_rule_resolves_and_a_new_failure_reopens(setup):
    drop(setup["in"], "time-01.csv", BAD_ROWS)
    run_flow(setup["inbound"])
    limit = _by_title()["over the 12 h daily limit"]
    ValidationRule.objects.filter(kind=RuleKind.DAILY_HOURS_LIMIT).update(params={"limit": 14})

    preview = fixing.exception_replay_preview(exception=limit)
    [run] = fixing.exception_replay(exception=limit, acting_user=None)
    run_until_done(run)

    assert sorted(p["action"] for p in preview) == ["write", "write"]
    limit.refresh_from_db()
    assert limit.status == Status.RESOLVED and limit.hours_at_risk == 0
    ValidationRule.objects.filter(kind=RuleKind.DAILY_HOURS_LIMIT).update(params={"limit": 12})
    drop(setup["in"], "time-02.csv", "t2,bob,ACME-042,2026-11-03,13.5,approved,longer still\n")
    run_flow(setup["inbound"])
    limit.refresh_from_db()
    assert (limit.status, limit.cycle, limit.open_records, limit.hours_at_risk) == (
        Status.OPEN, 2, 1, Decimal("13.50"))


def test_a_run_that_fails_as_a_whole_is_an_exception_until_a_run_succeeds(setup):
    setup["in"].settings = {"settle_seconds": 0, "encoding": "klingon"}  # refused before any file is read
    setup["in"].save()
    failed = run_flow(setup["inbound"])
    run_flow(setup["inbound"])
    exception = IntegrationException.objects.get(flow=setup["inbound"])
    assert failed.status == "failed" and exception.source == "run" and exception.kind == Kind.CONFIGURATION
    assert (exception.occurrences, exception.open_records) == (2, 1)

    setup["in"].settings = {"settle_seconds": 0}
    setup["in"].save()
    run_flow(setup["inbound"])

    exception.refresh_from_db()
    assert exception.status == Status.RESOLVED
    assert Run.objects.filter(flow=setup["inbound"]).count() == 3


def test_failed_webhook_events_are_exceptions_until_reprocessed(in_alpha):
    from django.utils import timezone

    from apps.connectors.services import connection_create
    from apps.exceptions.ingest import exceptions_from_events
    from apps.runs.models import InboundEvent

    hooks = connection_create(name="Hooks", kind="webhook", credentials={"signing_secret": "s" * 32}, acting_user=None)
    events = [InboundEvent.objects.create(connection=hooks, event_id=f"evt-{n}", event_type="record.changed",
                                          payload={}, status=InboundEvent.Status.FAILED, processed_at=timezone.now(),
                                          error_message="No enabled flow reads time_entries from connection 'x' "
                                                        "on webhook events.") for n in (1, 2)]

    exceptions_from_events()
    exceptions_from_events()  # counted once
    exception = IntegrationException.objects.get()
    assert (exception.source, exception.kind, exception.occurrences, exception.open_records) == (
        "webhook", Kind.CONFIGURATION, 2, 2)

    InboundEvent.objects.filter(pk__in=[e.pk for e in events]).update(status=InboundEvent.Status.PROCESSED)
    exceptions_from_events()
    exception.refresh_from_db()
    assert exception.status == Status.RESOLVED
