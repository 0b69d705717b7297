"""``Idempotency-Key`` on the API's POSTs (Stripe's scheme): a retry gets the first answer, not a second run.

The first request with a key claims it (one row, committed before the view runs, so a concurrent duplicate
finds the claim and gets 409); its answer is stored unless it is a 5xx, a 401 or a 429 (nothing was done,
so a retry may try again). A later request with the same key, caller and customer gets the stored answer
with ``Idempotent-Replayed: true``; the same key with a different method, address or body is a 422.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone

from apps.common.problems import problem_response
from apps.tenants.models import IdempotentRequest

HEADER = "Idempotency-Key"
KEEP = timedelta(hours=24)
NOT_KEPT = {401, 409, 429}


def _sha(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def _caller(request) -> str:
    """Who sent it: the credentials (a key, a Basic password) or the session; a retry must be the same caller."""
    credentials = request.META.get("HTTP_AUTHORIZATION", "")
    session = getattr(request, "session", None)
    return _sha(credentials.encode(), (session.session_key or "").encode() if session is not None else b"")


class IdempotencyMiddleware:
    """Applies to POSTs under ``/api/`` on a customer's domain that carry the header; place after sessions."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        key = request.headers.get(HEADER)
        tenant = getattr(request, "tenant", None)
        if key is None or request.method != "POST" or not request.path.startswith("/api/") or tenant is None:
            return self.get_response(request)
        if not 1 <= len(key) <= 255 or not key.isprintable():
            return problem_response(400, f"{HEADER} must be 1 to 255 printable characters.")
        try:
            body = request.body
        except RequestDataTooBig:
            return problem_response(413, "Request body is too large.")
        fingerprint = _sha(request.method.encode(), request.get_full_path().encode(), body)
        claim, earlier = _claim(tenant.schema_name, _caller(request), key, fingerprint)
        if earlier is not None:
            return _answer_again(earlier, fingerprint)
        response = self.get_response(request)
        _settle(claim, response)
        return response


def _claim(scope: str, caller: str, key: str, fingerprint: str):
    """(our new claim, None) or (None, the earlier request with this key)."""
    lookup = {"scope": scope, "caller": caller, "key": key}
    try:
        with transaction.atomic():
            return IdempotentRequest.objects.create(**lookup, fingerprint=fingerprint), None
    except IntegrityError:
        earlier = IdempotentRequest.objects.filter(**lookup).first()
    if earlier is None or earlier.created_at < timezone.now() - KEEP:  # gone meanwhile, or too old: start afresh
        IdempotentRequest.objects.filter(**lookup).delete()
        return _claim(scope, caller, key, fingerprint)
    return None, earlier


def _answer_again(earlier: IdempotentRequest, fingerprint: str):
    if earlier.fingerprint != fingerprint:
        return problem_response(422, f"This {HEADER} was used for a different request; use a new key.")
    if earlier.status_code is None:
        return problem_response(409, f"A request with this {HEADER} is still being answered; retry shortly.",
                                headers={"Retry-After": "1"})
    response = HttpResponse(bytes(earlier.body), status=earlier.status_code, content_type=earlier.content_type)
    response["Idempotent-Replayed"] = "true"
    return response


def _settle(claim: IdempotentRequest, response) -> None:
    """Keep the answer for retries; let go of the key when nothing was done (5xx, 401, 409, 429)."""
    if response.status_code >= 500 or response.status_code in NOT_KEPT or response.streaming:
        claim.delete()
        return
    # A view whose answer holds a secret shown once (an initial password) sets ``kept_for_retries`` to the same
    # answer without it: the secret is never stored, and a retry still does nothing twice.
    body = getattr(response, "kept_for_retries", None)
    # Operational row, no history: one UPDATE of the claim.
    IdempotentRequest.objects.filter(pk=claim.pk).update(
        status_code=response.status_code, content_type=response.get("Content-Type", ""),
        body=response.content if body is None else body)


def idempotent_requests_purge(*, now=None) -> int:
    """Forget answers older than ``KEEP`` (a retry that late is answered as new anyway): run daily, so the table
    holds about a day of POSTs rather than every one ever sent. Returns how many were removed."""
    removed, _ = IdempotentRequest.objects.filter(created_at__lt=(now or timezone.now()) - KEEP).delete()
    return removed
