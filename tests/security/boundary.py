"""The boundary probe's machinery: every URL pattern there is, a foreign world to reach for, and a probe
that says what a response leaked or what a request wrote.

- ``routes(urlconf)`` walks the URL resolvers (admin sites, API router, portal, partner site, history,
  custom and action URLs alike): a view added later is probed without anyone editing the tests.
- ``World`` holds one representative object per model: the other partner's (Contoso's) rows in the
  public schema, and in a customer's schema one row of every model its admin shows. Names carry a
  marker (``zqforeign``, ``zqsibling``), so any page that lists or shows them is caught by its text.
- ``Probe`` sends a request and reports: the status, whether a marker leaked, which tables it wrote
  (PostgreSQL counts this transaction's writes per table in ``pg_stat_xact_user_tables``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db import models as m
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern
from django_tenants.utils import schema_context
from model_bakery import baker

from apps.tenants.admin_sites import public_admin_site, tenant_admin_site

MISSING_INT, MISSING_SLUG = 987654321, "zq-missing"
REFUSED = {302, 401, 403, 404, 405}


# --- every URL ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Route:
    """One URL pattern: its pieces (prefixes included), its name and the admin model it is about."""

    urlconf: str
    parts: tuple
    name: str
    model: type | None  # for admin URLs under <app_label>/<model_name>/

    @property
    def text(self) -> str:
        return "".join(_pattern_text(p) for p in self.parts)

    def params(self) -> list[tuple[str, str]]:
        """(name, the literal segment before it) for each parameter, in order."""
        found, text = [], self.text
        for match in _PARAM.finditer(text):
            name = match.group("name") or match.group("rname") or f"#{len(found)}"
            before = text[:match.start()].rstrip("/").rsplit("/", 1)[-1].lstrip("^")
            found.append((name, before))
        return found

    def url(self, values: dict[str, str], positional: list[str]) -> str:
        positional = list(positional)

        def fill(match):
            name = match.group("name") or match.group("rname")
            if name is None:
                return positional.pop(0)
            if name == "app_label":
                return match.group("alts").split("|")[0]
            if match.group("conv") == "drf_format_suffix":
                return f".{values[name]}"
            return values[name]

        text = _PARAM.sub(fill, self.text)
        return "/" + text.replace("^", "").replace("$", "").replace("\\.", ".").replace("/?", "/")


_PARAM = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>|\(\?P<(?P<rname>\w+)>(?P<alts>[^()]*)\)|\((?!\?)[^()]*\)")


def _pattern_text(pattern) -> str:
    return pattern.regex.pattern if isinstance(pattern, RegexPattern) else str(pattern)


def routes(urlconf: str) -> list[Route]:
    found = []

    def walk(patterns, prefix, ns):
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, (*prefix, p.pattern), (*ns, p.namespace) if p.namespace else ns)
            elif isinstance(p, URLPattern):
                parts = (*prefix, p.pattern)
                found.append(Route(urlconf, parts, ":".join((*ns, p.name or "(unnamed)")), _admin_model(parts)))

    walk(get_resolver(urlconf).url_patterns, (), ())
    return found


def _admin_model(parts) -> type | None:
    """The model of an admin URL (``admin/<app_label>/<model_name>/...``), else None."""
    if len(parts) < 3 or str(parts[0]) != "admin/":
        return None
    label = str(parts[1]).strip("/")
    for registry in (public_admin_site._registry, tenant_admin_site._registry):
        for model in registry:
            if f"{model._meta.app_label}/{model._meta.model_name}" == label:
                return model
    return None


def admin_of(route: Route):
    site = tenant_admin_site if route.urlconf.endswith("tenant") else public_admin_site
    return site._registry.get(route.model)


# --- the world to reach for ------------------------------------------------------------------------
@dataclass
class World:
    """Representative objects by model (one each) and values for URL parameters that name objects."""

    objects: dict = field(default_factory=dict)
    slugs: dict = field(default_factory=dict)  # the literal before a parameter -> value

    def pk(self, model) -> str:
        return str(self.objects[model].pk)


def _text_overrides(model, marker: str) -> dict:
    """Fill the model's plain text fields with the marker, so the row shows it wherever it is listed."""
    values = {}
    for f in model._meta.concrete_fields:
        if isinstance(f, m.CharField | m.TextField) and not f.choices and not f.primary_key and not isinstance(
                f, m.EmailField | m.URLField | m.GenericIPAddressField):
            if f.name in ("timezone", "currency", "fingerprint", "password", "schema_name"):
                continue
            text = f"{marker}-{f.name}".replace("_", "-")
            values[f.name] = text[:f.max_length] if f.max_length else text
    return values


def make(model, marker: str, **given):
    """A row of ``model`` in the current schema, its text fields marked (model_bakery fills the rest)."""
    return baker.make(model, **{**_text_overrides(model, marker), **given})


