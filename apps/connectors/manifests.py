"""REST connector manifests as configuration: create, edit drafts, publish (immutable from then on), roll back by
publishing an older version, install a shipped template; and which manifest a connection uses.

Shipped templates live in ``apps/connectors/kinds/rest/templates/<slug>.yaml``, each built from a vendor's
published OpenAPI document.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.text import slugify

from apps.common.errors import ErrorCategory, NotFoundError
from apps.common.history import save_attributed
from apps.connectors.errors import ConnectorError
from apps.connectors.kinds.rest.manifest import Manifest, ManifestError, manifest_check, manifest_load, manifest_parse
from apps.connectors.models import ConnectorManifest, ManifestVersion

TEMPLATE_DIR = Path(__file__).resolve().parent / "kinds" / "rest" / "templates"


# --- which manifest a connection uses ----------------------------------------------------------------------
def manifest_for_settings(settings: dict) -> Manifest:
    """A connection's manifest: inline (``manifest_document``), or stored by slug (``manifest``), the published
    version unless ``manifest_version`` pins one. A missing or broken manifest fails as configuration."""
    inline = settings.get("manifest_document")
    if inline:
        return _loaded(inline, "the connection's manifest_document")
    slug = settings.get("manifest")
    if not slug:
        raise ConnectorError("A REST connection needs the setting 'manifest' (a stored manifest's slug).",
                             permanent=True, category=ErrorCategory.CONFIG)
    version = _stored_version(str(slug), settings.get("manifest_version"))
    return _loaded(version.document, f"manifest {slug} v{version.number}")


def openapi_document_for_settings(settings: dict) -> dict | None:
    """The OpenAPI document a connection's stored manifest was imported from (inline manifests carry none)."""
    if settings.get("manifest_document") or not settings.get("manifest"):
        return None
    return ConnectorManifest.objects.filter(slug=settings["manifest"]).values_list("openapi_document",
                                                                                  flat=True).first()


def _stored_version(slug: str, number) -> ManifestVersion:
    versions = ManifestVersion.objects.filter(manifest__slug=slug)
    found = versions.filter(number=int(number)).first() if number not in (None, "") else versions.filter(
        status="published").first()
    if found is None:
        what = f"version {number}" if number not in (None, "") else "published version"
        raise ConnectorError(f"Manifest {slug!r} has no {what}; publish one or fix the connection's manifest setting.",
                             permanent=True, category=ErrorCategory.CONFIG)
    return found


def _loaded(document, what: str) -> Manifest:
    try:
        return manifest_load(document)
    except ManifestError as error:
        raise ConnectorError(f"{what} cannot be used: " + " ".join(error.problems), permanent=True,
                             category=ErrorCategory.CONFIG) from None


# --- writes ------------------------------------------------------------------------------------------------
def manifest_create(*, name: str, document: dict | str, acting_user, slug: str | None = None,
                    description: str = "", openapi_document: dict | None = None) -> ManifestVersion:
    """A new manifest with its first version as a draft (checked: a broken manifest is refused with its problems)."""
    document = _checked(document)
    with transaction.atomic():
        manifest = save_attributed(ConnectorManifest(name=name, slug=slug or slugify(name)[:80],
                                                     description=description, openapi_document=openapi_document),
                                   acting_user=acting_user, reason="Manifest created")
        return manifest_version_create(manifest=manifest, document=document, acting_user=acting_user)


def manifest_version_create(*, manifest: ConnectorManifest, document: dict | str, acting_user,
                            notes: str = "") -> ManifestVersion:
    document = _checked(document)
    number = (manifest.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    return save_attributed(ManifestVersion(manifest=manifest, number=number, document=document, notes=notes),
                           acting_user=acting_user, reason="Draft created")


def manifest_version_update(*, version: ManifestVersion, document: dict | str, acting_user) -> ManifestVersion:
    if not version.is_editable:
        raise ManifestError([f"Version {version.number} is {version.status}; published versions never change. "
                             "Create a new draft instead."])
    version.document = _checked(document)
    return save_attributed(version, acting_user=acting_user, reason="Draft edited")


def manifest_version_publish(*, version: ManifestVersion, acting_user) -> ManifestVersion:
    """Publish a draft, or republish an older version (a rollback); the current one is superseded."""
    version.refresh_from_db(fields=["status"])  # another publish may have superseded it since it was loaded
    manifest_load(version.document)
    if version.status == "published":
        return version
    with transaction.atomic():
        for current in version.manifest.versions.select_for_update().filter(status="published"):
            current.status = "superseded"
            save_attributed(current, acting_user=acting_user, reason=f"Superseded by v{version.number}")
        version.status, version.published_at = "published", timezone.now()
        save_attributed(version, acting_user=acting_user, reason="Published")
    return version


def _checked(document: dict | str) -> dict:
    if isinstance(document, str):
        document = manifest_parse(document)
    problems = manifest_check(document)
    if problems:
        raise ManifestError(problems)
    return document


# --- shipped templates -------------------------------------------------------------------------------------
@cache
def manifest_templates() -> dict[str, dict]:
    """The shipped manifests by slug (``hubspot-crm``, ``pipedrive``, ``finch``, ``quickbooks-online``)."""
    templates = {}
    for path in sorted(TEMPLATE_DIR.glob("*.yaml")):
        document = manifest_parse(path.read_text(encoding="utf-8"))
        variants = document.pop("x-auth-variants", {})
        templates[path.stem] = document
        for suffix, variant in variants.items():  # the same objects, signed in another way the vendor documents
            templates[f"{path.stem}-{suffix}"] = {**document, "name": variant["name"],
                                                  "client": {**document["client"], "auth": variant["auth"]}}
    return templates


def manifest_template_install(*, template: str, acting_user) -> ManifestVersion:
    """Store a shipped template as a manifest and publish it; installing it again publishes a new version only if
    the template changed."""
    document = manifest_templates().get(template)
    if document is None:
        raise NotFoundError(f"No manifest template {template!r}; shipped: {', '.join(manifest_templates())}.")
    existing = ConnectorManifest.objects.filter(slug=template).first()
    if existing is None:
        version = manifest_create(name=document["name"], slug=template, document=document, acting_user=acting_user,
                                  description=document.get("description", ""))
    else:
        published = existing.published_version()
        if published is not None and published.document == document:
            return published
        version = manifest_version_create(manifest=existing, document=document, acting_user=acting_user,
                                          notes="From the shipped template")
    return manifest_version_publish(version=version, acting_user=acting_user)
