"""The demo's remaining accelerators: installed once as a partner leaves them (what needs an outside system waits,
its time and invoice flows off), and the master-data files read through reference-data-from-files."""

from __future__ import annotations

from datetime import date

from apps.accelerators.models import TemplateInstallation
from apps.accelerators.services import templates_sync_builtin
from apps.connectors.models import Connection
from apps.demo import accelerators
from apps.demo.flows import demo_flows_seed
from apps.runs.models import Flow, RunStatus

TODAY = date(2026, 3, 4)


def test_a_demo_customer_gets_its_accelerators_once_waiting_for_credentials(in_alpha, monkeypatch):
    acme = accelerators.installs(TODAY)["acme"]
    monkeypatch.setattr(accelerators, "installs", lambda today: {in_alpha.slug: acme})
    templates_sync_builtin()
    demo_flows_seed(customer=in_alpha, today=TODAY)

    assert accelerators.demo_accelerators_seed(customer=in_alpha, today=TODAY) == [slug for slug, _ in acme]
    assert accelerators.demo_accelerators_seed(customer=in_alpha, today=TODAY) == []  # seed_demo re-runs
    assert set(TemplateInstallation.objects.filter(customer=in_alpha).values_list("template__slug", flat=True)) >= {
        slug for slug, _ in acme}
    tryton = Connection.objects.get(slug="tryton")
    assert not tryton.is_enabled and not Connection.objects.get(slug="harvest").is_enabled
    flows = {f.slug: f for f in Flow.objects.all()}
    assert not flows["time-to-erp"].is_enabled and not flows["invoices-to-tryton"].is_enabled
    latest = flows["time-to-erp"].history.order_by("history_date").last()
    assert latest.history_change_reason == "Demo: waits for Tryton ERP to be connected"
    assert flows["time-in"].is_enabled and flows["time-in"].connection.slug == "time-export"  # the journal's time
    for slug in ("customers-in", "people-in", "projects-in"):
        run = flows[slug].runs.get()
        assert run.status == RunStatus.SUCCEEDED and sum(run.counts.values()) >= 3, (slug, run.counts)
