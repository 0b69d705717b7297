"""API keys: made, shown once, checked on every call, rate-limited per key, revoked.

A key looks like ``weft_<prefix>_<secret>``. The prefix finds the row; the SHA-256 of the whole key is
compared in constant time. Who may do what with a key is ``apps.tenants.access`` (a key's scopes are its
role); this module only makes keys and says which key a request carries.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.common.history import save_attributed
from apps.tenants import access
from apps.tenants.choices import CustomerKind
from apps.tenants.models import ApiKey, Customer, Partner, User

TOKEN_PREFIX = "weft"
WINDOW = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedKey:
    """A new key and its secret: the only time the secret exists outside the caller's hands."""

    key: ApiKey
    token: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_scopes(scopes: list[str], *, partner_key: bool) -> list[str]:
    allowed = access.key_scopes(partner_key=partner_key)
    unknown = sorted(set(scopes) - set(allowed))
    if unknown:
        raise ValidationError({"scopes": f"Unknown scopes for this kind of key: {', '.join(unknown)}."})
    if not scopes:
        raise ValidationError({"scopes": "Give the key at least one scope."})
    return [s for s in allowed if s in scopes]  # in the table's order, without repeats


@transaction.atomic
def apikey_create(
    *, name: str, scopes: list[str], partner: Partner | None = None, customer: Customer | None = None,
    expires_at: datetime | None = None, rate_limit_per_minute: int = 600, acting_user: User | None,
) -> IssuedKey:
    """A new key for a partner or one customer; the returned token is shown once and never stored."""
    if (partner is None) == (customer is None):
        raise ValidationError("A key belongs to a partner or to one customer.")
    _check_manage(acting_user, partner=partner, customer=customer)
    if customer is not None and customer.kind != CustomerKind.FIRM:
        raise ValidationError({"customer": "Keys are for customer firms."})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    if acting_user is not None:
        _check_grantable(acting_user, scopes, partner=partner, customer=customer)
    prefix = secrets.token_hex(6)
    token = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    principal = User(username=f"apikey-{prefix}", email=f"{prefix}@apikeys.invalid", first_name=name[:150])
    principal.set_unusable_password()
    save_attributed(principal, acting_user=acting_user, reason="API key principal")
    key = ApiKey(name=name, partner=partner, customer=customer, principal=principal, prefix=prefix,
                 secret_hash=_digest(token), scopes=_check_scopes(list(scopes), partner_key=partner is not None),
                 expires_at=expires_at, rate_limit_per_minute=rate_limit_per_minute, created_by=acting_user)
    save_attributed(key, acting_user=acting_user, reason="API key created")
    return IssuedKey(key, token)


@transaction.atomic
def apikey_revoke(*, key: ApiKey, acting_user: User | None) -> ApiKey:
    """Revoke a key at once; its next call answers 401. Revoking twice changes nothing."""
    _check_manage(acting_user, partner=key.partner, customer=key.customer)
    if key.revoked_at is not None:
        return key
    key.revoked_at = timezone.now()
    save_attributed(key, acting_user=acting_user, reason="API key revoked", update_fields=["revoked_at", "updated_at"])
    key.principal.is_active = False
    save_attributed(key.principal, acting_user=acting_user, reason="API key revoked", update_fields=["is_active"])
    return key


def _check_manage(acting_user, *, partner: Partner | None, customer: Customer | None) -> None:
    """Partner admins manage every key of the partner (``apikey.manage``); a customer's admins its own keys."""
    if customer is not None and acting_user is not None and access.can(acting_user, "apikey.customer",
                                                                        customer=customer):
        return
    access.check(acting_user, "apikey.manage", partner=partner or customer.partner)


def _check_grantable(acting_user, scopes: list[str], *, partner: Partner | None, customer: Customer | None) -> None:
    allowed = access.grantable_scopes(acting_user, partner_key=partner is not None, partner=partner,
                                      customer=customer)
    known = access.key_scopes(partner_key=partner is not None)  # unknown ones are _check_scopes' to refuse
    beyond = sorted(scope for scope in set(scopes) if scope in known and scope not in allowed)
    if beyond:
        raise ValidationError({"scopes": f"Your role cannot give a key {', '.join(beyond)}: a key does no more "
                                         "than the person who makes it may do."})


def keys_for_partner(partner: Partner):
    """The partner's keys and its customers' keys, newest first, with what lists show loaded."""
    return (ApiKey.objects.filter(Q(partner=partner) | Q(customer__partner=partner))
            .select_related("partner", "customer", "created_by").order_by("-created_at"))


def keys_for_customer(customer: Customer):
    """One customer's keys (partner keys that also reach it are the partner's to list)."""
    return ApiKey.objects.filter(customer=customer).select_related("customer", "created_by").order_by("-created_at")


def apikey_for_token(token: str) -> ApiKey | None:
    """The usable key ``token`` names, with its principal loaded and marked as acting through it; else None."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1].isalnum() or len(parts[1]) > 16:
        return None
    key = ApiKey.objects.select_related("principal", "partner", "customer").filter(prefix=parts[1]).first()
    if key is None or not hmac.compare_digest(key.secret_hash, _digest(token)) or not key.is_usable():
        return None
    key.principal.weft_api_key = key  # the access module reads the key's reach and scopes from here
    return key


@dataclass(frozen=True)
class Usage:
    """This minute's calls by one key, after counting the current one."""

    calls: int
    window_ends: datetime


def apikey_record_call(key: ApiKey, *, now: datetime | None = None) -> Usage:
    """Count a call in the key's one-minute window and note when it was last used.

    Operational fields, so one UPDATE (no history, no ``save()``): concurrent calls each add one, and the
    window restarts when a call comes more than a minute after it began.
    """
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE public.{ApiKey._meta.db_table} SET last_used_at = %(now)s,
                  window_calls = CASE WHEN window_started_at > %(start)s THEN window_calls + 1 ELSE 1 END,
                  window_started_at = CASE WHEN window_started_at > %(start)s THEN window_started_at ELSE %(now)s END
                WHERE id = %(id)s RETURNING window_started_at, window_calls""",
            {"now": now, "start": now - WINDOW, "id": key.pk},
        )
        started, calls = cursor.fetchone()
    return Usage(calls=calls, window_ends=started + WINDOW)