def tenant_world(schema: str, marker: str) -> World:
    """One row of every model the tenant admin shows, in ``schema``, plus what the API's URLs name."""
    from apps.canonical.api.views import HUB_OBJECTS
    from apps.canonical.models import OBJECT_MODELS
    from apps.canonical.models import Customer as HubCustomer
    from apps.connectors.models import Connection
    from apps.exceptions.models import (
        EscalationPolicy,
        ExceptionComment,
        ExceptionRecord,
        IntegrationException,
        WebhookSubscription,
    )
    from apps.mappings.models import Mapping, MappingVersion, RuleSet
    from apps.runs.models import Flow, Run, RunItem

    world = World()
    with schema_context(schema):
        connection_ = make(Connection, marker, kind="webhook", settings={}, allow_private_network=False)
        mapping = make(Mapping, marker, direction="outbound", object_type="time_entry", connector_kind="csv")
        given = {Connection: connection_, Mapping: mapping,
                 MappingVersion: make(MappingVersion, marker, mapping=mapping, number=1, rules=[]),
                 Flow: make(Flow, marker, connection=connection_, direction="inbound", object_type="time_entry",
                            mapping=mapping)}
        given[Run] = make(Run, marker, flow=given[Flow], connection=connection_, status="failed")
        given[RunItem] = make(RunItem, marker, run=given[Run], outcome="failed", payload_before={"id": marker})
        exception = make(IntegrationException, marker, kind="validation", status="open", flow=given[Flow],
                         connection=connection_)
        given[IntegrationException] = exception
        world.objects["record"] = make(ExceptionRecord, marker, exception=exception, last_item=given[RunItem],
                                       is_open=True)
        make(ExceptionComment, marker, exception=exception)
        make(HubCustomer, marker)
        for model in tenant_admin_site._registry:
            world.objects[model] = given.get(model) or model.objects.first() or make(model, marker)
        world.slugs.update({
            "hooks": connection_.slug, "connections": connection_.slug, "flows": given[Flow].slug,
            "mappings": mapping.slug, "versions": "1", "exceptions": str(exception.pk), "runs": str(given[Run].pk),
            "run-items": str(given[RunItem].pk), "payload": str(world.objects["record"].pk),
            "rule-sets": world.objects[RuleSet].slug, "escalation-policies": str(world.objects[EscalationPolicy].pk),
            "webhook-subscriptions": str(make(WebhookSubscription, marker, url="https://zq.example/hook",
                                              event_types=["run.failed"]).pk),
        })
        for name, object_type in HUB_OBJECTS.items():  # hub/<object>/<id>/ names a record of that object
            model = OBJECT_MODELS[object_type]
            world.slugs[name] = str((world.objects.get(model) or model.objects.first() or make(model, marker)).pk)
    return world


def history_id(world: World, model, schema: str | None = None) -> str:
    obj = world.objects[model]
    if not hasattr(model._meta, "simple_history_manager_attribute"):
        return str(MISSING_INT)
    with schema_context(schema or connection.schema_name):
        row = model.history.filter(**{model._meta.pk.attname: obj.pk}).order_by("-history_id").first()
    return str(row.history_id) if row else str(MISSING_INT)


def content_type_id(model) -> str:
    return str(ContentType.objects.get_for_model(model).pk)


def model_named(label: str):
    return apps.get_model(label)


# --- the probe -------------------------------------------------------------------------------------
IGNORED_TABLES = {"django_session"}  # signing in and out writes sessions; that is not a change of data


