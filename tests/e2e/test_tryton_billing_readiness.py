"""Accelerator "billing readiness" into the real Tryton: approved billable Harvest time (stateful, spec-checked fake)
becomes one draft customer invoice per project and month in Tryton (account.invoice, type out, state draft), found
by our reference before it is created, so re-runs never add a second one; more approved time replaces the draft's
lines while it is a draft there, and an invoice someone validated in Tryton is left alone, with a clear failure."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.canonical.models import Invoice
from apps.runs.models import ItemOutcome, RunItem
from apps.runs.outbound import record_reference
from tests.e2e.support import approved_time_chain, install, run_flow

pytestmark = pytest.mark.usefixtures("templates", "fanout")


@pytest.fixture
def chain(in_alpha, tryton, harvest):
    chain = approved_time_chain(in_alpha, tryton, harvest)
    install(in_alpha, "billing-readiness-tryton", bill_from="2026-03-01", open_from="2026-03-01")
    return chain


def tryton_invoices(tryton, reference: str) -> list[dict]:
    found = tryton.client.search_read("account.invoice", [["reference", "=", reference]],
                                      ["state", "party", "type", "untaxed_amount", "lines", "description"])
    for invoice in found:
        lines = tryton.client.read("account.invoice.line", invoice["lines"], ["description", "quantity", "unit_price"])
        invoice["lines"] = sorted((line["description"], line["quantity"], line["unit_price"]) for line in lines)
    return found


def test_a_months_approved_time_becomes_one_draft_invoice_in_tryton_updated_while_it_is_a_draft(chain, tryton,
                                                                                                harvest):
    project, ann, bo = chain.harvest_project, chain.user("ann"), chain.user("bo")
    harvest.add_time_entry(ann, project, spent_date="2026-03-02", hours=6, approved=True)
    harvest.add_time_entry(bo, project, spent_date="2026-03-10", hours=2.5, approved=True)
    run_flow("time-in")

    first = run_flow("invoices-to-tryton")

    assert first.counts == {"created": 1}, list(first.items.values_list("error_message", flat=True))
    draft = Invoice.objects.get(extra__billing_key__endswith=":2026-03")
    reference = record_reference("invoice", draft.pk)
    (invoice,) = tryton_invoices(tryton, reference)
    name = project["name"]
    assert (invoice["type"], invoice["state"], invoice["untaxed_amount"]) == ("out", "draft", Decimal("1275.00"))
    assert invoice["party"] == int(chain.tryton.external_refs.get(object_type="customer",
                                                                  canonical_id=draft.customer_id).external_id)
    assert invoice["lines"] == [(f"{name}, 2026-03: Ann Example", 6.0, Decimal("150.0000")),
                                (f"{name}, 2026-03: Bo Example", 2.5, Decimal("150.0000"))]
    assert invoice["description"] == draft.extra["billing_key"]

    assert run_flow("invoices-to-tryton").counts.get("created", 0) == 0  # a re-run makes no second invoice
    harvest.add_time_entry(ann, project, spent_date="2026-03-20", hours=1, approved=True)
    run_flow("time-in")
    assert run_flow("invoices-to-tryton").counts == {"updated": 1}
    (invoice,) = tryton_invoices(tryton, reference)
    assert invoice["untaxed_amount"] == Decimal("1425.00") and invoice["lines"][0][1] == 7.0

    tryton.client.execute("account.invoice", "validate_invoice", [int(RunItem.objects.filter(
        outcome=ItemOutcome.CREATED, run__flow__slug="invoices-to-tryton").get().target_external_id)])
    harvest.add_time_entry(bo, project, spent_date="2026-03-27", hours=1, approved=True)
    run_flow("time-in")
    refused = run_flow("invoices-to-tryton")
    assert refused.counts == {"failed": 1}
    assert "is validated: a draft is changed only while it is a draft there" in refused.items.get().error_message
    assert len(tryton_invoices(tryton, reference)) == 1
