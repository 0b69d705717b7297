"""One customer out and back: export, drop the customer and its schema, import; every figure is unchanged,
its people can still read them, its files are back, and its secrets never left sealed."""

import io
import tarfile

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django_tenants.utils import schema_context

from apps.connectors import crypto
from apps.connectors.models import Connection
from apps.connectors.services import connection_create, connection_files_root
from apps.reporting.figures import FIGURES, figure_table
from apps.reporting.tables import table_json
from apps.tenants.choices import Role
from apps.tenants.models import Customer, Domain, Membership
from apps.tenants.services import customer_onboard
from tests.conftest import host, member
from tests.reporting.dataset import build

PARAMS = {"start": "2025-06-01", "end": "2025-06-30", "as_of": "2025-06-30"}
SECRET = "hx-secret-token-never-in-the-clear"


def _figures(schema: str) -> dict:
    with schema_context(schema):
        return {name: table_json(figure_table(name, PARAMS)) for name in sorted(FIGURES)}


@pytest.fixture
def delta(cast):
    """A customer of X Partner with the hand-computed reporting data set, a sealed secret and a file."""
    customer = customer_onboard(partner=cast.xpartner, slug="delta", name="Delta", admin_email="d@example.com",
                                acting_user=None).customer
    with schema_context("delta"):
        build()
        hooks = connection_create(name="Hooks", slug="hooks", kind="webhook", credentials={"signing_secret": SECRET})
        inbox = connection_files_root(hooks) / "inbox"
        inbox.mkdir(parents=True)
        (inbox / "waiting.csv").write_text("id,hours\n1,2\n")
    member(Role.VIEWER, customer=customer, username="dora")
    return customer


def test_a_customer_exported_dropped_and_imported_has_the_same_figures(delta, tmp_path, client):
    before = _figures("delta")
    assert before["unposted-time"]["rows"], "the data set has figures to compare"
    archive = tmp_path / "delta.weft.tar.gz"
    call_command("tenant_export", "delta", "-o", str(archive), stdout=io.StringIO())

    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the test's transaction: check the data set's keys now
    delta.delete(force_drop=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'delta'")
        assert cursor.fetchone()[0] == 0
    assert not Customer.objects.filter(slug="delta").exists() and not Domain.objects.filter(tenant_id=delta.pk)

    call_command("tenant_import", str(archive), stdout=io.StringIO())

    restored = Customer.objects.get(slug="delta")
    assert _figures("delta") == before
    assert sorted(Membership.objects.filter(customer=restored).values_list("user__username", "role")) == [
        ("d@example.com", Role.CUSTOMER_ADMIN), ("dora", Role.VIEWER)]
    with schema_context("delta"):
        hooks = Connection.objects.get(slug="hooks")
        assert crypto.unseal(hooks.credentials_token)["signing_secret"] == SECRET
        assert (connection_files_root(hooks) / "inbox" / "waiting.csv").read_text() == "id,hours\n1,2\n"
    client.force_login(Membership.objects.get(customer=restored, user__username="dora").user)
    response = client.get("/api/v1/reports/unposted-time/", PARAMS, HTTP_HOST=host(restored))
    assert response.status_code == 200
    assert response.json()["rows"] == before["unposted-time"]["rows"]


def test_the_archive_holds_secrets_only_sealed(delta, tmp_path):
    archive = tmp_path / "delta.weft.tar.gz"
    call_command("tenant_export", "delta", "-o", str(archive), stdout=io.StringIO())
    with tarfile.open(archive) as opened:
        content = b"".join(opened.extractfile(m).read() for m in opened.getmembers() if m.isfile())
    assert SECRET.encode() not in content
    with schema_context("delta"):
        assert Connection.objects.get(slug="hooks").credentials_token.encode() in content  # the ciphertext


def test_importing_over_an_existing_customer_is_refused_and_changes_nothing(delta, tmp_path):
    archive = tmp_path / "delta.weft.tar.gz"
    call_command("tenant_export", "delta", "-o", str(archive), stdout=io.StringIO())
    with pytest.raises(CommandError, match="exists here"):
        call_command("tenant_import", str(archive))
    assert Customer.objects.filter(slug="delta").count() == 1
