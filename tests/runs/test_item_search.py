"""Finding a run item by what a person was told: a project code, a person, an invoice number, a date.

An item whose record reached the hub is found through the hub's business keys; one that never did (an unknown
project code refused on the way in) by the text of what was read.
"""

import pytest

from apps.runs.models import RunItem
from apps.runs.selectors import run_items_matching
from apps.tenants.choices import Role
from tests.conftest import host, member
from tests.runs.items import ledger_build


@pytest.fixture
def ledger(in_alpha):
    return ledger_build()


def found(term: str, ledger) -> set[str]:
    names = {item.pk: name for name, item in ledger.items()}
    return {names[pk] for pk in run_items_matching(RunItem.objects.all(), term).values_list("pk", flat=True)}


@pytest.mark.parametrize("term,expected", [
    ("ACME-104", {"ann"}), ("acme-105", {"bob"}), ("ann", {"ann", "nope"}), ("Bob Stone", {"bob"}),
    ("INV-7", {"invoice"}), ("2026-11-24", {"bob"}), ("NOPE-999", {"nope"}), ("te-2", {"bob"}), ("ZZZ-1", set()),
    ("", {"ann", "bob", "nope", "invoice"}),
])
def test_items_are_found_by_business_key(ledger, term, expected):
    assert found(term, ledger) == expected


def test_the_admins_run_item_search_finds_a_project_code(cast, client, ledger):
    engineer = member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner, username="eng")
    client.force_login(engineer)

    page = client.get("/admin/runs/runitem/?q=ACME-104", HTTP_HOST=host(cast.alpha))

    assert page.status_code == 200 and "1 run item" in page.text and "te-1" in page.text and "te-2" not in page.text
    assert "A project code (ACME-104)" in page.text  # the search box says what it finds
