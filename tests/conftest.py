"""The test cast: real PostgreSQL, three customer schemas made once per session.

Partner "xpartner" serves customers alpha and beta; partner "ypartner" serves gamma. Schemas and
their rows in the public schema are committed once; each test's own rows roll back.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from apps.tenants import services
from apps.tenants.choices import Role
from apps.tenants.models import Customer, Partner
from tests.factories import MembershipFactory, PartnerFactory, UserFactory

# Session fixtures prism_harvest, prism_xero_accounting, prism_xero_projects (vendor mock servers);
# tryton (a real Tryton server).
pytest_plugins = ["tests.vendor_mocks.prism", "tests.tryton.conftest_plugin"]


@dataclass
class Cast:
    xpartner: Partner
    ypartner: Partner
    alpha: Customer
    beta: Customer
    gamma: Customer


def _onboard(partner: Partner, slug: str) -> Customer:
    result = services.customer_onboard(
        partner=partner, slug=slug, name=slug.title(), admin_email=f"{slug}-admin@example.com",
        admin_password="pw", acting_user=None,
    )
    return result.customer


@pytest.fixture(scope="session")
def django_db_setup(request, django_test_environment, django_db_blocker):
    # Set up the test database whenever a fixture asks for it, not only when a collected test uses `db`:
    # the cluster tests commit through django_db_blocker and must find the schema even when run alone.
    from django.test.utils import setup_databases, teardown_databases

    with django_db_blocker.unblock():
        db_cfg = setup_databases(verbosity=request.config.option.verbose, interactive=False, aliases={"default"})
        _cast_create()
    yield
    with django_db_blocker.unblock():
        # A cluster or web server a test stopped may not have closed its sessions yet; the database cannot be
        # dropped while they are connected.
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                           " WHERE datname = current_database() AND pid <> pg_backend_pid()")
        teardown_databases(db_cfg, verbosity=request.config.option.verbose)


def _cast_create() -> None:
    services.tenant_template_ensure()
    xpartner = PartnerFactory(name="X Partner", slug="xpartner", domain_suffix="x.test")
    ypartner = PartnerFactory(name="Y Partner", slug="ypartner", domain_suffix="y.test")
    for partner, slug in [(xpartner, "alpha"), (xpartner, "beta"), (ypartner, "gamma")]:
        _onboard(partner, slug)


@pytest.fixture
def cast(db) -> Cast:
    partners = {p.slug: p for p in Partner.objects.filter(slug__in=["xpartner", "ypartner"])}
    customers = {c.slug: c for c in Customer.objects.filter(slug__in=["alpha", "beta", "gamma"])}
    return Cast(partners["xpartner"], partners["ypartner"], customers["alpha"], customers["beta"], customers["gamma"])


@pytest.fixture(autouse=True)
def _public_schema_after_each_test():
    yield
    connection.set_schema_to_public()


@pytest.fixture(autouse=True)
def _private_data_dir(settings, tmp_path):
    """Connection files (inboxes, archives, exports) live under a fresh folder per test, like the rows do."""
    settings.WEFT_DATA_DIR = tmp_path / "weft-data"


@pytest.fixture
def in_alpha(cast):
    with schema_context(cast.alpha.schema_name):
        yield cast.alpha


def member(role: str, *, partner=None, customer=None, username: str | None = None):
    """A user holding ``role`` at ``partner`` or ``customer``."""
    user = UserFactory(**({"username": username} if username else {}))
    MembershipFactory(user=user, role=role, partner=partner, customer=customer)
    return user


@pytest.fixture
def alice(cast):
    """A customer admin at alpha."""
    return member(Role.CUSTOMER_ADMIN, customer=cast.alpha, username="alice")


@pytest.fixture
def charlie(cast):
    """An outsider: partner admin at the other partner."""
    return member(Role.PARTNER_ADMIN, partner=cast.ypartner, username="charlie")


def host(customer: Customer) -> str:
    return customer.domains.get(is_primary=True).domain