def writes() -> dict[str, int]:
    """Rows this transaction inserted, updated or deleted so far, per table (every schema)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT schemaname || '.' || relname, n_tup_ins + n_tup_upd + n_tup_del "
                       "FROM pg_stat_xact_user_tables WHERE n_tup_ins + n_tup_upd + n_tup_del > 0")
        return dict(cursor.fetchall())


@dataclass
class Outcome:
    status: int
    location: str
    body: str
    wrote: set[str]


class Probe:
    """Sends requests and says which tables they wrote. The write counters are read after each request
    that may write (not after a GET, to halve the cost: a GET that writes is reported with the request
    after it); call ``reset`` after writing anything yourself (signing a client in writes ``last_login``)."""

    def __init__(self):
        self.count = 0
        self.reset()

    def reset(self) -> None:
        self._before, self._last = writes(), ""

    def send(self, client, method: str, url: str, host: str, data=None, *, json_body: bool = False) -> Outcome:
        kwargs = {"HTTP_HOST": host}
        if method == "GET":
            response = client.get(url, **kwargs)
        elif method == "POST" and not json_body:
            response = client.post(url, data or {}, **kwargs)
        else:
            response = client.generic(method, url, _json(data), content_type="application/json", **kwargs)
        self.count += 1
        wrote = set()
        if method != "GET":
            after = writes()
            wrote = {f"{t} ({self._last}and this)" if self._last else t for t, n in after.items()
                     if n != self._before.get(t, 0) and t.split(".")[-1] not in IGNORED_TABLES}
            self._before, self._last = after, ""
        else:
            self._last = f"GET {url} "
        body = b"".join(response.streaming_content) if response.streaming else response.content
        return Outcome(response.status_code, response.get("Location", ""), body.decode("utf-8", "replace"), wrote)


def _json(data) -> str:
    import json

    return json.dumps(data or {})


# --- filling a route with the world's objects ------------------------------------------------------
MONTH = "2026-11"
PLAIN = {"month": MONTH, "format": "json", "url": "zq-nowhere/"}  # parameters that name no object


@dataclass
class Filled:
    url: str
    names_object: bool  # does the URL name an object (so "missing" must answer alike)?


def fill(route: Route, world: World, *, missing: bool = False, schema: str | None = None) -> Filled:
    values, positional, names_object = {}, [], False
    for name, before in route.params():
        value, is_object = _value(route, world, name, before, positional, schema)
        if is_object:
            names_object = True
            value = (str(MISSING_INT) if value.isdigit() else MISSING_SLUG) if missing else value
        if name.startswith("#"):
            positional.append(value)
        else:
            values[name] = value
    return Filled(route.url(values, positional), names_object)


def _value(route: Route, world: World, name: str, before: str, positional: list, schema) -> tuple[str, bool]:
    if name in PLAIN:
        return PLAIN[name], False
    if route.model is not None:
        if name == "record_id":
            return str(world.objects["record"].pk), True
        if name == "#1":  # simple-history's form: <object>/history/<history_id>/
            return history_id(world, route.model, schema), True
        return world.pk(route.model), True
    if name == "content_type_id":
        return content_type_id(world.first_model()), True
    if name == "object_id":
        return world.pk(world.first_model()), True
    if before in world.slugs:
        return world.slugs[before], True
    return world.slugs.get(f"{before}:{name}", "zq"), False


def _first_model(self):
    return next(model for model in self.objects if isinstance(model, type))


World.first_model = _first_model


def public_world(cast, *, marker: str = "zqforeign") -> World:
    """The other partner's rows (ypartner, its customer gamma, its people, plan, policy, template) and
    platform-only rows (the task queue), named with ``marker``."""
    from django_q.models import Failure, OrmQ, Schedule, Success

    from apps.accelerators.models import FlowTemplate
    from apps.exceptions.defaults.models import PartnerEscalationPolicy
    from apps.tenants.choices import Role
    from apps.tenants.models import Customer, Domain, Membership, Partner, Plan, User
    from tests.conftest import member

    Partner.objects.filter(pk=cast.ypartner.pk).update(name=f"Y Partner {marker}", display_name=f"{marker} Sync")
    Customer.objects.filter(pk=cast.gamma.pk).update(name=f"Gamma {marker}")
    admin = member(Role.PARTNER_ADMIN, partner=cast.ypartner, username=f"{marker}.admin")
    member(Role.CUSTOMER_ADMIN, customer=cast.gamma, username=f"{marker}.customer")
    plan = Plan.objects.create(partner=cast.ypartner, name=f"{marker} gold", slug=f"{marker}-gold",
                               monthly_price=1, currency="EUR")
    template = FlowTemplate.objects.create(partner=cast.ypartner, slug=f"{marker}-template", name=f"{marker} template",
                                           definition={"slug": f"{marker}-template"})
    world = World()
    world.objects.update({
        Partner: Partner.objects.get(pk=cast.ypartner.pk), Customer: Customer.objects.get(pk=cast.gamma.pk),
        Domain: Domain.objects.get(tenant=cast.gamma, is_primary=True), User: admin,
        Membership: Membership.objects.get(user=admin),
        PartnerEscalationPolicy: make(PartnerEscalationPolicy, marker, partner=cast.ypartner, rules=[],
                                      email_recipients=[]),
        Schedule: make(Schedule, marker, func="apps.runs.tasks.zq"), OrmQ: make(OrmQ, marker),
        Success: make(Success, marker, id="zq-task-ok"), Failure: make(Failure, marker, id="zq-task-failed"),
        Plan: plan, FlowTemplate: template,
    })
    world.slugs.update({"customers": cast.gamma.slug, "plans": plan.slug, "templates": template.slug})
    for model in public_admin_site._registry:  # a model registered later gets a row of the other partner's
        if model not in world.objects:
            owner = {"partner": cast.ypartner} if any(f.name == "partner" for f in model._meta.fields) else {}
            world.objects[model] = make(model, marker, **owner)
    return world
