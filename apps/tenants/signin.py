"""Signing in: where a session may be used, and failures that count towards the lock-out.

Lock-out itself is django-axes (``AxesBackend`` first among the authentication backends, attempts in the
public schema): every sign-in path calls ``authenticate(request, ...)`` (the site and portal ``/login/``,
``/admin/login/`` of both admin sites, the API's Basic auth), so every path counts failures and refuses a
locked-out username, existing or not, with the same answer.

A session belongs to the host that signed it in. Browsers never send a host's cookie to another host, so a
session presented elsewhere was copied: it is not used there (the request goes on signed out).
"""

from __future__ import annotations

import re
from importlib import import_module

from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user_model, login, user_logged_in, user_login_failed
from django.core import signing
from django.core.exceptions import DisallowedHost
from django.db import transaction
from django.dispatch import receiver

from apps.tenants import access

SESSION_HOST_KEY = "_weft_host"


def request_host(request) -> str | None:
    """The host the request came to (with its port), or None for a request without one."""
    try:
        return request.get_host().lower()
    except (KeyError, DisallowedHost):
        return None


class SessionHostMiddleware:
    """Place right after ``SessionMiddleware``: a signed-in session is used only on the host it is bound to.

    Sessions are bound when someone signs in (``bind_session_to_host``); one signed in without a host (a test
    client's ``force_login``) is bound on its first request.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.session_store = import_module(settings.SESSION_ENGINE).SessionStore

    def __call__(self, request):
        session = request.session
        if session.get(SESSION_KEY):
            bound, current = session.get(SESSION_HOST_KEY), request_host(request)
            if bound is None:
                session[SESSION_HOST_KEY] = current
            elif bound != current:
                # Signed out here; the session stays valid where it belongs. Forgetting the cookie also keeps
                # the answer from deleting it (it is not this host's to delete).
                request.session = self.session_store()
                request.COOKIES.pop(settings.SESSION_COOKIE_NAME, None)
        return self.get_response(request)


@receiver(user_logged_in, dispatch_uid="weft-bind-session-to-host")
def bind_session_to_host(sender, request, user, **kwargs) -> None:
    if request is None or not hasattr(request, "session"):
        return
    host = request_host(request)
    if host is None:
        request.session.pop(SESSION_HOST_KEY, None)  # a sign-in without a host (a test client): bound on first use
    else:
        request.session[SESSION_HOST_KEY] = host


def count_refused_sign_in(request, username: str) -> None:
    """A right password on a host where this person may not sign in counts as a failed attempt, as a wrong
    password does: the answer is the same, so is the lock-out."""
    user_login_failed.send(sender=__name__, credentials={"username": username}, request=request)


# --- One sign-in across the partner's hosts ---------------------------------------------------------------------
# Partner staff on the partner site go straight into a customer's portal or admin on the customer's own host.
# Sessions stay host-bound, so the partner site hands over a token instead of a cookie: signed, valid for
# HANDOFF_SECONDS, bound to the person and the target host, and single-use (it carries the person's last sign-in
# time, which redeeming it moves on, as Django's password-reset tokens do). Roles are unchanged: the target host
# checks the person's own access there, as at any sign-in.
HANDOFF_SECONDS = 60
HANDOFF_SALT = "weft.signin.handoff"
HANDOFF_TARGETS = {"portal": ("/", "customer.view"), "admin": ("/admin/", "console.enter")}


class HandoffRefused(Exception):
    """The hand-over token is expired, used, forged, for another host or for someone who may not go there."""


HANDOFF_PATH = re.compile(r"/[A-Za-z0-9_\-/]*")  # a page of the target's own, never another host ("//") or a query


def handoff_path_allowed(target: str, path: str) -> bool:
    """May a hand-over to ``target`` lead on to ``path`` (a page within the portal or within the admin)?"""
    return (target in HANDOFF_TARGETS and bool(HANDOFF_PATH.fullmatch(path)) and "//" not in path
            and path.startswith(HANDOFF_TARGETS[target][0]))


def handoff_token_create(*, user, host: str, target: str, path: str | None = None) -> str:
    """A token that signs ``user`` in on ``host`` (``domain:port``) and leads to ``target`` (portal or admin), or to
    ``path`` within it (the run page the wizard started, the connection a checklist item names)."""
    if target not in HANDOFF_TARGETS:
        raise ValueError(f"Unknown target {target!r}.")
    if path is not None and not handoff_path_allowed(target, path):
        raise ValueError(f"Not a page of the {target}: {path!r}.")
    payload = {"u": user.pk, "h": host.lower(), "t": target, "l": _stamp(user.last_login)}
    if path:
        payload["p"] = path
    return signing.dumps(payload, salt=HANDOFF_SALT, compress=True)


def handoff_redeem(request, token: str) -> str:
    """Sign the token's person in on this host and return where to go; ``HandoffRefused`` when it may not."""
    try:
        payload = signing.loads(token, salt=HANDOFF_SALT, max_age=HANDOFF_SECONDS)
    except signing.BadSignature as error:  # SignatureExpired is one too
        raise HandoffRefused("This sign-in link has expired or is not valid.") from error
    if payload.get("h") != request_host(request) or payload.get("t") not in HANDOFF_TARGETS:
        raise HandoffRefused("This sign-in link is for another site.")
    path, action = HANDOFF_TARGETS[payload["t"]]
    with transaction.atomic():
        user = get_user_model().objects.select_for_update().filter(pk=payload.get("u"), is_active=True).first()
        if user is None or _stamp(user.last_login) != payload.get("l"):
            raise HandoffRefused("This sign-in link was already used.")
        if not access.can(user, action, customer=getattr(request, "tenant", None)):
            raise HandoffRefused("Your role does not open this here.")
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")  # moves last_login: single use
    wanted = payload.get("p")
    return wanted if isinstance(wanted, str) and handoff_path_allowed(payload["t"], wanted) else path


def _stamp(moment) -> str:
    return moment.isoformat() if moment else ""
