"""A refused OAuth2 refresh becomes one "re-authorization needed" exception, assigned to the customer's admin with
the link to Connect again, and resolves itself once the connection is connected again."""

from __future__ import annotations

from django.utils import timezone

from apps.connectors.models import GrantStatus, OAuthGrant
from apps.connectors.services import connection_create
from apps.connectors.tokens import grant_mark
from apps.exceptions.choices import Kind, Status
from apps.exceptions.models import IntegrationException
from apps.exceptions.monitors import monitors_check
from apps.tenants.choices import Role
from apps.tenants.models import Membership
from tests.conftest import member


def test_a_refused_grant_is_routed_to_the_customer_admin_with_the_connect_link(cast, in_alpha):
    member(Role.VIEWER, customer=cast.alpha, username="alpha-grant-viewer")  # sees it, is not given it
    admin = Membership.objects.filter(customer=cast.alpha, role=Role.CUSTOMER_ADMIN).order_by("pk").first().user
    connection = connection_create(name="Xero (OAuth)", kind="xero", settings={"tenant_id": "t"})
    grant_mark(connection_id=connection.pk, ok=False, message="Re-authorization needed: invalid_grant")

    monitors_check(now=timezone.now())
    monitors_check(now=timezone.now())  # the next tick counts it again, not a second exception

    [exception] = IntegrationException.objects.filter(kind=Kind.AUTH, connection=connection)
    assert exception.status == Status.OPEN and exception.owner == admin
    assert "Re-authorization needed: Xero (OAuth)" in exception.title
    assert "/connections/" in exception.message and "invalid_grant" in exception.message

    grant_mark(connection_id=connection.pk, ok=True, expires_at=timezone.now().timestamp() + 1800)
    assert OAuthGrant.objects.get(connection=connection).status == GrantStatus.CONNECTED
    monitors_check(now=timezone.now())
    exception.refresh_from_db()
    assert exception.status == Status.RESOLVED
