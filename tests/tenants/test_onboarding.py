"""Onboarding creates schema, domain and first admin together, idempotently, or nothing at all."""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django_tenants.utils import schema_context, schema_exists

from apps.connectors.models import Connection
from apps.tenants import services
from apps.tenants.choices import Role
from apps.tenants.errors import OnboardingError
from apps.tenants.models import Customer, Domain, Membership, User
from tests.conftest import member


def _schemas() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nspname FROM pg_namespace")
        return {row[0] for row in cursor.fetchall()}


def test_onboarding_creates_schema_domain_and_customer_admin(cast):
    partner_admin = member(Role.PARTNER_ADMIN, partner=cast.xpartner)
    result = services.customer_onboard(
        partner=cast.xpartner, slug="delta-co", name="Delta Co", admin_email="ops@delta.example",
        acting_user=partner_admin,
    )
    customer = result.customer
    assert result.created and customer.schema_name == "delta_co" and schema_exists("delta_co")
    assert customer.domains.get().domain == "delta-co.x.test"
    admin = User.objects.get(username="ops@delta.example")
    assert admin.check_password(result.admin_password)
    assert Membership.objects.get(user=admin).role == Role.CUSTOMER_ADMIN
    with schema_context("delta_co"):  # a working schema, cloned from the template
        Connection.objects.create(name="Delta Harvest", kind="harvest")
        assert Connection.objects.count() == 1
    assert customer.history.get().history_user == partner_admin


def test_onboarding_twice_changes_nothing_and_says_so(cast):
    first = services.customer_onboard(
        partner=cast.xpartner, slug="echo", name="Echo", admin_email="e@echo.example", acting_user=None
    )
    before = (Customer.objects.count(), Domain.objects.count(), User.objects.count(), Membership.objects.count())
    again = services.customer_onboard(
        partner=cast.xpartner, slug="echo", name="Echo", admin_email="e@echo.example", acting_user=None
    )
    assert not again.created and again.customer == first.customer and again.admin_password is None
    assert "nothing changed" in again.messages[0]
    after = (Customer.objects.count(), Domain.objects.count(), User.objects.count(), Membership.objects.count())
    assert after == before


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"slug": "alpha", "partner": "ypartner"}, "already in use"),
        ({"slug": "alpha", "name": "Someone Else"}, "already onboarded and differs"),
        ({"domain": "not a domain!"}, "not a valid domain"),
        ({"domain": "alpha.x.test"}, "already serves another customer"),
        ({"slug": "Bad_Slug"}, "lower-case letters"),
        ({"slug": "public"}, "reserved"),
        ({"name": "<script>alert(1)</script>"}, "plain text"),
        ({"admin_email": "not-an-email"}, "valid email"),
    ],
)
def test_bad_input_is_refused_clearly_and_leaves_nothing_half_made(cast, changes, message):
    arguments = {"partner": "xpartner", "slug": "foxtrot", "name": "Alpha" if changes.get("slug") == "alpha"
                 else "Foxtrot", "admin_email": "f@foxtrot.example", "domain": None}
    arguments.update(changes)
    partner = cast.xpartner if arguments.pop("partner") == "xpartner" else cast.ypartner
    schemas_before, users_before = _schemas(), User.objects.count()

    with pytest.raises(OnboardingError, match=message):
        services.customer_onboard(partner=partner, acting_user=None, **arguments)

    assert _schemas() == schemas_before
    assert User.objects.count() == users_before
    assert not Customer.objects.filter(slug="foxtrot").exists()


def test_a_failure_midway_rolls_back_schema_and_rows(cast, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "_membership_save", explode)
    with pytest.raises(RuntimeError):
        services.customer_onboard(
            partner=cast.xpartner, slug="golf", name="Golf", admin_email="g@golf.example", acting_user=None
        )
    assert "golf" not in _schemas()
    assert not Customer.objects.filter(slug="golf").exists()
    assert not Domain.objects.filter(domain="golf.x.test").exists()


def test_command_onboards_and_reports_a_rerun(cast, capsys):
    call_command("onboard_customer", "xpartner", "hotel", "Hotel Group")
    first = capsys.readouterr().out
    assert "Onboarded Hotel Group (hotel) at hotel.x.test" in first and "Initial password" in first
    call_command("onboard_customer", "xpartner", "hotel", "Hotel Group")
    assert "nothing changed" in capsys.readouterr().out


def test_command_names_an_unknown_partner(cast):
    with pytest.raises(CommandError, match="No partner with slug 'nobody'"):
        call_command("onboard_customer", "nobody", "india", "India")


def test_onboarding_refuses_to_clone_a_stale_template(cast, monkeypatch):
    monkeypatch.setattr(services, "template_pending_migrations", lambda: ["connectors.0099_new"])
    with pytest.raises(services.TemplateSchemaError):
        services.customer_onboard(
            partner=cast.xpartner, slug="juliet", name="Juliet", admin_email="j@juliet.example", acting_user=None
        )
    assert "juliet" not in _schemas()


def test_template_is_fully_migrated_and_not_a_customer(cast):
    assert services.template_pending_migrations() == []
    assert not Customer.objects.firms().filter(schema_name="weft_template").exists()


def test_a_new_tenant_has_every_migration_and_content_type_of_the_template(cast):
    services.customer_onboard(
        partner=cast.xpartner, slug="kilo-clone", name="Kilo", admin_email="k@kilo.example", acting_user=None
    )
    with schema_context("kilo_clone"):
        executor = MigrationExecutor(connection)
        assert executor.migration_plan(executor.loader.graph.leaf_nodes()) == []
        assert ContentType.objects.filter(app_label="canonical", model="timeentry").exists()


def test_a_deleted_customers_schedules_go_with_it_and_no_one_elses(cast):
    from django_q.models import Schedule

    from apps.runs.models import Flow
    from apps.runs.schedules import flow_schedule_sync

    doomed = services.customer_onboard(partner=cast.xpartner, slug="hotel", name="Hotel", admin_email="h@hotel.example",
                                       acting_user=None).customer
    names = {}
    for customer in (doomed, cast.alpha):
        with schema_context(customer.schema_name):
            flow = Flow(pk=1, slug="nightly", schedule_minutes=60)  # the schedule needs no more of a flow
            names[customer.slug] = flow_schedule_sync(flow=flow).name

    doomed.delete(force_drop=True)

    assert not Schedule.objects.filter(name=names["hotel"]).exists()  # it would fail on every tick otherwise
    assert Schedule.objects.filter(name=names["alpha"]).exists()
