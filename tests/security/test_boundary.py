"""The partner boundary, probed URL by URL: every pattern of every admin site, the API, the portal and the
partner site (found by walking the URL resolvers, so a view added later is probed too), for every role
and for anonymous callers, GET and POST (and the API's PATCH and DELETE) with plausible bodies.

Three questions, one test each (each collects every problem and reports them all):
1. On another customer's domain, every URL refuses (a sign-in redirect, 401, 403, 404 or 405), shows
   nothing of that customer and writes nothing.
2. On the platform and partner hosts (public admin, partner site), every URL that names an object of the
   other partner answers exactly as for a missing object and refuses; no page shows the other partner's
   rows (lists, filters, choices, autocomplete), and nothing is written.
3. In their own customer's domain, people who may only look, comment or approve change nothing else.

The cast: partner staff of xpartner (customers alpha and beta), customer users of alpha, anonymous. The
other partner is ypartner (customer gamma); beta is the sibling that alpha's users must not reach.
"""

from __future__ import annotations

import time

import pytest
from django.forms import BooleanField
from django.test import Client

from apps.tenants import access
from apps.tenants.choices import Role
from apps.tenants.models import User
from tests.conftest import host, member
from tests.security import boundary as b
from tests.security.forms import form_data

PARTNER_ROLES = [Role.PARTNER_ADMIN, Role.INTEGRATION_ENGINEER, Role.ANALYST]
CUSTOMER_ROLES = [Role.CUSTOMER_ADMIN, Role.FINANCE_APPROVER, Role.VIEWER]
ANONYMOUS = "anonymous"
# Verbs a form may POST as "action": every admin action's name and every access action's verb.
VERBS = sorted({name.split(".")[1] for name in access.ACTIONS})


def people(cast) -> dict:
    users = {role: member(role, partner=cast.xpartner) for role in PARTNER_ROLES}
    users.update({role: member(role, customer=cast.alpha) for role in CUSTOMER_ROLES})
    return {**users, ANONYMOUS: None}


def client_for(user) -> Client:
    client = Client(raise_request_exception=False)
    if user is not None:
        client.force_login(user)
    return client


def markers_for(role) -> tuple[str, ...]:
    """What the role must never see: the other partner's world, and for customer users their sibling's."""
    return ("zqforeign",) if role in PARTNER_ROLES else ("zqforeign", "zqsibling")


# Sign-in and sign-out pages, the health check and the API's description (its OpenAPI document and docs
# page, made from the code) answer anyone on any host; they show no data.
ENTRY_POINTS = {"login", "logout", "healthz", "public_admin:login", "public_admin:logout", "tenant_admin:login",
                "tenant_admin:logout", "api:schema", "api-docs"}


def problems_of(outcome: b.Outcome, role, *, sent=None, shown=(), allowed_tables=frozenset(),
                refused=True) -> list[str]:
    """What is wrong with an answer: not refused (where it must be), a 5xx, a marker of what ``role`` must
    not see (after taking out what the request itself sent, echoed in a form, and ``shown``: what the host
    shows anyone, its brand and name on the sign-in page), or a write to a table not allowed."""
    found = []
    if refused and outcome.status not in b.REFUSED:
        found.append(f"answered {outcome.status}")
    if refused and outcome.status == 302 and "login" not in outcome.location:
        found.append(f"redirected to {outcome.location}")
    if outcome.status >= 500:
        found.append(f"answered {outcome.status}")
    body = outcome.body.lower()
    for text in [*_values(sent), *shown]:
        body = body.replace(text.lower(), "")
    leaked = [marker for marker in markers_for(role) if marker in body]
    if leaked:
        found.append(f"showed {', '.join(leaked)}")
    wrote = {t for t in outcome.wrote if t.split(" ")[0].split(".")[-1] not in allowed_tables}
    if wrote:
        found.append(f"wrote {', '.join(sorted(wrote))}")
    return found


def _values(sent) -> list[str]:
    if not isinstance(sent, dict):
        return []
    flat = [v for value in sent.values() for v in (value if isinstance(value, list) else [value])]
    return sorted((str(v) for v in flat if isinstance(v, str) and len(v) > 3), key=len, reverse=True)


