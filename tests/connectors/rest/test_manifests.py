"""Manifests as configuration: drafts checked before they are stored, published versions immutable, rollback by
publishing an older version, history kept; shipped templates install once; connections use the published one."""

from __future__ import annotations

import copy

import pytest

from apps.connectors.errors import ConnectorError
from apps.connectors.kinds.rest.manifest import ManifestError
from apps.connectors.manifests import (
    manifest_create,
    manifest_for_settings,
    manifest_template_install,
    manifest_templates,
    manifest_version_create,
    manifest_version_publish,
    manifest_version_update,
)
from apps.tenants.choices import Role
from tests.conftest import member
from tests.connectors.rest.test_rest_kind import MANIFEST


def test_versions_are_drafted_published_and_rolled_back_with_history(in_alpha, cast):
    engineer = member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner)  # manifests are configuration
    first = manifest_create(name="Acme PSA", document=MANIFEST, acting_user=engineer)
    manifest = first.manifest
    with pytest.raises(ConnectorError, match="has no published version"):
        manifest_for_settings({"manifest": manifest.slug})
    manifest_version_publish(version=first, acting_user=engineer)

    changed = copy.deepcopy(MANIFEST)
    changed["objects"]["clients"]["read"]["pagination"]["size"] = 50
    second = manifest_version_create(manifest=manifest, document=changed, acting_user=engineer)
    manifest_version_publish(version=second, acting_user=engineer)
    assert manifest_for_settings({"manifest": manifest.slug}).object("clients")["read"]["pagination"]["size"] == 50
    assert manifest_for_settings({"manifest": manifest.slug, "manifest_version": 1}).object("clients")["read"][
        "pagination"]["size"] == 3

    with pytest.raises(ManifestError, match="published versions never change"):
        manifest_version_update(version=second, document=MANIFEST, acting_user=engineer)
    manifest_version_publish(version=first, acting_user=engineer)  # rollback
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("published", "superseded")
    reasons = list(second.history.order_by("history_date").values_list("history_change_reason", "history_user"))
    assert reasons == [("Draft created", engineer.pk), ("Published", engineer.pk), ("Superseded by v1", engineer.pk)]


def test_a_broken_manifest_is_never_stored(in_alpha):
    broken = copy.deepcopy(MANIFEST)
    broken["objects"]["clients"]["read"]["records"] = "data[?"
    with pytest.raises(ManifestError, match="is not a valid JMESPath expression"):
        manifest_create(name="Broken", document=broken, acting_user=None)


def test_shipped_templates_install_once_and_are_valid(in_alpha):
    assert {"hubspot-crm", "hubspot-crm-oauth2", "pipedrive", "finch", "quickbooks-online"} <= set(
        manifest_templates())
    first = manifest_template_install(template="pipedrive", acting_user=None)
    again = manifest_template_install(template="pipedrive", acting_user=None)
    assert first.pk == again.pk and first.status == "published"
    manifest = manifest_for_settings({"manifest": "pipedrive"})
    assert manifest.name == "Pipedrive"
    assert set(manifest.objects) == {"organizations", "deals", "won_deals", "won_deal_products", "users"}
