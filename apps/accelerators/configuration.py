"""Configuration as a file: install templates ("accelerators"), export a customer's setup, import it.

A definition (a template, or an export) lists ``variables``, ``connections``, ``mappings``, ``rule_sets``,
``flows`` and ``ownership`` by slug, and (exports) ``escalation_policies`` by name and ``reporting`` settings.
Connections carry their settings, never their secrets: an export names the secrets each connection takes,
and an import lists the ones still to enter (``InstallReport.secrets_needed``). Strings of the form
``{{ name }}`` are replaced by the variables given at install time (a whole-string placeholder keeps the
variable's type). An entry with ``when: "{{ name }}"`` is installed only when that variable is set (not blank): an
optional leg, such as a second target system, that a customer may leave out. A ``rest`` connection may name a
shipped manifest (``manifest: finch``): it is stored and published in the customer's schema first, unless the
customer already has a manifest of that slug. Installing is idempotent: objects are matched by slug (policies by
name) and updated; a mapping gets a new published version only when its rules change; an existing connection is
never changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils.dateparse import parse_date, parse_time

from apps.canonical.models import Ownership
from apps.canonical.services import ownership_set
from apps.common.errors import ApplicationError
from apps.common.history import save_attributed
from apps.connectors.kinds import get_kind
from apps.connectors.manifests import manifest_template_install
from apps.connectors.models import Connection, ConnectorManifest
from apps.connectors.selectors import connection_by_slug
from apps.connectors.services import connection_create
from apps.exceptions.models import EscalationPolicy
from apps.mappings.models import Mapping, RuleSet, ValidationRule
from apps.mappings.services import mapping_version_create, mapping_version_publish
from apps.reporting.models import ReportingSettings
from apps.reporting.services import SETTINGS_FIELDS, reporting_settings_update
from apps.runs.models import Flow
from apps.runs.schedules import flow_schedule_sync
from apps.tenants import access

PLACEHOLDER = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")
POLICY_FIELDS = ("is_active", "rules", "email_recipients", "notify_owner", "webhook_url",
                 "webhook_allow_private_network", "quiet_start", "quiet_end", "timezone")
FLOW_FIELDS = ("name", "direction", "object_type", "object_name", "on_schedule", "schedule_cron", "schedule_minutes",
               "on_webhook", "on_hub_change", "write_back", "variables", "batch_size", "is_enabled")


class ConfigurationError(ApplicationError):
    """A definition could not be installed; nothing was changed."""


@dataclass
class InstallReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    secrets_needed: dict[str, list[str]] = field(default_factory=dict)  # connection slug → secrets to enter

    def note(self, what: str, created: bool | None) -> None:
        {True: self.created, False: self.updated, None: self.unchanged}[created].append(what)


def definition_variables(definition: dict, given: dict[str, Any]) -> dict[str, Any]:
    """The variables for an install: given values over the definition's defaults; missing ones refused."""
    values = {}
    for name, spec in (definition.get("variables") or {}).items():
        spec = spec if isinstance(spec, dict) else {"default": spec}
        if name in given and given[name] not in (None, ""):
            values[name] = given[name]
        elif "default" in spec:
            values[name] = spec["default"]
        else:
            raise ConfigurationError(f"The variable {name!r} ({spec.get('label', name)}) needs a value.")
    unknown = set(given) - set(values)
    if unknown:
        raise ConfigurationError(f"Unknown variable(s): {', '.join(sorted(unknown))}.")
    return values


