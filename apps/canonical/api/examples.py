"""Examples in the customer API's OpenAPI document for hub records: one per object type, list and detail."""

from apps.common.api import example_answer, example_page


def _hub(pk: int, **fields) -> dict:
    return {"id": pk, "created_at": "2026-11-02T09:14:00Z", "updated_at": "2026-12-05T07:55:00Z", "extra": {},
            "deleted_at": None, "source_connection": 2, **fields}


RECORDS = {
    "customer": _hub(14, code="GLOBEX", name="Globex Corporation", currency="EUR", payment_terms="30 days net",
                     tax_id="DE811907980", is_active=True, parent=None),
    "project": _hub(57, code="GLX-2026-07", name="Globex ERP rollout", status="active", start_date="2026-07-01",
                    end_date="2027-03-31", billing_type="tm", budget_amount="180000.00", budget_hours="1500.00",
                    currency="EUR", default_bill_rate="120.00", customer=14, manager=311, rate_card=3),
    "person": _hub(311, code="E-0117", name="Ana Costa", email="ana.costa@acme.example", employment="employee",
                   practice="Advisory", capacity_hours_per_week="40.00", cost_rate="62.00", cost_currency="EUR",
                   is_active=True),
    "assignment": _hub(902, role="Lead consultant", start_date="2026-07-01", end_date="2026-12-31",
                       planned_hours="600.00", bill_rate_override=None, person=311, project=57),
    "time_entry": _hub(9120, task="Data migration", date="2026-12-03", hours="8.00", billable=True,
                       approval_status="approved", approved_at="2026-12-04T17:30:00Z", approver="m.weber",
                       bill_rate="120.00", cost_rate="62.00", currency="EUR", notes="Customer master load",
                       person=311, project=57),
    "expense": _hub(450, date="2026-12-02", category="Travel", amount="184.60", currency="EUR", billable=True,
                    approval_status="submitted", approved_at=None, notes="Train Berlin-Hamburg", person=311,
                    project=57),
    "invoice": _hub(77, number="INV-2026-0412", kind="invoice", issue_date="2026-11-30", due_date="2026-12-30",
                    status="sent", currency="EUR", amount_net="24000.00", amount_tax="4560.00",
                    amount_total="28560.00", customer=14, project=57),
    "revenue_schedule": _hub(1203, method="tm", period="2026-11-01", kind="recognised", amount="24000.00",
                             currency="EUR", project=57),
    "rate_card": _hub(3, code="STD-2026", name="Standard 2026", role="Consultant", currency="EUR",
                      bill_rate="120.00", cost_rate="62.00", effective_from="2026-01-01", effective_to=None,
                      project=None),
}


def list_examples(url_name: str, object_type: str) -> list:
    label = url_name.replace("-", " ")
    return [example_page(f"A page of {label}", RECORDS[object_type], path=f"hub/{url_name}/", cursor=True)]


def detail_examples(object_type: str) -> list:
    return [example_answer(f"A {object_type.replace('_', ' ')}", RECORDS[object_type])]
