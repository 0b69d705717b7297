"""The exceptions API: who may see and do what, triage attributed in history, filters, bulk, replay, and two
people working one exception at once."""

from decimal import Decimal

import pytest
from django_tenants.utils import schema_context

from apps.exceptions import services
from apps.exceptions.choices import Kind, Source, Status
from apps.exceptions.models import IntegrationException
from apps.exceptions.services import RecordAtRisk, exception_raise
from apps.tenants.choices import Role
from tests.conftest import host, member
from tests.runs.journal import drop, run_flow, run_until_done


def raise_one(project: str = "ACME-042", amount: str = "1500", kind: str = Kind.RECONCILIATION):
    with schema_context("alpha"):
        return exception_raise(kind=kind, source=Source.RECONCILIATION, scope=f"recon:{project}",
                               message=f"{project}: totals differ",
                               records=[RecordAtRisk(key=project, context={"project": project, "customer": "ACME"},
                                                     amount=Decimal(amount), currency="EUR")])


@pytest.fixture
def people(cast):
    return {
        "engineer": member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner, username="eng"),
        "analyst": member(Role.ANALYST, partner=cast.xpartner, username="ana"),
        "finance": member(Role.FINANCE_APPROVER, customer=cast.alpha, username="fin"),
        "viewer": member(Role.VIEWER, customer=cast.alpha, username="vic"),
        "stranger": member(Role.ANALYST, partner=cast.ypartner, username="other-analyst"),
    }


def call(client, user, method: str, path: str, tenant, **data):
    client.force_login(user)
    kwargs = {"data": data, "content_type": "application/json"} if method == "post" else {"data": data}
    return getattr(client, method)(f"/api/v1/exceptions/{path}", HTTP_HOST=host(tenant), **kwargs)


def test_a_viewer_sees_exceptions_but_cannot_resolve_or_comment(cast, client, people):
    exception = raise_one()

    listing = call(client, people["viewer"], "get", "", cast.alpha)
    assert listing.status_code == 200 and [r["id"] for r in listing.json()["results"]] == [exception.pk]
    assert listing.json()["results"][0]["amount_at_risk"] == "1500.00"
    assert call(client, people["viewer"], "post", f"{exception.pk}/resolve/", cast.alpha).status_code == 403
    assert call(client, people["viewer"], "post", f"{exception.pk}/comment/", cast.alpha, body="hm").status_code == 403
    with schema_context("alpha"):
        assert IntegrationException.objects.get(pk=exception.pk).status == Status.OPEN


def test_an_analyst_of_another_partner_cannot_see_them(cast, client, people):
    exception = raise_one()

    assert call(client, people["stranger"], "get", "", cast.alpha).status_code == 403
    assert call(client, people["stranger"], "get", f"{exception.pk}/", cast.alpha).status_code == 403
    assert call(client, people["analyst"], "get", f"{exception.pk}/", cast.alpha).status_code == 200


def test_finance_approvers_acknowledge_and_comment_but_do_not_resolve(cast, client, people):
    exception = raise_one()

    assert call(client, people["finance"], "post", f"{exception.pk}/acknowledge/", cast.alpha).json()["status"] == (
        "acknowledged")
    comment = call(client, people["finance"], "post", f"{exception.pk}/comment/", cast.alpha, body="Invoice held")
    assert comment.status_code == 201 and comment.json()["author"] == "fin"
    assert call(client, people["finance"], "post", f"{exception.pk}/resolve/", cast.alpha).status_code == 403


def test_an_engineer_triages_and_every_change_is_attributed(cast, client, people):
    exception = raise_one()
    engineer = people["engineer"]

    assert call(client, engineer, "post", f"{exception.pk}/assign/", cast.alpha, owner="eng").json()["owner"] == "eng"
    refused = call(client, engineer, "post", f"{exception.pk}/ignore/", cast.alpha, reason="")
    resolved = call(client, engineer, "post", f"{exception.pk}/resolve/", cast.alpha, reason="ERP corrected")

    assert refused.status_code == 400
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    detail = call(client, engineer, "get", f"{exception.pk}/", cast.alpha).json()
    assert [(h["by"], h["reason"]) for h in detail["history"][:2]] == [
        ("eng", "Resolved: ERP corrected"), ("eng", "Assigned to eng")]
    assert detail["records"][0]["record_key"] == "ACME-042" and detail["records"][0]["is_open"] is False


