"""Accelerators install in one action, re-install changes nothing, and configuration round-trips
through a file from a sandbox customer to production."""

import pytest
import yaml
from django.core.management import call_command
from django_tenants.utils import schema_context

from apps.accelerators.configuration import ConfigurationError, configuration_export, configuration_install
from apps.accelerators.models import FlowTemplate
from apps.accelerators.selectors import templates_for_customer
from apps.accelerators.services import template_install, templates_sync_builtin
from apps.connectors.models import Connection, ConnectorManifest
from apps.connectors.services import connection_create
from apps.mappings.models import Mapping, VersionStatus
from apps.runs import engine
from apps.runs.models import Flow
from tests.factories import PartnerFactory


@pytest.fixture
def builtins(db):
    templates_sync_builtin()
    return {t.slug: t for t in FlowTemplate.objects.filter(partner__isnull=True)}


def _journal_connections():
    connection_create(name="Time export", slug="time-export", kind="csv", acting_user=None)
    connection_create(name="ERP journal", slug="erp-journal", kind="csv", acting_user=None)


def test_builtin_accelerators_load_and_every_one_validates(builtins):
    assert {"approved-time-to-erp", "approved-time-to-xero", "approved-time-to-journal", "project-setup",
            "people-from-hr"} <= set(builtins)
    for template in builtins.values():
        assert template.definition["flows"], template.slug


def test_installing_a_template_creates_flows_rules_and_a_published_mapping(cast, builtins):
    with schema_context("alpha"):
        _journal_connections()
        report = template_install(template=builtins["approved-time-to-journal"], variables={"max_hours_per_day": 10},
                                  customer=cast.alpha, acting_user=None)
        assert sorted(Flow.objects.values_list("slug", flat=True)) == ["time-in", "time-to-journal"]
        outbound = Flow.objects.get(slug="time-to-journal")
        assert outbound.installed_from == "approved-time-to-journal@1" and outbound.on_hub_change
        assert outbound.rule_set.rules.get(kind="daily_hours_limit").params == {"limit": 10}
        mapping = Mapping.objects.get(slug="time-entry-to-journal")
        assert mapping.versions.get().status == VersionStatus.PUBLISHED
        assert len(report.created) == 4  # the two connections existed already

        again = template_install(template=builtins["approved-time-to-journal"],
                                 variables={"max_hours_per_day": 10}, customer=cast.alpha, acting_user=None)
        assert again.created == [] and again.updated == [] and len(again.unchanged) == 6
        assert mapping.versions.count() == 1


def test_install_creates_missing_connections_disabled_until_credentials_are_entered(cast, builtins):
    with schema_context("alpha"):
        report = template_install(template=builtins["project-setup"], variables={}, customer=cast.alpha,
                                  acting_user=None)
        assert any("connection tryton (disabled" in line for line in report.created)
        tryton = Connection.objects.get(slug="tryton")
        assert tryton.kind == "tryton" and not tryton.is_enabled and not tryton.has_credentials
        run = engine.flow_run_request(flow=Flow.objects.get(slug="erp-customers-in"), trigger="manual",
                                      enqueue=False, acting_user=None)
        run = engine.run_execute(run_id=run.pk)
        assert run.status == "paused" and "disabled" in run.error_message


def test_a_template_brings_the_shipped_manifest_its_rest_connection_needs(cast, builtins):
    with schema_context("alpha"):
        report = template_install(template=builtins["people-from-hr"], variables={"hr_connection": "hris"},
                                  customer=cast.alpha, acting_user=None)
        hris = Connection.objects.get(slug="hris")
        assert hris.kind == "rest" and hris.settings["manifest"] == "finch" and not hris.is_enabled
        assert ConnectorManifest.objects.get(slug="finch").published_version() is not None
        assert "manifest finch" in report.created and report.secrets_needed["hris"] == ["access_token"]
        again = template_install(template=builtins["people-from-hr"], variables={"hr_connection": "hris"},
                                 customer=cast.alpha, acting_user=None)
        assert again.created == [] and again.updated == []
        assert ConnectorManifest.objects.get(slug="finch").versions.count() == 1


