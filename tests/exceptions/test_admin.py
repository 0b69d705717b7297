"""The operations console: list and detail for staff, actions and buttons that check each role."""

from decimal import Decimal

import pytest
from django_tenants.utils import schema_context

from apps.exceptions.choices import Kind, Source, Status
from apps.exceptions.models import IntegrationException
from apps.exceptions.services import RecordAtRisk, exception_raise
from apps.tenants.choices import Role
from tests.conftest import host, member


@pytest.fixture
def exception(cast):
    with schema_context("alpha"):
        return exception_raise(kind=Kind.RECONCILIATION, source=Source.RECONCILIATION, scope="recon:ACME-042",
                               message="ACME-042: totals differ",
                               records=[RecordAtRisk(key="ACME-042", context={"project": "ACME-042"},
                                                     amount=Decimal("1500"), currency="EUR")])


def page(client, user, path: str, customer, data=None):
    client.force_login(user)
    url = f"/admin/exceptions/integrationexception/{path}"
    if data is None:
        return client.get(url, HTTP_HOST=host(customer))
    return client.post(url, data, HTTP_HOST=host(customer))


def test_engineers_see_the_console_and_resolve_from_the_detail_page(cast, client, exception):
    engineer = member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner, username="eng")

    listing = page(client, engineer, "", cast.alpha)
    detail = page(client, engineer, f"{exception.pk}/change/", cast.alpha)
    acted = page(client, engineer, f"{exception.pk}/act/", cast.alpha, {"action": "resolve", "reason": "fixed"})

    assert listing.status_code == 200 and "ACME-042: totals differ" in listing.text and "EUR 1,500.00" in listing.text
    assert detail.status_code == 200 and "Preview and replay" in detail.text and 'value="resolve"' in detail.text
    assert acted.status_code == 302
    with schema_context("alpha"):
        current = IntegrationException.objects.get(pk=exception.pk)
        assert current.status == Status.RESOLVED and current.history.latest("history_date").history_user == engineer


def test_search_by_project_and_the_replay_preview_page(cast, client, exception):
    engineer = member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner, username="eng")

    found = page(client, engineer, "?q=ACME-042", cast.alpha)
    missing = page(client, engineer, "?q=ZZZ-999", cast.alpha)
    preview = page(client, engineer, f"{exception.pk}/replay/", cast.alpha)

    assert "ACME-042: totals differ" in found.text and "ACME-042: totals differ" not in missing.text
    assert preview.status_code == 200 and "Nothing to replay" in preview.text  # a reconciliation has no items


def test_an_analyst_comments_but_the_resolve_button_refuses(cast, client, exception):
    analyst = member(Role.ANALYST, partner=cast.xpartner, username="ana")

    detail = page(client, analyst, f"{exception.pk}/change/", cast.alpha)
    page(client, analyst, f"{exception.pk}/act/", cast.alpha, {"action": "comment", "body": "Looking"})
    page(client, analyst, f"{exception.pk}/act/", cast.alpha, {"action": "resolve"})

    assert 'value="resolve"' not in detail.text and 'value="comment"' in detail.text
    with schema_context("alpha"):
        current = IntegrationException.objects.get(pk=exception.pk)
        assert current.status == Status.OPEN and current.comments.get().body == "Looking"


def test_bulk_actions_in_the_list(cast, client, exception):
    engineer = member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner, username="eng")

    page(client, engineer, "", cast.alpha, {"action": "assign_to_me", "_selected_action": [exception.pk]})
    confirm = page(client, engineer, "", cast.alpha, {"action": "ignore", "_selected_action": [exception.pk]})
    page(client, engineer, "", cast.alpha, {"action": "ignore", "_selected_action": [exception.pk], "confirm": "1",
                                            "reason": "Known ERP rounding"})

    assert "Reason (required)" in confirm.text
    with schema_context("alpha"):
        current = IntegrationException.objects.get(pk=exception.pk)
        assert (current.owner, current.status, current.status_reason) == (engineer, Status.IGNORED,
                                                                          "Known ERP rounding")


def test_people_of_another_partner_do_not_get_in(cast, client, exception):
    stranger = member(Role.PARTNER_ADMIN, partner=cast.ypartner, username="charlie")

    assert page(client, stranger, f"{exception.pk}/change/", cast.alpha).status_code == 302  # to the login page