def test_assigning_someone_who_cannot_see_the_customer_is_refused(cast, client, people):
    exception = raise_one()

    answer = call(client, people["engineer"], "post", f"{exception.pk}/assign/", cast.alpha, owner="other-analyst")

    assert answer.status_code == 409 and "who can see this customer" in answer.json()["detail"]


def test_filters_by_kind_project_amount_owner_and_age(cast, client, people):
    big, small = raise_one("ACME-042", "1500"), raise_one("ACME-043", "10")
    with schema_context("alpha"):
        services.exception_assign(exception=small, owner=people["engineer"], acting_user=None)

    def ids(**filters):
        return [r["id"] for r in call(client, people["engineer"], "get", "", cast.alpha, **filters).json()["results"]]

    assert ids(project="ACME-043") == [small.pk]
    assert ids(min_amount="1000") == [big.pk]
    assert ids(owner="me") == [small.pk] and ids(owner="none") == [big.pk]
    assert ids(kind="reconciliation", customer="ACME") == [small.pk, big.pk]  # same severity: last seen first
    assert ids(kind="auth") == [] and ids(min_age_hours=5) == []
    assert call(client, people["engineer"], "get", "", cast.alpha, kind="nonsense").status_code == 400


def test_bulk_resolve_and_an_ignore_without_reason_is_refused_per_item(cast, client, people):
    first, second = raise_one("ACME-042"), raise_one("ACME-043")

    done = call(client, people["engineer"], "post", "bulk/", cast.alpha, ids=[first.pk, second.pk, 999999],
                action="resolve", reason="batch fixed")
    refused = call(client, people["engineer"], "post", "bulk/", cast.alpha, ids=[first.pk], action="ignore")
    viewer = call(client, people["viewer"], "post", "bulk/", cast.alpha, ids=[first.pk], action="resolve")

    assert sorted(done.json()["done"]) == [first.pk, second.pk]
    assert done.json()["refused"] == {"999999": "No such exception."}
    assert refused.json()["refused"] == {str(first.pk): "Say why the exception is ignored."}
    assert viewer.status_code == 403


def test_two_people_working_one_exception_at_once_keep_both_changes(cast, people):
    exception = raise_one()
    with schema_context("alpha"):
        seen_by_eng = IntegrationException.objects.get(pk=exception.pk)
        seen_by_fin = IntegrationException.objects.get(pk=exception.pk)  # both loaded before either saved

        services.exception_assign(exception=seen_by_eng, owner=people["engineer"], acting_user=people["engineer"])
        services.exception_acknowledge(exception=seen_by_fin, acting_user=people["finance"])
        services.exception_comment(exception=seen_by_fin, body="Seen", acting_user=people["finance"])
        services.exception_comment(exception=seen_by_eng, body="On it", acting_user=people["engineer"])

        current = IntegrationException.objects.get(pk=exception.pk)
        assert (current.owner, current.status) == (people["engineer"], Status.ACKNOWLEDGED)
        assert current.comments.count() == 2
        assert {h.history_user.username for h in current.history.exclude(history_user=None)} == {"eng", "fin"}


def test_replay_preview_then_replay_through_the_api_resolves_the_exception(setup, cast, client, people):
    drop(setup["in"], "time-01.csv", "t2,bob,ACME-042,2026-11-03,13,approved,long day\n")
    run_flow(setup["inbound"])
    exception = IntegrationException.objects.get(kind=Kind.VALIDATION)
    from apps.mappings.models import RuleKind, ValidationRule

    ValidationRule.objects.filter(kind=RuleKind.DAILY_HOURS_LIMIT).update(params={"limit": 14})
    preview = call(client, people["engineer"], "get", f"{exception.pk}/replay-preview/", cast.alpha)
    denied = call(client, people["viewer"], "post", f"{exception.pk}/replay/", cast.alpha)
    replay = call(client, people["engineer"], "post", f"{exception.pk}/replay/", cast.alpha)

    assert [p["action"] for p in preview.json()["preview"]] == ["write"]
    assert preview.json()["preview"][0]["payload"]["minutes"] == 780
    assert denied.status_code == 403 and replay.status_code == 202
    from apps.runs.models import Run

    with schema_context("alpha"):
        run_until_done(Run.objects.get(pk=replay.json()["runs"][0]))
        assert IntegrationException.objects.get(pk=exception.pk).status == Status.RESOLVED