def test_a_template_may_share_but_not_silently_move_another_templates_flow(cast, builtins):
    with schema_context("alpha"):
        _journal_connections()
        template_install(template=builtins["approved-time-to-journal"], variables={}, customer=cast.alpha,
                         acting_user=None)
        # approved-time-to-erp's defaults read time from Harvest through the same time-in flow
        with pytest.raises(ConfigurationError, match="'time-in' already reads from connection 'time-export'"):
            template_install(template=builtins["approved-time-to-erp"], variables={}, customer=cast.alpha,
                             acting_user=None)
        assert Flow.objects.get(slug="time-in").connection.slug == "time-export"
        assert not Connection.objects.filter(slug__in=["harvest", "tryton"]).exists()  # nothing half-installed

        template_install(template=builtins["approved-time-to-erp"], customer=cast.alpha, acting_user=None,
                         variables={"time_connection": "time-export", "read_people": False})
        assert Flow.objects.get(slug="time-in").connection.slug == "time-export"
        assert Flow.objects.filter(slug="time-to-erp").exists()


def test_unknown_variables_are_refused(cast, builtins):
    with schema_context("alpha"), pytest.raises(ConfigurationError, match="Unknown variable"):
        template_install(template=builtins["project-setup"], variables={"colour": "blue"}, customer=cast.alpha,
                         acting_user=None)


def test_an_entry_with_when_is_installed_only_when_its_variable_is_set(cast):
    definition = {"variables": {"time_connection": {"default": ""}},
                  "connections": [{"slug": "export", "kind": "csv"},
                                  {"slug": "{{ time_connection }}", "kind": "csv", "when": "{{ time_connection }}"}],
                  "flows": [{"slug": "time-out", "name": "Time out", "direction": "outbound",
                             "object_type": "time_entry", "connection": "{{ time_connection }}",
                             "object_name": "time_entries",
                             "when": "{{ time_connection }}"}]}
    with schema_context("alpha"):
        left_out = configuration_install(definition=definition, acting_user=None)
        assert [c.split(" (")[0] for c in left_out.created] == ["connection export"] and not Flow.objects.exists()

        configuration_install(definition=definition, variables={"time_connection": "times"}, acting_user=None)
        assert Flow.objects.get(slug="time-out").connection.slug == "times"
        assert set(Connection.objects.values_list("slug", flat=True)) == {"export", "times"}


def test_a_partners_own_template_is_invisible_to_other_partners_customers(cast, builtins):
    FlowTemplate.objects.create(partner=cast.ypartner, slug="y-special", name="Y special", definition={"flows": []})
    assert templates_for_customer(cast.gamma).filter(slug="y-special").exists()
    assert not templates_for_customer(cast.alpha).filter(slug="y-special").exists()
    other = PartnerFactory()
    assert not templates_for_customer(cast.beta).filter(partner=other).exists()


def test_configuration_moves_from_sandbox_to_production_through_a_file(cast, builtins, tmp_path):
    with schema_context("alpha"):
        _journal_connections()
        template_install(template=builtins["approved-time-to-journal"], variables={}, customer=cast.alpha,
                         acting_user=None)
    exported = tmp_path / "alpha.yaml"
    call_command("export_config", "--customer", "alpha", "-o", str(exported))
    data = yaml.safe_load(exported.read_text())
    assert [f["slug"] for f in data["flows"]] == ["time-in", "time-to-journal"]

    with schema_context("beta"):
        _journal_connections()
    call_command("import_config", "--customer", "beta", str(exported))
    with schema_context("beta"):
        assert configuration_export() == {**data}
        assert Flow.objects.get(slug="time-to-journal").rule_set.rules.count() == 4


def test_onboarding_can_install_templates(cast, builtins, capsys):
    call_command("onboard_customer", "xpartner", "kilo", "Kilo", "--template", "project-setup",
                 "--var", "erp_connection=erp")
    out = capsys.readouterr().out
    assert "Onboarded Kilo" in out and "Installed Project setup" in out
    with schema_context("kilo"):
        assert Flow.objects.get(slug="erp-projects-in").connection.slug == "erp"


