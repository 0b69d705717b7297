"""The mapping editor on an outbound mapping: the picker lists the hub records the flow sent (nested as dotted
paths), and the preview looks up target-system ids and variables as the flow would."""

import pytest

from apps.mappings.models import MappingVersion
from apps.runs import engine
from apps.tenants.choices import Role
from tests.conftest import host, member
from tests.runs.journal import drop, run_flow


@pytest.fixture(autouse=True)
def _inline_hub_changes(monkeypatch):
    original = engine.hub_changed
    monkeypatch.setattr("apps.runs.engine.hub_changed", lambda **kw: original(**{**kw, "inline": True}))


def test_outbound_preview_uses_the_flows_lookups(cast, client, setup):
    drop(setup["in"], "time-01.csv", "t1,ann,ACME-042,2026-11-02,7.5,approved,Workshop\n")
    run_flow(setup["inbound"])
    version = MappingVersion.objects.get(mapping=setup["mapping"], number=1)
    client.force_login(member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner))
    page = client.get(f"/admin/mappings/mappingversion/{version.pk}/rules/", HTTP_HOST=host(cast.alpha))
    assert page.status_code == 200 and "project.code · ACME-042" in page.text and "person.code · ann" in page.text
    assert "not known to the target system" not in page.text
    assert "&quot;project&quot;: &quot;ERP-PRJ-42&quot;" in page.text and "&quot;minutes&quot;: 450" in page.text
