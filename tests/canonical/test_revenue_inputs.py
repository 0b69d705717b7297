"""Revenue inputs per project and month, as revenue schedules: what each month accrues. Time and materials: the
billable value. Fixed fee: the fee x the percent complete gained in the month (hours over budget hours), so the
months never add up past the fee; without budget hours or a fee, nothing, and the schedule says why."""

from datetime import date
from decimal import Decimal

import pytest

from apps.canonical.billing import revenue_inputs_store
from apps.canonical.models import ApprovalStatus, Project, RevenueSchedule, TimeEntry
from tests.canonical.factories import PersonFactory, ProjectFactory

FIXED, TM = Project.BillingType.FIXED, Project.BillingType.TIME_AND_MATERIALS
MONTHS = ("2026-03", "2026-04", "2026-05", "2026-06")


@pytest.fixture
def ann(in_alpha):
    return PersonFactory(code="ann", cost_rate=Decimal("55.00"))


def work(person, project, month: str, hours: int, *, bill_rate: str = "150.00") -> None:
    """``hours`` of approved billable time in ``month``, at most 10 a day."""
    day = 1
    while hours > 0:
        chunk = min(hours, 10)
        TimeEntry.objects.create(person=person, project=project, date=date.fromisoformat(f"{month}-{day:02d}"),
                                 hours=Decimal(chunk), approval_status=ApprovalStatus.APPROVED,
                                 bill_rate=Decimal(bill_rate))
        hours, day = hours - chunk, day + 1


def schedules(project) -> dict[str, RevenueSchedule]:
    stored = RevenueSchedule.objects.filter(project=project, kind=RevenueSchedule.Kind.FORECAST)
    return {f"{s.period:%Y-%m}": s for s in stored.order_by("period")}


def store() -> int:
    return revenue_inputs_store(start=date(2026, 3, 1), end=date(2026, 6, 30))


def test_a_fixed_fee_accrues_its_share_of_the_fee_by_percent_complete_never_more_than_the_fee(ann):
    audit = ProjectFactory(code="FIX-1", billing_type=FIXED, budget_amount=Decimal("30000"),
                           budget_hours=Decimal("300"))
    for month, hours in zip(MONTHS, (90, 120, 90, 30), strict=True):  # the fourth month is past the budget
        work(ann, audit, month, hours)
    store()

    found = schedules(audit)
    assert {m: s.amount for m, s in found.items()} == {
        "2026-03": Decimal("9000.00"), "2026-04": Decimal("12000.00"), "2026-05": Decimal("9000.00"),
        "2026-06": Decimal("0.00")}
    assert sum(s.amount for s in found.values()) == Decimal("30000.00")
    april = found["2026-04"]
    assert april.method == RevenueSchedule.Method.PERCENT_COMPLETE
    assert april.extra == {"billable_value": "18000.00", "cost": "6600.00", "hours": "120.00",
                           "percent_complete": "70.0", "fee": "30000.00", "percent_complete_before": "30.0",
                           "note": None}
    assert store() == 0  # nothing changed: nothing stored again


def test_rounding_never_takes_a_fixed_fee_past_its_total(ann):
    thirds = ProjectFactory(code="FIX-3", billing_type=FIXED, budget_amount=Decimal("10000"), budget_hours=Decimal("3"))
    for month in MONTHS[:3]:
        work(ann, thirds, month, 1)
    store()

    amounts = [s.amount for s in schedules(thirds).values()]
    assert amounts == [Decimal("3330.00"), Decimal("3340.00"), Decimal("3330.00")]  # 33.3 %, 66.7 %, 100.0 %
    assert sum(amounts) == Decimal("10000.00")


def test_time_and_materials_still_accrues_its_billable_value(ann):
    web = ProjectFactory(code="TM-1", billing_type=TM, budget_amount=Decimal("11000"))
    work(ann, web, "2026-03", 20)
    store()

    (march,) = schedules(web).values()
    assert (march.method, march.amount) == (RevenueSchedule.Method.TIME_AND_MATERIALS, Decimal("3000.00"))
    # Percent complete still by cost over the budget amount; no fixed-fee keys, so its content is as before.
    assert march.extra == {"billable_value": "3000.00", "cost": "1100.00", "hours": "20.00", "percent_complete": "10.0"}


def test_a_fixed_fee_without_budget_hours_accrues_nothing_and_says_why(ann):
    """Cost to date over the fee is not progress: no percent complete is guessed from it."""
    unmeasured = ProjectFactory(code="FIX-4", billing_type=FIXED, budget_amount=Decimal("30000"))
    no_fee = ProjectFactory(code="FIX-5", billing_type=FIXED, budget_hours=Decimal("100"))
    work(ann, unmeasured, "2026-03", 40)
    work(ann, no_fee, "2026-03", 40)
    store()

    (march,) = schedules(unmeasured).values()
    assert march.amount == Decimal("0.00") and march.extra["percent_complete"] is None
    assert march.extra["note"] == "no budget hours, so no percent complete: nothing of the fixed fee accrued"
    assert march.extra["billable_value"] == "6000.00"  # still there for the controller
    (no_fee_march,) = schedules(no_fee).values()
    assert no_fee_march.amount == Decimal("0.00") and no_fee_march.extra["percent_complete"] == "40.0"
    assert no_fee_march.extra["note"] == "fixed fee unknown (the project has no budget amount): nothing accrued"

    unmeasured.budget_hours = Decimal("80")  # once it has budget hours, its months are recomputed
    unmeasured.save()
    assert store() == 1
    assert schedules(unmeasured)["2026-03"].amount == Decimal("15000.00")