def _summary(problems: list[str]) -> str:
    return f"{len(problems)} problem(s):\n" + "\n".join(problems[:120])


# --- plausible bodies --------------------------------------------------------------------------------
def form_bodies(route: b.Route, world: b.World, public: b.World, own_partner) -> list[dict]:
    """Form posts naming the world's objects: as they are, with one's own partner and another partner's
    person, as each admin action of the changelist, and (custom views) as each triage or run verb."""
    model_admin = b.admin_of(route) if route.model else None
    foreign = {"user": public.pk(_model("tenants.User")), "username": "zqforeign.admin", "role": Role.ANALYST}
    base = {"_selected_action": [world.pk(route.model)] if route.model else [], "index": "0",
            "select_across": "0", "confirm": "1", "post": "yes", "reason": "zq probe", "body": "zq probe",
            "payload": "{}", "samples": "[{}]", "variables": "{}", "domain": "zq-probe.example.com",
            "template": public.pk(_model("accelerators.FlowTemplate")), "plan": public.pk(_model("tenants.Plan")),
            "customer": public.pk(_model("tenants.Customer")), "tenant": public.pk(_model("tenants.Customer")),
            "partner": public.pk(_model("tenants.Partner")), **foreign}
    bodies = [base, {"partner": str(own_partner.pk), **foreign}]  # one's own partner, another partner's person
    if route.name.endswith("_changelist") and model_admin is not None:
        bodies += [{**base, "action": name} for name in [*(model_admin.actions or []), "delete_selected"]]
    elif _custom_view(route):
        bodies += [{**base, "action": verb} for verb in VERBS]  # its buttons post one of these
    return bodies


def _custom_view(route: b.Route) -> bool:
    """An admin view of a model beyond Django's and simple-history's own (act, replay, payload, preview)."""
    standard = ("_changelist", "_add", "_change", "_delete", "_history", "_simple_history", "(unnamed)",
                "_password_change")
    return route.model is not None and not route.name.endswith(standard)


def api_bodies(world: b.World) -> list[dict]:
    base = {"body": "zq probe", "reason": "zq probe", "owner": "zqforeign.admin", "payload": {"id": "zq"},
            # (the public world, for the partner API on partner hosts, has neither exceptions nor ledger items)
            "ids": [int(world.slugs.get("exceptions", b.MISSING_INT))],
            "items": [int(world.slugs.get("run-items", b.MISSING_INT))],
            "record_key": "zq", "samples": [{"id": "zq"}], "variables": {}, "name": "zq probe", "slug": "zq-probe",
            "kind": "webhook", "settings": {}, "credentials": {"signing_secret": "z" * 40}, "is_enabled": False,
            "allow_private_network": True, "description": "zq"}
    return [{**base, "action": verb} for verb in ("resolve", "acknowledge")]  # bulk: needs OPERATE, or APPROVE


def requests_for(route: b.Route, world: b.World, public: b.World, own_partner, *, every_body: bool = False):
    """GET, then the writes: one plausible body, or every body and method (callers send only the first
    when the GET was refused: a view that refuses the reader refuses before it reads a body)."""
    yield "GET", None, False
    if route.text.startswith("api/"):
        bodies = api_bodies(world)
        for body in bodies if every_body else bodies[:1]:
            yield "POST", body, True
        if every_body and b.fill(route, world).names_object:
            yield "PATCH", bodies[0], True
            yield "DELETE", None, True
    else:
        bodies = form_bodies(route, world, public, own_partner)
        for body in bodies if every_body else bodies[:1]:
            yield "POST", body, False


def _model(label: str):
    return b.model_named(label)


@pytest.fixture(autouse=True)
def _quick(settings, caplog):
    """Thousands of requests: sessions in signed cookies (no session row per request), 404s not logged."""
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
    caplog.set_level("ERROR", logger="django.request")


def signed_in(probe: b.Probe, client: Client, user) -> None:
    if user is not None and not client.session.get("_auth_user_id"):
        client.force_login(user)  # again, after a probe of a logout URL signed the client out
        probe.reset()


