"""A customer records which template version it runs and with which variables, so a newer version installs over
it without asking again; a partner upgrades all its customers in one action, one failure not stopping the rest."""

import copy
from decimal import Decimal

import pytest
from django.core.management import call_command
from django_tenants.utils import schema_context

from apps.accelerators.configuration import ConfigurationError
from apps.accelerators.models import FlowTemplate, TemplateInstallation
from apps.accelerators.selectors import installations_behind, installations_for_customer
from apps.accelerators.services import (
    customer_template_install,
    customer_template_upgrade,
    template_upgrade_customers,
    templates_sync_builtin,
)
from apps.connectors.services import connection_create
from apps.runs.models import Flow
from apps.tenants import plans
from apps.tenants.choices import Role
from tests.conftest import member


@pytest.fixture
def journal(db):
    templates_sync_builtin()
    return FlowTemplate.objects.get(partner__isnull=True, slug="approved-time-to-journal")


def _install(customer, template, limit):
    with schema_context(customer.schema_name):
        connection_create(name="Time export", slug="time-export", kind="csv", acting_user=None)
        connection_create(name="ERP journal", slug="erp-journal", kind="csv", acting_user=None)
    customer_template_install(customer=customer, template=template, variables={"max_hours_per_day": limit},
                              acting_user=None)


def _new_version(template: FlowTemplate) -> FlowTemplate:
    """The template's next version: the outbound flow posts in batches of 250 (a change an upgrade must bring)."""
    definition = copy.deepcopy(template.definition)
    for flow in definition["flows"]:
        if flow["slug"] == "time-to-journal":
            flow["batch_size"] = 250
    template.definition, template.version = definition, template.version + 1
    template.save()
    return template


def test_an_install_records_the_version_and_the_variables(cast, journal):
    _install(cast.alpha, journal, 10)
    installation = TemplateInstallation.objects.get(customer=cast.alpha, template=journal)
    assert (installation.version, installation.variables) == (1, {"max_hours_per_day": 10})
    assert installations_for_customer(cast.alpha)[0].upgrade_to is None


def test_an_upgrade_installs_the_new_version_with_the_recorded_variables(cast, journal):
    _install(cast.alpha, journal, 10)
    _new_version(journal)
    assert [i.customer.slug for i in installations_behind(journal)] == ["alpha"]
    assert installations_for_customer(cast.alpha)[0].upgrade_to == 2

    report = customer_template_upgrade(customer=cast.alpha, template=journal, acting_user=None)

    assert report.updated  # the flows changed
    with schema_context("alpha"):
        outbound = Flow.objects.get(slug="time-to-journal")
        assert outbound.installed_from == "approved-time-to-journal@2"
        assert outbound.batch_size == 250
        assert outbound.rule_set.rules.get(kind="daily_hours_limit").params == {"limit": 10}  # variable kept
    assert TemplateInstallation.objects.get(customer=cast.alpha, template=journal).version == 2
    assert customer_template_upgrade(customer=cast.alpha, template=journal, acting_user=None) is None
    assert not installations_behind(journal).exists()


def test_a_customer_that_never_installed_the_template_is_told_to_install_it(cast, journal):
    with pytest.raises(ConfigurationError, match="install it first"):
        customer_template_upgrade(customer=cast.beta, template=journal, acting_user=None)


def test_upgrading_all_customers_reports_each_failure_and_upgrades_the_rest(cast, journal):
    _install(cast.alpha, journal, 10)
    _install(cast.beta, journal, 8)
    plan = plans.plan_create(partner=cast.xpartner, features=[], acting_user=None, name="Basic", slug="basic",
                             monthly_price=Decimal("490"), currency="EUR", included_records=1000,
                             included_runs=100, included_api_calls=500)
    plans.customer_plan_set(customer=cast.beta, plan=plan, acting_user=None)  # a plan without premium templates
    _new_version(journal)
    journal.is_premium = True  # v2 became premium
    journal.save()

    outcome = template_upgrade_customers(template=journal, acting_user=None)

    assert outcome.upgraded == ["alpha"] and list(outcome.failed) == ["beta"], outcome
    assert "premium" in outcome.failed["beta"]
    assert TemplateInstallation.objects.get(customer=cast.beta, template=journal).version == 1  # left as it was


def test_a_partner_upgrades_only_its_own_customers(cast, journal):
    _install(cast.alpha, journal, 10)
    _install(cast.gamma, journal, 10)  # the other partner's customer
    _new_version(journal)
    engineer = member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner, username="x-engineer")

    outcome = template_upgrade_customers(template=journal, acting_user=engineer)

    assert outcome.upgraded == ["alpha"] and not outcome.failed
    assert TemplateInstallation.objects.get(customer=cast.gamma, template=journal).version == 1


def test_the_upgrade_command_upgrades_customers_on_an_older_builtin_version(cast, journal):
    _install(cast.alpha, journal, 10)
    TemplateInstallation.objects.filter(customer=cast.alpha).update(version=0)  # as if installed before a deploy

    call_command("upgrade_template", "approved-time-to-journal")

    assert TemplateInstallation.objects.get(customer=cast.alpha, template=journal).version == journal.version
