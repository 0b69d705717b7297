"""Connections on the customer's host: see them (everyone who may see the customer), Connect OAuth2 ones (the
customer's admin, or partner staff who configure), and the REST workbench where a partner engineer imports a
vendor's OpenAPI document, sets the authentication, tries the first page, maps the records and pulls them into the
hub, without code (partner admins and integration engineers only)."""

from __future__ import annotations

import yaml
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.text import slugify
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_POST, require_safe

from apps.accelerators.rest_setup import rest_connection_save, rest_object_pull
from apps.canonical.fields import field_plans
from apps.common.errors import ApplicationError
from apps.connectors import crypto
from apps.connectors.crypto import SENSITIVE_NAMES
from apps.connectors.kinds.rest.manifest import ManifestError, manifest_load
from apps.connectors.kinds.rest.openapi_import import manifest_from_openapi, openapi_operations, openapi_parse
from apps.connectors.manifests import (
    manifest_template_install,
    manifest_templates,
    manifest_version_create,
    manifest_version_update,
)
from apps.connectors.models import Connection, ConnectorManifest, GrantStatus, OAuthGrant
from apps.connectors.oauth_connect import oauth_connect_finish, oauth_connect_start
from apps.connectors.services import connection_kind, private_network_effective
from apps.mappings.tryit import mapping_suggest, rest_try
from apps.portal.views.shared import portal_view
from apps.tenants import access

SESSION_STATE = "weft_oauth_pending"
SESSION_TRY = "weft_rest_try_credentials"
AUTH_CREDENTIALS = {
    "none": (), "api_key": ("api_key",), "basic": ("username", "password"), "bearer": ("access_token",),
    "oauth2_client_credentials": ("client_id", "client_secret"),
    "oauth2_authorization_code": ("client_id", "client_secret", "access_token"),
}


def _may_configure(request) -> bool:
    return access.can(request.user, "configuration.change", customer=request.tenant)


def _may_connect(request) -> bool:
    """Authorizing access to the customer's own system is the customer's call (its admin), or a configurer's."""
    return access.can(request.user, "connection.connect", customer=request.tenant)


def _configurer(request) -> None:
    if not _may_configure(request):
        raise PermissionDenied("Only partner admins and integration engineers change connections.")


@require_safe
@portal_view()
def connections_index(request):
    grants = {g.connection_id: g for g in OAuthGrant.objects.all()}
    rows = [{"connection": c, "grant": grants.get(c.pk), "oauth": _oauth_capable(c)}
            for c in Connection.objects.order_by("name")]
    return render(request, "portal/connections.html", {
        "rows": rows, "manifests": ConnectorManifest.objects.prefetch_related("versions"),
        "templates": sorted(manifest_templates()), "may_configure": _may_configure(request),
        "may_connect": _may_connect(request), "reauthorize": GrantStatus.REAUTHORIZE})


def _oauth_capable(connection: Connection) -> bool:
    try:
        return connection_kind(connection).oauth2_spec() is not None
    except ApplicationError:
        return False


# --- OAuth2 Connect ------------------------------------------------------------------------------------------
@require_POST
@portal_view()
def connection_connect(request, slug: str):
    if not _may_connect(request):
        raise PermissionDenied("Only the customer's admin or partner staff who configure may connect systems.")
    connection = get_object_or_404(Connection, slug=slug)
    redirect_uri = request.build_absolute_uri(reverse("portal-oauth-callback"))
    try:
        pending = oauth_connect_start(connection=connection, redirect_uri=redirect_uri)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("portal-connections")
    request.session[SESSION_STATE] = {"state": pending.state, "verifier": pending.code_verifier,
                                      "connection": connection.pk, "redirect_uri": redirect_uri}
    return redirect(pending.url)


