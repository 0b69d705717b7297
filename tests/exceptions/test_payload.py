"""Fixing a bad source row: the edited payload is checked before it is saved, the original is kept, and a
replay stores the fixed record and resolves the exception."""

import pytest

from apps.canonical.models import TimeEntry
from apps.exceptions import fixing
from apps.exceptions.errors import PayloadInvalid
from apps.exceptions.models import IntegrationException, PayloadEdit
from apps.runs.models import RunItem
from apps.tenants.choices import Role
from apps.tenants.models import Partner
from tests.conftest import member
from tests.runs.journal import drop, run_flow, run_until_done


@pytest.fixture
def unknown(setup):
    drop(setup["in"], "time-01.csv", "t9,ann,ACME-42,2026-11-05,2,approved,typo in the project code\n")
    run_flow(setup["inbound"])
    return IntegrationException.objects.get()


def test_an_edited_payload_is_validated_then_replayed_and_the_exception_resolves(unknown):
    engineer = member(Role.INTEGRATION_ENGINEER, partner=Partner.objects.get(slug="xpartner"), username="eng")
    record = unknown.records.get()
    original = dict(record.last_item.payload_before)

    with pytest.raises(PayloadInvalid) as refused:
        fixing.exception_payload_edit(exception=unknown, record_key="t9", acting_user=engineer,
                                      payload={**original, "hours": "two"})
    assert "hours: 'two' is not a number" in refused.value.extra["errors"]
    with pytest.raises(PayloadInvalid, match="JSON object"):
        fixing.exception_payload_edit(exception=unknown, record_key="t9", acting_user=engineer, payload=[1])

    edit = fixing.exception_payload_edit(exception=unknown, record_key="t9", acting_user=engineer,
                                         payload={**original, "project": "ACME-042"}, reason="typo")
    [run] = fixing.exception_replay(exception=unknown, acting_user=engineer)
    run_until_done(run)

    assert edit.before == original and PayloadEdit.objects.get().edited_by == engineer
    assert RunItem.objects.get(pk=record.last_item_id).payload_before["project"] == "ACME-042"
    assert TimeEntry.objects.get().project.code == "ACME-042"
    unknown.refresh_from_db()
    assert unknown.status == "resolved"


def test_outbound_payloads_are_fixed_in_the_mapping_not_edited(setup):
    drop(setup["in"], "time-01.csv", "t2,bob,ACME-042,2026-11-03,13,approved,long day\n")
    run_flow(setup["inbound"])
    exception = IntegrationException.objects.get()

    with pytest.raises(PayloadInvalid, match="fix the mapping"):
        fixing.exception_payload_edit(exception=exception, record_key=exception.records.get().record_key,
                                      acting_user=None, payload={"hours": 8})