def substitute(value: Any, variables: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = PLACEHOLDER.fullmatch(value.strip())
        if whole:
            return _variable(whole.group(1), variables)
        return PLACEHOLDER.sub(lambda m: str(_variable(m.group(1), variables)), value)
    if isinstance(value, list):
        return [substitute(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, variables) for k, v in value.items()}
    return value


SECTIONS = ("connections", "mappings", "rule_sets", "flows", "ownership", "escalation_policies")


def _chosen(resolved: dict) -> dict:
    """The definition without the entries whose ``when`` came out blank (an optional leg left out)."""
    return {key: [{k: v for k, v in entry.items() if k != "when"} for entry in value
                  if not isinstance(entry, dict) or entry.get("when", True) not in (None, "", False)]
            if key in SECTIONS and isinstance(value, list) else value
            for key, value in resolved.items()}


def _variable(name: str, variables: dict) -> Any:
    if name not in variables:
        raise ConfigurationError(f"The definition uses {{{{ {name} }}}} but declares no such variable.")
    return variables[name]


def configuration_install(
    *, definition: dict, variables: dict | None = None, acting_user, source: str = "",
) -> InstallReport:
    """Install a definition into the current customer's schema, in one transaction."""
    access.check(acting_user, "configuration.change")
    values = definition_variables(definition, variables or {})
    resolved = _chosen(substitute({k: v for k, v in definition.items() if k != "variables"}, values))
    report = InstallReport()
    with transaction.atomic():
        for spec in resolved.get("connections", []):
            _install_connection(spec, acting_user, report)
        mappings = {spec["slug"]: _install_mapping(spec, acting_user, report) for spec in resolved.get("mappings", [])}
        rule_sets = {spec["slug"]: _install_rule_set(spec, acting_user, report)
                     for spec in resolved.get("rule_sets", [])}
        for spec in resolved.get("flows", []):
            _install_flow(spec, mappings, rule_sets, acting_user, report, source)
        for spec in resolved.get("flows", []):  # once every flow exists, whatever their order
            _link_after_flow(spec, acting_user)
        for spec in resolved.get("ownership", []):
            _install_ownership(spec, acting_user, report)
        for spec in resolved.get("escalation_policies", []):
            _install_policy(spec, acting_user, report)
        if resolved.get("reporting"):
            _install_reporting(resolved["reporting"], acting_user, report)
    for spec in resolved.get("connections", []):
        _note_secrets(spec["slug"], report)
    return report


def _install_connection(spec: dict, acting_user, report: InstallReport) -> None:
    """A connection the definition needs: created disabled, without secrets, if the customer lacks it.
    An existing connection is never changed by an install."""
    settings = dict(spec.get("settings", {}))
    if spec.get("manifest"):  # a REST system described by a shipped manifest: the customer gets its own copy
        if not ConnectorManifest.objects.filter(slug=spec["manifest"]).exists():
            manifest_template_install(template=spec["manifest"], acting_user=acting_user)
            report.note(f"manifest {spec['manifest']}", True)
        settings["manifest"] = spec["manifest"]
    if Connection.objects.filter(slug=spec["slug"]).exists():
        report.note(f"connection {spec['slug']}", None)
        return
    name = spec.get("name", spec["slug"])
    if Connection.objects.filter(name=name).exists():
        name = f"{name} ({spec['slug']})"
    connection = connection_create(name=name, slug=spec["slug"], kind=spec["kind"],
                                   settings=settings, acting_user=acting_user,
                                   allow_private_network=bool(spec.get("allow_private_network", False)),
                                   description=spec.get("description", "Created by a template: enter its "
                                                                       "credentials and settings, then enable it."))
    if _required_secrets(connection.kind) or not spec.get("is_enabled", False):
        Connection.objects.filter(pk=connection.pk).update(is_enabled=False)  # operational: no secrets yet
        report.note(f"connection {spec['slug']} (disabled until its credentials are entered)", True)
    else:
        report.note(f"connection {spec['slug']}", True)


def _required_secrets(kind: str) -> list[str]:
    return [spec.name for spec in get_kind(kind).credential_fields if spec.required]


def _manifest_secrets(settings: dict) -> list[str]:
    """The secrets a REST connection's stored manifest signs in with (its ``client.auth``)."""
    manifest = ConnectorManifest.objects.filter(slug=settings.get("manifest") or "").first()
    published = manifest.published_version() if manifest else None
    auth = ((published.document.get("client") or {}).get("auth") or {}) if published else {}
    kind = auth.get("type", "none")
    if kind in ("api_key", "bearer"):
        return [auth.get("credential", "api_key" if kind == "api_key" else "access_token")]
    if kind == "basic":
        return [auth.get("username_credential", "username"), auth.get("password_credential", "password")]
    return ["client_id", "client_secret"] if kind.startswith("oauth2") else []


def _note_secrets(slug: str, report: InstallReport) -> None:
    """A connection without its secrets: the import says which to enter (the file never carries them)."""
    connection = Connection.objects.filter(slug=slug).first()
    if connection is not None and not connection.has_credentials:
        wanted = _manifest_secrets(connection.settings) if connection.kind == "rest" else _required_secrets(
            connection.kind)
        if wanted:
            report.secrets_needed[slug] = wanted


def _install_policy(spec: dict, acting_user, report: InstallReport) -> None:
    """An escalation policy, matched by name; quiet hours as ``HH:MM``."""
    policy = EscalationPolicy.objects.filter(name=spec["name"]).first()
    created = policy is None
    policy = policy or EscalationPolicy(name=spec["name"])
    values = {name: spec[name] for name in POLICY_FIELDS if name in spec}
    for name in ("quiet_start", "quiet_end"):
        if isinstance(values.get(name), str):
            values[name] = parse_time(values[name])
    if not created and all(getattr(policy, name) == value for name, value in values.items()):
        report.note(f"escalation policy {policy.name}", None)
        return
    for name, value in values.items():
        setattr(policy, name, value)
    save_attributed(policy, acting_user=acting_user, reason="Installed from configuration")
    report.note(f"escalation policy {policy.name}", created)


def _install_reporting(spec: dict, acting_user, report: InstallReport) -> None:
    current = ReportingSettings.current()
    changes = {}
    for name in SETTINGS_FIELDS:
        if name not in spec:
            continue
        value = spec[name]
        if name == "go_live_date" and isinstance(value, str):
            value = parse_date(value)
        field_value = ReportingSettings._meta.get_field(name).to_python(value)
        if getattr(current, name) != field_value:
            changes[name] = field_value
    if not changes:
        report.note("reporting settings", None)
        return
    reporting_settings_update(changes=changes, acting_user=acting_user, reason="Installed from configuration")
    report.note("reporting settings", current.pk is None)


def _connection(slug: str) -> Connection:
    found = connection_by_slug(slug)
    if found is None:
        raise ConfigurationError(f"No connection {slug!r} exists in this customer; create it first or set the "
                                 "variable to an existing connection.")
    return found


def _install_mapping(spec: dict, acting_user, report: InstallReport) -> Mapping:
    mapping = Mapping.objects.filter(slug=spec["slug"]).first()
    created = mapping is None
    mapping = mapping or Mapping(slug=spec["slug"])
    for name in ("name", "direction", "object_type", "connector_kind", "description"):
        if name in spec:
            setattr(mapping, name, spec[name])
    save_attributed(mapping, acting_user=acting_user, reason="Installed from configuration")
    published = mapping.published_version()
    if published is None or published.rules != spec.get("rules", []):
        version = mapping_version_create(mapping=mapping, rules=spec.get("rules", []), acting_user=acting_user,
                                         notes=spec.get("notes", "Installed from configuration"))
        mapping_version_publish(version=version, acting_user=acting_user)
        report.note(f"mapping {mapping.slug} v{version.number}", created)
    else:
        report.note(f"mapping {mapping.slug}", None)
    return mapping


def _install_rule_set(spec: dict, acting_user, report: InstallReport) -> RuleSet:
    rule_set = RuleSet.objects.filter(slug=spec["slug"]).first()
    created = rule_set is None
    rule_set = rule_set or RuleSet(slug=spec["slug"])
    rule_set.name = spec.get("name", spec["slug"])
    rule_set.object_type = spec["object_type"]
    save_attributed(rule_set, acting_user=acting_user, reason="Installed from configuration")
    wanted = [(r["kind"], r.get("params", {}), r.get("message", "")) for r in spec.get("rules", [])]
    current = [(r.kind, r.params, r.message) for r in rule_set.rules.filter(is_active=True)]
    if wanted != current:
        rule_set.rules.all().delete()
        for position, (kind, params, message) in enumerate(wanted):
            save_attributed(ValidationRule(rule_set=rule_set, kind=kind, params=params, message=message,
                                           position=position), acting_user=acting_user,
                            reason="Installed from configuration")
        report.note(f"rule set {rule_set.slug}", created)
    else:
        report.note(f"rule set {rule_set.slug}", None)
    return rule_set


def _install_flow(spec, mappings, rule_sets, acting_user, report, source) -> Flow:
    flow = Flow.objects.filter(slug=spec["slug"]).first()
    created = flow is None
    flow = flow or Flow(slug=spec["slug"])
    # installed_from counts as a change: after an upgrade each flow names the version it now comes from.
    before = {name: getattr(flow, name)
              for name in (*FLOW_FIELDS, "connection_id", "mapping_id", "rule_set_id", "installed_from")}
    for name in FLOW_FIELDS:
        if name in spec:
            setattr(flow, name, spec[name])
    connection = _connection(spec["connection"])
    if not created and flow.connection_id != connection.pk:
        _refuse_switching_another_templates_flow(flow, connection, source)
    flow.connection = connection
    flow.mapping = _by_slug(mappings, Mapping, spec.get("mapping"))
    flow.rule_set = _by_slug(rule_sets, RuleSet, spec.get("rule_set"))
    flow.installed_from = source or flow.installed_from
    after = {name: getattr(flow, name) for name in before}
    if created or after != before:
        save_attributed(flow, acting_user=acting_user, reason="Installed from configuration")
        flow_schedule_sync(flow=flow)
        report.note(f"flow {flow.slug}", created)
    else:
        report.note(f"flow {flow.slug}", None)
    return flow


def _link_after_flow(spec: dict, acting_user) -> None:
    """The flow this one follows (``after_flow``: runs for the records that flow created), by slug."""
    flow = Flow.objects.get(slug=spec["slug"])
    after = _by_slug({}, Flow, spec.get("after_flow"))
    if flow.after_flow_id != (after.pk if after else None):
        flow.after_flow = after
        save_attributed(flow, acting_user=acting_user, reason="Installed from configuration")


def _refuse_switching_another_templates_flow(flow: Flow, connection: Connection, source: str) -> None:
    """Templates share flows by slug (every approved-time template reads time through ``time-in``). Installing one
    must not silently move a flow another template (or a person) set up onto a different system: that flow's
    records would stop arriving. Re-installing the same template may move it; so may a configuration import."""
    template = source.partition("@")[0] if "@" in source else None
    owner = flow.installed_from.partition("@")[0] or None
    if template is None or owner == template:
        return
    raise ConfigurationError(
        f"Flow {flow.slug!r} already reads from connection {flow.connection.slug!r}"
        f"{f' (installed from {owner})' if owner else ''}; installing {template} would switch it to "
        f"{connection.slug!r}. Set the template's variable to {flow.connection.slug!r} to share the flow, or change "
        "the flow first.")


def _by_slug(installed: dict, model, slug: str | None):
    if not slug:
        return None
    found = installed.get(slug) or model.objects.filter(slug=slug).first()
    if found is None:
        raise ConfigurationError(f"The flow refers to {model._meta.verbose_name} {slug!r}, which is not defined.")
    return found


def _install_ownership(spec: dict, acting_user, report: InstallReport) -> None:
    connection = _connection(spec["connection"])
    current = Ownership.objects.filter(object_type=spec["object_type"], field_group=spec.get("field_group", "")).first()
    if current and current.connection_id == connection.pk:
        report.note(f"ownership {spec['object_type']}", None)
        return
    ownership_set(object_type=spec["object_type"], field_group=spec.get("field_group", ""), connection=connection,
                  acting_user=acting_user)
    report.note(f"ownership {spec['object_type']}", current is None)


def configuration_export() -> dict:
    """This customer's connections (settings and the names of their secrets, never the secrets), mappings
    (published rules), rule sets, flows, ownership, escalation policies and reporting settings, as a definition."""
    return {
        "format": "weft-configuration/1",
        "connections": [_connection_export(c) for c in Connection.objects.order_by("slug")],
        "mappings": [
            {"slug": m.slug, "name": m.name, "direction": m.direction, "object_type": m.object_type,
             "connector_kind": m.connector_kind, "description": m.description,
             "rules": (m.published_version().rules if m.published_version() else [])}
            for m in Mapping.objects.order_by("slug")
        ],
        "rule_sets": [
            {"slug": rs.slug, "name": rs.name, "object_type": rs.object_type,
             "rules": [{"kind": r.kind, "params": r.params, "message": r.message}
                       for r in rs.rules.filter(is_active=True)]}
            for rs in RuleSet.objects.order_by("slug").prefetch_related("rules")
        ],
        "flows": [
            {"slug": f.slug, **{name: getattr(f, name) for name in FLOW_FIELDS}, "connection": f.connection.slug,
             "mapping": f.mapping.slug if f.mapping_id else None,
             "rule_set": f.rule_set.slug if f.rule_set_id else None,
             "after_flow": f.after_flow.slug if f.after_flow_id else None}
            for f in Flow.objects.order_by("slug").select_related("connection", "mapping", "rule_set", "after_flow")
        ],
        "ownership": [
            {"object_type": o.object_type, "field_group": o.field_group, "connection": o.connection.slug}
            for o in Ownership.objects.order_by("object_type", "field_group").select_related("connection")
        ],
        "escalation_policies": [_policy_export(p) for p in EscalationPolicy.objects.order_by("name")],
        "reporting": _reporting_export(ReportingSettings.current()),
    }


def _connection_export(connection: Connection) -> dict:
    """Settings only: the secrets stay behind, named so the import can ask for them."""
    return {"slug": connection.slug, "name": connection.name, "kind": connection.kind,
            "description": connection.description, "is_enabled": connection.is_enabled,
            "allow_private_network": connection.allow_private_network, "settings": connection.settings,
            "secrets": [spec.name for spec in get_kind(connection.kind).credential_fields]}


def _policy_export(policy: EscalationPolicy) -> dict:
    values = {name: getattr(policy, name) for name in POLICY_FIELDS}
    for name in ("quiet_start", "quiet_end"):
        values[name] = values[name].strftime("%H:%M") if values[name] else None
    return {"name": policy.name, **values}


def _reporting_export(settings: ReportingSettings) -> dict:
    values = {name: getattr(settings, name) for name in SETTINGS_FIELDS}
    return {name: value.isoformat() if hasattr(value, "isoformat") else str(value) if value is not None else None
            for name, value in values.items()}
