"""Connecting a REST system without code: save the connection a manifest describes, then map one of its objects
into the hub and pull it (a published manifest version, an inbound mapping, a flow and a first run), as one
attributed configuration change."""

from __future__ import annotations

from django.db import transaction
from django.utils.text import slugify

from apps.accelerators.configuration import configuration_install
from apps.connectors.manifests import manifest_version_publish
from apps.connectors.models import Connection, ConnectorManifest
from apps.connectors.services import connection_create, connection_update
from apps.mappings.errors import MappingError
from apps.mappings.rules import rules_check
from apps.runs.engine import flow_run_request
from apps.runs.models import Flow, Run, Trigger


@transaction.atomic
def rest_connection_save(*, manifest: ConnectorManifest, settings: dict, credentials: dict,
                         allow_private_network: bool, acting_user) -> Connection:
    """The connection for ``manifest`` (one per manifest, slug = the manifest's), created or updated; credentials
    left blank keep what is stored."""
    values = {**{k: v for k, v in settings.items() if v not in (None, "")}, "manifest": manifest.slug}
    connection = Connection.objects.filter(slug=manifest.slug).first()
    if connection is None:
        return connection_create(name=manifest.name, slug=manifest.slug, kind="rest", settings=values,
                                 credentials={k: v for k, v in credentials.items() if v},
                                 allow_private_network=allow_private_network, acting_user=acting_user,
                                 description=f"REST connection described by the manifest {manifest.slug}.")
    return connection_update(connection=connection, changes={"settings": {**connection.settings, **values},
                                                             "allow_private_network": allow_private_network},
                             credentials=credentials, acting_user=acting_user)


@transaction.atomic
def rest_object_pull(*, manifest: ConnectorManifest, connection: Connection, object_name: str, object_type: str,
                     rules: list[dict], acting_user) -> Run:
    """Publish the manifest's newest draft (if any), install the mapping and an inbound flow for ``object_name``,
    and queue its first run (runs once this transaction commits)."""
    draft = manifest.versions.filter(status="draft").order_by("-number").first()
    if draft is not None:
        manifest_version_publish(version=draft, acting_user=acting_user)
    problems = rules_check(rules, direction="inbound", object_type=object_type)
    if problems:
        raise MappingError("The mapping has problems: " + " ".join(problems), extra={"problems": problems})
    slug = slugify(f"{manifest.slug}-{object_name}")[:70]
    definition = {
        "mappings": [{"slug": f"{slug}-in", "name": f"{manifest.name} {object_name} → hub"[:120],
                      "direction": "inbound", "object_type": object_type, "connector_kind": "rest", "rules": rules,
                      "notes": "Mapped in the REST connector workbench"}],
        "flows": [{"slug": f"{slug}-in", "name": f"{manifest.name} {object_name} into the hub"[:120],
                   "direction": "inbound", "object_type": object_type, "connection": connection.slug,
                   "object_name": object_name, "mapping": f"{slug}-in", "on_schedule": True,
                   "schedule_minutes": 60}],
    }
    configuration_install(definition=definition, acting_user=acting_user, source="")
    flow = Flow.objects.get(slug=f"{slug}-in")
    return flow_run_request(flow=flow, trigger=Trigger.MANUAL)