@sensitive_variables(*SENSITIVE_NAMES)
@login_required
def oauth_callback(request):
    """Where the vendor sends the person back (this customer's host): check state, swap the code for tokens."""
    pending = request.session.pop(SESSION_STATE, None)
    if not access.can(request.user, "customer.view", customer=request.tenant):
        raise Http404("No such page.")
    if not pending or request.GET.get("state") != pending["state"]:
        messages.error(request, "This sign-in did not start here or has expired; click Connect again.")
        return redirect("portal-connections")
    connection = get_object_or_404(Connection, pk=pending["connection"])
    if request.GET.get("error"):
        messages.error(request, f"{connection}: the vendor answered {request.GET['error']}: "
                                f"{request.GET.get('error_description', 'access was not granted')}.")
        return redirect("portal-connections")
    try:
        oauth_connect_finish(connection=connection, code=request.GET.get("code", ""),
                             redirect_uri=pending["redirect_uri"], code_verifier=pending["verifier"],
                             acting_user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{connection} is connected; Weft renews its access by itself from now on.")
    return redirect("portal-connections")


# --- the REST workbench -------------------------------------------------------------------------------------
@portal_view()
def openapi_import(request):
    _configurer(request)
    if request.method != "POST":
        return render(request, "portal/rest_import.html", {})
    text = request.FILES["document"].read().decode("utf-8", "replace") if request.FILES.get("document") else (
        request.POST.get("text", ""))
    try:
        document = openapi_parse(text)
    except ManifestError as error:
        return render(request, "portal/rest_import.html", {"problems": error.problems, "text": text[:200_000]})
    title = str((document.get("info") or {}).get("title") or "Imported API")
    name = request.POST.get("name") or title
    manifest = ConnectorManifest.objects.filter(name=name).first() or ConnectorManifest.objects.create(
        name=name[:120], slug=_free_slug(name), description=f"Imported from {title}", openapi_document=document)
    return redirect("portal-rest-operations", slug=manifest.slug)


def _free_slug(name: str) -> str:
    base = slugify(name)[:70] or "api"
    slug, n = base, 1
    while ConnectorManifest.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@portal_view()
def rest_operations(request, slug: str):
    _configurer(request)
    manifest = get_object_or_404(ConnectorManifest, slug=slug)
    if not manifest.openapi_document:
        raise Http404("This manifest was not imported from a document.")
    operations = openapi_operations(manifest.openapi_document)
    if request.method == "POST":
        picked = request.POST.getlist("operation")
        try:
            imported = manifest_from_openapi(manifest.openapi_document, operations=picked, name=manifest.name)
            manifest_version_create(manifest=manifest, document=imported.manifest, acting_user=request.user,
                                    notes="Imported from the OpenAPI document")
        except ManifestError as error:
            for problem in error.problems:
                messages.error(request, problem)
            return redirect("portal-rest-operations", slug=slug)
        for note in imported.notes:
            messages.info(request, note)
        return redirect("portal-rest-workbench", slug=slug)
    return render(request, "portal/rest_operations.html", {"manifest": manifest, "operations": operations})


@require_POST
@portal_view()
def rest_template_install(request):
    _configurer(request)
    try:
        version = manifest_template_install(template=request.POST.get("template", ""), acting_user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("portal-connections")
    return redirect("portal-rest-workbench", slug=version.manifest.slug)


@sensitive_post_parameters()  # credential-<name> fields: names come from the manifest, so every field is masked
@sensitive_variables(*SENSITIVE_NAMES)
@portal_view()
def rest_workbench(request, slug: str):
    manifest = get_object_or_404(ConnectorManifest, slug=slug)
    version = manifest.versions.order_by("-number").first()
    if version is None:
        return redirect("portal-rest-operations", slug=slug)
    context = {"manifest": manifest, "version": version, "may_configure": _may_configure(request)}
    action = request.POST.get("action") if request.method == "POST" else None
    if action:
        _configurer(request)
        handler = {"save": _save, "try": _try, "pull": _pull}.get(action)
        if handler is None:
            raise Http404("No such action.")
        answer = handler(request, manifest, version, context)
        if answer is not None:
            return answer
    return render(request, "portal/rest_workbench.html", _workbench_context(request, manifest, version, context))


def _workbench_context(request, manifest, version, context: dict) -> dict:
    document = context.get("document") or version.document
    context.setdefault("yaml", yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=110))
    auth = (document.get("client") or {}).get("auth") or {"type": "none"}
    objects = document.get("objects") or {}
    chosen = request.POST.get("object") or next(iter(objects), "")
    connection = Connection.objects.filter(slug=manifest.slug).first()
    context.update(
        auth_type=auth.get("type"), credential_names=_credential_names(auth), objects=list(objects),
        chosen=chosen, declared_settings=document.get("settings") or {}, connection=connection,
        settings_values={**(connection.settings if connection else {}),
                         **{k[8:]: v for k, v in request.POST.items() if k.startswith("setting-")}},
        canonical_targets=_targets(objects.get(chosen, {}).get("canonical")),
        private_network=request.POST.get("allow_private_network") == "on" or bool(
            connection and connection.allow_private_network),
    )
    return context


def _credential_names(auth: dict) -> list[str]:
    """The secrets the manifest's auth reads, by the names it gives them."""
    kind = auth.get("type")
    if kind == "api_key":
        return [auth.get("credential", "api_key")]
    if kind == "basic":
        return [auth.get("username_credential", "username"), auth.get("password_credential", "password")]
    if kind == "bearer":
        return [auth.get("credential", "access_token")]
    return list(AUTH_CREDENTIALS.get(kind, ()))


def _targets(object_type: str | None) -> list[dict]:
    if not object_type:
        return []
    targets = [{"name": "external_id", "relation": False, "required": True}]
    for name, plan in field_plans(object_type).items():
        targets.append({"name": name, "relation": bool(plan.target_type), "required": plan.required})
    return targets


def _save(request, manifest, version, context):
    text = request.POST.get("yaml", "")
    try:
        if version.is_editable:
            manifest_version_update(version=version, document=text, acting_user=request.user)
        else:
            manifest_version_create(manifest=manifest, document=text, acting_user=request.user,
                                    notes="Edited in the workbench")
    except ManifestError as error:
        context.update(problems=error.problems, yaml=text)
        try:
            context["document"] = yaml.safe_load(text) if isinstance(yaml.safe_load(text), dict) else None
        except yaml.YAMLError:
            context["document"] = None
        return None
    messages.success(request, "Manifest saved as a draft.")
    return redirect("portal-rest-workbench", slug=manifest.slug)


def _form_inputs(request, manifest, version) -> tuple[dict, dict, bool]:
    settings = {k[8:]: v for k, v in request.POST.items() if k.startswith("setting-") and v}
    credentials = {k[11:]: v for k, v in request.POST.items() if k.startswith("credential-") and v}
    kept = request.session.get(f"{SESSION_TRY}:{manifest.slug}")
    if kept:  # what the last "Try it" used, sealed in the session, for fields the browser sends empty
        credentials = {**crypto.unseal(kept), **credentials}
    if credentials:
        request.session[f"{SESSION_TRY}:{manifest.slug}"] = crypto.seal(credentials)
    return settings, credentials, request.POST.get("allow_private_network") == "on"


def _try(request, manifest, version, context):
    settings, credentials, private = _form_inputs(request, manifest, version)
    connection = Connection.objects.filter(slug=manifest.slug).first()
    if connection is not None and not credentials:
        credentials = crypto.unseal(connection.credentials_token)
    object_name = request.POST.get("object", "")
    try:
        private = private_network_effective(acting_user=request.user, requested=private, connection=connection)
        result = rest_try(manifest=version.document, object_name=object_name, settings=settings,
                          credentials=credentials, rules=_posted_rules(request), allow_private_network=private)
    except ManifestError as error:
        context["problems"] = error.problems
        return None
    context.update(result=result, rules=result.rules, rules_by_target=_by_target(result.rules))
    return None


def _pull(request, manifest, version, context):
    settings, credentials, private = _form_inputs(request, manifest, version)
    object_name = request.POST.get("object", "")
    document = version.document
    try:
        manifest_load(document)
        object_type = document["objects"][object_name]["canonical"]
        rules = _posted_rules(request) or mapping_suggest(object_type=object_type, fields=[],
                                                          id_path=document["objects"][object_name].get("id", "id"))
        connection = rest_connection_save(manifest=manifest, settings=settings, credentials=credentials,
                                          allow_private_network=private, acting_user=request.user)
        run = rest_object_pull(manifest=manifest, connection=connection, object_name=object_name,
                               object_type=object_type, rules=rules, acting_user=request.user)
    except (ApplicationError, KeyError) as error:
        context["problems"] = [getattr(error, "message", f"Unknown object {error}.")]
        return None
    run.refresh_from_db()
    counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted((run.counts or {}).items())) or "nothing yet"
    level = messages.success if run.status in ("succeeded", "partial", "queued", "running") else messages.error
    level(request, f"Pulled {manifest.name} {object_name} into the hub: run {run.pk} {run.status} ({counts})."
                   + (f" {run.error_message}" if run.error_message else ""))
    return redirect("portal-rest-workbench", slug=manifest.slug)


def _posted_rules(request) -> list[dict] | None:
    """The field picker: ``map-<target>`` holds a record field (or a ref for related records)."""
    picks = {k[4:]: v for k, v in request.POST.items() if k.startswith("map-")}
    if not picks:
        return None
    rules = []
    for target, source in picks.items():
        if not source:
            continue
        if source.startswith("ref:"):
            rules.append({"target": target, "ref": {"by": "external", "source": source[4:]}})
        else:
            rules.append({"target": target, "source": source})
    return rules


def _by_target(rules: list[dict]) -> dict:
    out = {}
    for rule in rules:
        out[rule["target"]] = rule.get("source") or ("ref:" + rule["ref"]["source"] if rule.get("ref") else "")
    return out

