"""The demo's resource plan: after seeding, the customer's forward view has real figures (someone over-booked,
someone under-booked) and the bookings file's two bad rows are exceptions."""

from __future__ import annotations

from datetime import date

from apps.accelerators.services import templates_sync_builtin
from apps.demo import resource_plan
from apps.demo.flows import demo_flows_seed
from apps.exceptions.models import IntegrationException
from apps.reporting import selectors
from apps.reporting.filters import ReportFilters

TODAY = date(2026, 3, 4)


def test_the_demo_customer_gets_a_forward_resource_plan(in_alpha, monkeypatch):
    monkeypatch.setattr(resource_plan, "DEMO_CUSTOMER", in_alpha.slug)
    templates_sync_builtin()
    demo_flows_seed(customer=in_alpha, today=TODAY)

    assert resource_plan.demo_resource_plan_seed(customer=in_alpha, today=TODAY)
    assert not resource_plan.demo_resource_plan_seed(customer=in_alpha, today=TODAY)  # once

    table = selectors.resource_plan(filters=ReportFilters(start=TODAY))
    assert len({row["week"] for row in table.rows}) == 8
    assert table.summary["over_booked"] and table.summary["under_booked"]
    messages = " ".join(IntegrationException.objects.filter(flow__slug="bookings-in").values_list("message",
                                                                                                  flat=True))
    assert "nobody.initech" in messages and "ends before it starts" in messages
