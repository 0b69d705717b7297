"""Money at risk: priced from the row's own rate and billable flag, and counted once per source record however
many exceptions name it (a failed entry and the reconciliation gap it causes are one risk, not two)."""

from datetime import UTC, date, datetime
from decimal import Decimal

from apps.connectors.services import connection_files_root
from apps.exceptions.choices import Kind
from apps.exceptions.models import IntegrationException
from apps.reporting import selectors
from apps.reporting.filters import ReportFilters
from apps.reporting.health import customer_health_compute
from apps.reporting.services import reconciliation_check
from tests.runs.journal import run_flow

HEADER = "id,person,project,date,hours,approval_status,billable,bill_rate,currency,notes\n"
ROWS = (
    "t1,bob,ACME-042,2026-11-03,13,approved,yes,200,,own rate over the project's 150\n"
    "t2,ann,ACME-042,2026-11-04,13,approved,no,,,not billable\n"
    "t3,ann,NOPE-1,2026-11-05,2,approved,yes,120,USD,unknown project with a rate\n"
    "t4,bob,NOPE-1,2026-11-06,3,approved,yes,,,unknown project without a rate\n"
    "t6,ann,NOPE-1,2026-11-07,4,approved,No,90,USD,unknown project with a rate but not billable\n"
)


def _drop(connection, rows: str = ROWS, name: str = "time-01.csv") -> None:
    inbox = connection_files_root(connection) / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / name).write_text(HEADER + rows)


def _exception(kind: str) -> IntegrationException:
    return IntegrationException.objects.get(kind=kind)


def test_money_at_risk_uses_the_rows_own_rate_and_billable_flag(setup):
    _drop(setup["in"])

    run_flow(setup["inbound"])

    limit = _exception(Kind.VALIDATION)  # t1 and t2: over the 12 h daily limit on the way out
    records = {r.context["person"]: r for r in limit.records.all()}
    assert (records["Bob Ray"].amount, records["Bob Ray"].currency) == (Decimal("2600.00"), "EUR")  # 13 h × 200
    assert (records["Ann Lee"].hours, records["Ann Lee"].amount) == (Decimal("13.00"), Decimal("0.00"))  # Billable?=No
    assert (limit.hours_at_risk, limit.amount_at_risk) == (Decimal("26.00"), Decimal("2600.00"))
    unknown = _exception(Kind.MISSING_REFERENCE)  # t3, t4, t6: the project is unknown, t3 carries its own rate
    assert unknown.amounts == {"USD": "240.00"} and unknown.hours_at_risk == Decimal("9.00")  # t6: Billable?=No
    assert selectors.money_at_risk(filters=ReportFilters()).amounts == {"EUR": Decimal("2600.00"),
                                                                        "USD": Decimal("240.00")}


def test_an_entry_and_the_reconciliation_gap_it_causes_are_counted_once(setup):
    _drop(setup["in"], ROWS.splitlines(keepends=True)[0])  # t1 fails on its way to the journal
    run_flow(setup["inbound"])
    november = ReportFilters(start=date(2026, 11, 2), end=date(2026, 11, 8))

    reconciliation_check(filters=november, now=datetime(2026, 11, 20, tzinfo=UTC))

    gap = _exception(Kind.RECONCILIATION)  # the week of 2 November: the hub has 13 h / 2,600, the journal nothing
    assert (gap.hours_at_risk, gap.amount_at_risk) == (Decimal("13.00"), Decimal("2600.00"))
    assert _exception(Kind.VALIDATION).amount_at_risk == Decimal("2600.00")
    risk = selectors.money_at_risk(filters=ReportFilters())
    assert (risk.amounts, risk.hours) == ({"EUR": Decimal("2600.00")}, Decimal("13.00"))  # not 5,200 and 26 h
    table = selectors.exceptions_by_kind_age(filters=ReportFilters())
    assert table.summary["amount_at_risk"] == {"EUR": Decimal("2600.00")}
    health = customer_health_compute()
    assert health["money_at_risk_by_currency"] == {"EUR": Decimal("2600.00")}
    assert (health["money_at_risk"], health["money_at_risk_currency"]) == (Decimal("2600.00"), "EUR")


def test_a_reconciliation_gap_beyond_the_failed_entries_still_counts(setup):
    # t1 (2,600) fails on the way out; t5 (7 h × 150 = 1,050) is fine but never reached the journal (sent
    # nowhere yet): the week's gap of 3,650 is 2,600 already counted on t1 plus 1,050 of its own.
    _drop(setup["in"], ROWS.splitlines(keepends=True)[0])
    setup["outbound"].on_hub_change = False
    setup["outbound"].save(update_fields=["on_hub_change"])
    run_flow(setup["inbound"])
    run_flow(setup["outbound"])
    _drop(setup["in"], "t5,ann,ACME-042,2026-11-05,7,approved,yes,,,fine but not sent\n", "time-02.csv")
    run_flow(setup["inbound"])

    reconciliation_check(filters=ReportFilters(start=date(2026, 11, 2), end=date(2026, 11, 8)),
                         now=datetime(2026, 11, 20, tzinfo=UTC))

    assert _exception(Kind.RECONCILIATION).amount_at_risk == Decimal("3650.00")
    assert selectors.money_at_risk(filters=ReportFilters()).amounts == {"EUR": Decimal("3650.00")}