def _report(record_property, what: str, routes: int, roles: int, probe: b.Probe, started: float) -> None:
    line = (f"{what}: {routes} URL patterns x {roles} roles, {probe.count} requests, "
            f"{time.monotonic() - started:.1f} s")
    record_property("boundary", line)
    print(f"\nboundary: {line}")


# --- 1. another customer's domain ----------------------------------------------------------------------
def test_no_role_reaches_into_another_customers_domain(cast, record_property):
    started, problems = time.monotonic(), []
    public = b.public_world(cast)
    worlds = {"gamma": b.tenant_world("gamma", "zqforeign"), "beta": b.tenant_world("beta", "zqsibling")}
    tenant_routes = b.routes("config.urls_tenant")
    probe, users = b.Probe(), people(cast)
    for role, user in users.items():
        target = cast.beta if role in CUSTOMER_ROLES else cast.gamma  # customer users: their sibling firm
        world, client = worlds[target.slug], client_for(user)
        shown = _shown_on(target)
        probe.reset()
        for route in tenant_routes:
            filled = b.fill(route, world, schema=target.schema_name)
            for method, data, as_json in requests_for(route, world, public, cast.xpartner):
                outcome = probe.send(client, method, filled.url, host(target), data, json_body=as_json)
                problems += [f"{role} {method} {host(target)}{filled.url}: {p}" for p in problems_of(
                    outcome, role, sent=data, shown=shown, refused=route.name not in ENTRY_POINTS)]
            signed_in(probe, client, user)
    _report(record_property, "another customer's domain", len(tenant_routes), len(users), probe, started)
    assert not problems, _summary(problems)


def _shown_on(customer) -> list[str]:
    """What a customer's domain shows anyone (its sign-in page): the customer's name and its partner's brand."""
    from apps.tenants.models import Customer

    fresh = Customer.objects.select_related("partner").get(pk=customer.pk)
    return [fresh.name, fresh.partner.display_name, fresh.partner.support_email, fresh.partner.email_sender_name]


# --- 2. the platform and partner hosts ----------------------------------------------------------------
def test_no_role_reaches_another_partners_rows_on_the_platform_and_partner_hosts(cast, record_property):
    started, problems = time.monotonic(), []
    public = b.public_world(cast)
    public.slugs["brand"] = _shown_on(cast.gamma)[1:]
    public_routes = b.routes("config.urls_public")
    probe, users = b.Probe(), people(cast)
    for role, user in users.items():
        client = client_for(user)
        probe.reset()
        for route in public_routes:
            hosts = ["localhost"] if route.text.startswith("admin/") else [cast.xpartner.domain_suffix,
                                                                             cast.ypartner.domain_suffix]
            for site in hosts:
                problems += [f"{role} {site}: {p}" for p in _probe_public(probe, client, route, public, cast, role,
                                                                         site)]
            signed_in(probe, client, user)
    _report(record_property, "platform and partner hosts", len(public_routes), len(users), probe, started)
    assert not problems, _summary(problems)


def _probe_public(probe, client, route, public, cast, role, site) -> list[str]:
    found = []
    filled, missing = b.fill(route, public), b.fill(route, public, missing=True)
    sends = list(requests_for(route, public, public, cast.xpartner, every_body=not filled.names_object))
    as_json = route.text.startswith("api/")
    shown = public.slugs["brand"] if site == cast.ypartner.domain_suffix else []  # that partner's site shows it
    for outcome, method, data in _adaptive(probe, client, filled.url, site, sends):
        problems = problems_of(outcome, role, sent=data, shown=shown, refused=False)
        if filled.names_object:
            answer = probe.send(client, method, missing.url, site, data, json_body=as_json)
            if (outcome.status, _same(outcome.location, filled.url)) != (answer.status, _same(answer.location,
                                                                                              missing.url)):
                problems.append(f"answered {outcome.status} {outcome.location}; a missing one "
                                f"{answer.status} {answer.location}")
            if outcome.status < 300:
                problems.append(f"answered {outcome.status}")
        found += [f"{method} {filled.url}: {p}" for p in problems]
    return found