def test_configuration_install_rolls_back_on_error(cast):
    definition = {"flows": [{"slug": "x", "name": "X", "direction": "inbound", "object_type": "time_entry",
                             "connection": "nope", "object_name": "time_entries"}],
                  "rule_sets": [{"slug": "rs", "name": "RS", "object_type": "time_entry", "rules": []}]}
    with schema_context("alpha"):
        with pytest.raises(ConfigurationError):
            configuration_install(definition=definition, acting_user=None)
        assert not Flow.objects.exists()
        from apps.mappings.models import RuleSet

        assert not RuleSet.objects.exists()


def test_a_premium_template_needs_a_plan_that_includes_premium_templates(cast, builtins):
    from apps.tenants.errors import PlanFeatureDenied
    from apps.tenants.models import Plan

    premium = FlowTemplate.objects.create(partner=cast.xpartner, slug="premium-x", name="Premium X", is_premium=True,
                                          definition={"flows": []})
    basic = Plan.objects.create(partner=cast.xpartner, name="Basic", slug="basic", monthly_price="99", features=[])
    cast.alpha.plan = basic
    cast.alpha.save(update_fields=["plan"])
    with schema_context("alpha"), pytest.raises(PlanFeatureDenied, match="premium template"):
        template_install(template=premium, variables={}, customer=cast.alpha, acting_user=None)
    basic.features = ["premium_templates"]
    basic.save()
    cast.alpha.refresh_from_db()
    with schema_context("alpha"):
        template_install(template=premium, variables={}, customer=cast.alpha, acting_user=None)


def test_an_export_carries_connections_without_secrets_policies_and_reporting_settings(cast, tmp_path, capsys):
    from datetime import date, time
    from decimal import Decimal

    from apps.exceptions.models import EscalationPolicy
    from apps.reporting.models import ReportingSettings
    from apps.reporting.services import reporting_settings_update

    with schema_context("alpha"):
        connection_create(name="Tryton ERP", slug="tryton", kind="tryton", acting_user=None,
                          settings={"url": "https://erp.example.com", "database": "firm", "company": 1},
                          credentials={"username": "weft", "password": "s3cret-Passw0rd"})
        EscalationPolicy.objects.create(name="Finance", rules=[{"name": "big", "min_amount": "1000", "notify": True}],
                                        email_recipients=["finance@example.com"], quiet_start=time(22),
                                        quiet_end=time(7), timezone="Europe/Berlin")
        reporting_settings_update(changes={"time_basis": "all", "go_live_date": date(2026, 9, 1),
                                           "hourly_cost": Decimal("75")}, acting_user=None)
    exported = tmp_path / "alpha.yaml"
    call_command("export_config", "--customer", "alpha", "-o", str(exported))
    text = exported.read_text()
    assert "s3cret-Passw0rd" not in text and "credentials_token" not in text
    data = yaml.safe_load(text)
    [tryton] = [c for c in data["connections"] if c["slug"] == "tryton"]
    assert tryton["settings"]["url"] == "https://erp.example.com" and tryton["secrets"] == ["username", "password"]
    assert data["escalation_policies"][0]["quiet_start"] == "22:00"
    assert data["reporting"]["time_basis"] == "all" and data["reporting"]["go_live_date"] == "2026-09-01"

    call_command("import_config", "--customer", "beta", str(exported))
    out = capsys.readouterr().out
    assert "Secrets to enter" in out and "connection tryton: username, password" in out
    with schema_context("beta"):
        made = Connection.objects.get(slug="tryton")
        assert made.settings == tryton["settings"] and not made.is_enabled and not made.has_credentials
        policy = EscalationPolicy.objects.get(name="Finance")
        assert (policy.quiet_start, policy.timezone, policy.email_recipients) == (
            time(22), "Europe/Berlin", ["finance@example.com"])
        settings = ReportingSettings.current()
        assert (settings.time_basis, settings.go_live_date, settings.hourly_cost) == ("all", date(2026, 9, 1),
                                                                                     Decimal("75.00"))
        assert settings.history.first().history_change_reason == "Installed from configuration"
        again = configuration_install(definition=data, acting_user=None)
        assert again.created == [] and again.updated == [] and again.secrets_needed == {"tryton": ["username",
                                                                                                  "password"]}
