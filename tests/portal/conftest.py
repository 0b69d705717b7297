"""Helpers for the partner-site and portal tests: plans and logged-in clients on the right host."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.tenants import plans
from apps.tenants.choices import Feature, Role
from tests.conftest import host, member


def make_plan(partner, slug: str = "basic", features=(), **extra):
    fields = {"name": slug.title(), "slug": slug, "monthly_price": Decimal("490.00"), "currency": "EUR",
              "included_records": 1000, "included_runs": 100, "included_api_calls": 500, **extra}
    return plans.plan_create(partner=partner, features=list(features), acting_user=None, **fields)


@pytest.fixture
def basic(cast):
    """xpartner's plan without any feature."""
    return make_plan(cast.xpartner, "basic")


@pytest.fixture
def premium(cast):
    return make_plan(cast.xpartner, "premium", features=[f.value for f in Feature], monthly_price=Decimal("1900"))


@pytest.fixture
def partner_admin(cast):
    return member(Role.PARTNER_ADMIN, partner=cast.xpartner, username="xadmin")


@pytest.fixture
def analyst(cast):
    return member(Role.ANALYST, partner=cast.xpartner, username="xanalyst")


@pytest.fixture
def finance(cast):
    return member(Role.FINANCE_APPROVER, customer=cast.alpha, username="alpha-finance")


@pytest.fixture
def viewer(cast):
    return member(Role.VIEWER, customer=cast.alpha, username="alpha-viewer")


class Site:
    """A test client bound to one host (the partner site or a customer's domain)."""

    def __init__(self, client, hostname: str):
        self.client, self.host = client, hostname

    def get(self, path: str, **params):
        return self.client.get(path, params, HTTP_HOST=self.host)

    def post(self, path: str, data=None, **headers):
        return self.client.post(path, data or {}, HTTP_HOST=self.host, **headers)


@pytest.fixture
def partner_site(client, cast):
    return Site(client, cast.xpartner.domain_suffix)


@pytest.fixture
def alpha_site(client, cast):
    return Site(client, host(cast.alpha))


@pytest.fixture
def beta_site(client, cast):
    return Site(client, host(cast.beta))
