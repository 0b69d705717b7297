"""OAuth2 grants the vendor stopped honouring: one "re-authorization needed" exception per connection, assigned to
the customer's admin (who can grant access to the customer's own system) with the link to click Connect again;
it resolves itself once the connection is connected again."""

from __future__ import annotations

from datetime import datetime

from apps.connectors.models import GrantStatus, OAuthGrant
from apps.exceptions.choices import Kind, Severity, Source
from apps.exceptions.notify import console_url
from apps.exceptions.services import current_customer, exception_assign, exception_raise
from apps.tenants.choices import Role
from apps.tenants.models import Membership

SCOPE = "reauthorize:{}"


def reauthorization_check(now: datetime, report) -> None:
    """Called by ``monitors_check``: raise for grants needing re-authorization, clear the others."""
    from apps.exceptions.monitors import _finding

    customer = current_customer()
    link = f"{console_url(customer)}/connections/"
    for grant in OAuthGrant.objects.select_related("connection"):
        needed = grant.status == GrantStatus.REAUTHORIZE
        message = (f"Re-authorization needed: {grant.connection.name} no longer accepts Weft's access. "
                   f"Click Connect at {link} and sign in at the vendor. ({grant.message})")
        if needed:
            _route_to_customer_admin(grant, customer, message, now)
            report.raised.append(SCOPE.format(grant.connection_id))
        else:
            _finding(report, kind=Kind.AUTH, scope=SCOPE.format(grant.connection_id), found=False, message=message,
                     now=now, connection_id=grant.connection_id)


def _route_to_customer_admin(grant: OAuthGrant, customer, message: str, now: datetime) -> None:
    exception = exception_raise(kind=Kind.AUTH, message=message, fingerprint_text=Kind.AUTH, source=Source.MONITOR,
                                scope=SCOPE.format(grant.connection_id), connection_id=grant.connection_id,
                                severity=Severity.HIGH, now=now)
    if exception.owner_id is None and customer is not None:
        admin = (Membership.objects.filter(customer=customer, role=Role.CUSTOMER_ADMIN, user__is_active=True)
                 .select_related("user").order_by("pk").first())
        if admin is not None:
            exception_assign(exception=exception, owner=admin.user, acting_user=None, customer=customer)