def _adaptive(probe, client, url: str, site: str, sends: list):
    """Send the GET, then every write if the GET was answered (200), else only the first write."""
    first = probe.send(client, "GET", url, site)
    yield first, "GET", None
    writes = sends[1:] if first.status == 200 else sends[1:2]
    for method, data, as_json in writes:
        yield probe.send(client, method, url, site, data, json_body=as_json), method, data


def _same(location: str, url: str) -> str:
    """A redirect with the object's own id in it (…/<id>/ → …/<id>/change/) compared without the id."""
    return location.replace(url.rstrip("/"), "{url}")


# --- 3. one's own customer, with a role that may only look, comment or approve -------------------------
METER = "tenants_usagemonth"  # API calls by people who may use the customer's API are metered, by design
# A closed month's review is stored as rendered when first read (issue 18), by anyone who may read it: a cache of
# what the reader is shown, keyed by the data and the plan, not a change anyone makes.
STORED_REVIEW = "reporting_reviewpage"
APPROVALS = {"exceptions_exceptioncomment", "exceptions_integrationexception",
             "exceptions_historicalintegrationexception"}
ALLOWED_WRITES = {  # tables each role may write through some URL: comments, and acknowledging (approve)
    Role.ANALYST: {"exceptions_exceptioncomment", METER, STORED_REVIEW},
    Role.CUSTOMER_ADMIN: {*APPROVALS, METER, STORED_REVIEW},
    Role.FINANCE_APPROVER: {*APPROVALS, METER, STORED_REVIEW},
    Role.VIEWER: {METER, STORED_REVIEW},
}


def test_people_who_may_only_look_comment_or_approve_change_nothing_else_in_their_own_customer(cast,
                                                                                               record_property):
    """The finding behind it: a customer admin rewrote a connection through its history form."""
    started, problems = time.monotonic(), []
    public = b.public_world(cast)
    world = b.tenant_world("alpha", "zqown")
    tenant_routes = b.routes("config.urls_tenant")
    probe, users = b.Probe(), people(cast)
    forms = _operator_forms(probe, cast, world, tenant_routes)
    for role in ALLOWED_WRITES:
        user, client = users[role], client_for(users[role])
        probe.reset()
        for route in tenant_routes:
            filled = b.fill(route, world, schema="alpha")
            sends = list(requests_for(route, world, public, cast.xpartner, every_body=True))
            sends += [("POST", body, False) for body in forms.get(route.name, [])]
            for outcome, method, data in _adaptive(probe, client, filled.url, host(cast.alpha), sends):
                problems += [f"{role} {method} {filled.url}: {p}" for p in problems_of(
                    outcome, role, sent=data, allowed_tables=ALLOWED_WRITES[role], refused=False)]
            signed_in(probe, client, user)
    _report(record_property, "own customer, read-only roles", len(tenant_routes), len(ALLOWED_WRITES), probe, started)
    assert not problems, _summary(problems)


def _operator_forms(probe, cast, world, routes) -> dict[str, list[dict]]:
    """What an admin form looks like filled in (as the platform operator sees it), per route, with each
    tick box flipped: the body someone replays to a form they may only read."""
    operator = User.objects.create_superuser("zq.operator", "zq.operator@example.com", "pw")
    client, forms = client_for(operator), {}
    for route in routes:
        if route.model is None or not route.name.endswith(("_change", "_simple_history")):
            continue
        response = client.get(b.fill(route, world, schema="alpha").url, HTTP_HOST=host(cast.alpha))
        if response.status_code == 200 and response.context and "adminform" in response.context:
            data = form_data(response.context["adminform"].form)
            forms[route.name] = [data, _flipped(response.context["adminform"].form, data)]
    probe.reset()
    return forms


def _flipped(form, data: dict) -> dict:
    flipped = dict(data)
    for name, field in form.fields.items():
        if isinstance(field, BooleanField):
            if name in flipped:
                flipped.pop(name)
            else:
                flipped[name] = "on"
    return flipped
