"""The one authorization model: its tables are the documented ones, services ask it before acting, the
admin offers and runs only what it allows, and requests never act as the system."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.contrib import admin
from django.core.exceptions import ImproperlyConfigured
from django_tenants.utils import schema_context

from apps.connectors import services as connector_services
from apps.mappings.models import Mapping, MappingVersion, VersionStatus
from apps.mappings.services import mapping_version_create
from apps.tenants import access
from apps.tenants.admin_sites import TenantModelAdmin, WeftAdminSite
from apps.tenants.choices import Role
from apps.tenants.errors import AccessDenied, NotVisible
from apps.tenants.services import membership_grant, user_create
from tests.conftest import host, member

ROOT = Path(__file__).resolve().parents[2]


def test_docs_print_the_tables_the_code_decides_with():
    docs = (ROOT / "docs" / "security.md").read_text()
    assert access.role_table_markdown() in docs
    assert access.action_table_markdown() in docs


def test_every_action_names_capabilities_and_a_scope():
    for name, rule in access.ACTIONS.items():
        assert rule.scope in (access.CUSTOMER, access.PARTNER, access.PLATFORM), name
        assert rule.needs or rule.scope == access.PLATFORM, name


def test_requests_never_act_as_the_system():
    """``acting_user=None`` means the engine or a task; views, the admin and the API pass the request's user."""
    system = {"demo.py", "tasks.py", "signals.py"}  # the demo seed and background work are the system
    request_code = [*ROOT.glob("apps/*/admin.py"), *ROOT.glob("apps/*/api/*.py"), *ROOT.glob("apps/portal/*.py")]
    offenders = []
    for path in (p for p in request_code if p.name not in system):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg == "acting_user" and isinstance(
                    node.value, ast.Constant) and node.value.value is None:
                offenders.append(f"{path.relative_to(ROOT)}:{node.value.lineno}")
    assert not offenders, offenders


@pytest.fixture
def connection(cast):
    with schema_context("alpha"):
        return connector_services.connection_create(name="ERP", kind="webhook", acting_user=None)


def test_services_ask_before_they_change_anything(cast, connection):
    analyst = member(Role.ANALYST, partner=cast.xpartner)
    engineer = member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner)
    outsider = member(Role.PARTNER_ADMIN, partner=cast.ypartner)
    with schema_context("alpha"):
        with pytest.raises(AccessDenied):  # may see alpha, may not configure it: 403
            connector_services.connection_update(connection=connection, changes={"is_enabled": False},
                                                 acting_user=analyst)
        with pytest.raises(NotVisible):  # may not see alpha at all: 404, as if it did not exist
            connector_services.connection_update(connection=connection, changes={"is_enabled": False},
                                                 acting_user=outsider)
        with pytest.raises(AccessDenied):
            connector_services.connection_test(connection=connection, acting_user=analyst)
        changed = connector_services.connection_update(connection=connection, changes={"is_enabled": False},
                                                       acting_user=engineer)
        assert changed.is_enabled is False and changed.history.latest().history_user == engineer


def test_people_and_operator_rights_stay_with_those_who_may_grant_them(cast):
    partner_admin = member(Role.PARTNER_ADMIN, partner=cast.xpartner)
    with pytest.raises(NotVisible):  # another partner's customer
        membership_grant(user=partner_admin, role=Role.VIEWER, customer=cast.gamma, acting_user=partner_admin)
    with pytest.raises(NotVisible):  # operator rights are the operator's to grant
        user_create(username="root2", email="root2@example.com", password=None, is_superuser=True,
                    acting_user=partner_admin)
    assert user_create(username="new.person", email="np@example.com", password=None,
                       acting_user=partner_admin).pk


@pytest.fixture
def draft(cast):
    with schema_context("alpha"):
        mapping = Mapping.objects.create(name="Out", slug="out", direction="outbound", object_type="time_entry",
                                         connector_kind="csv")
        return mapping_version_create(mapping=mapping, rules=[{"target": "entry", "source": "id"}],
                                      acting_user=None)


def test_admin_actions_are_offered_and_run_only_for_those_allowed(cast, client, draft):
    """A customer admin (view-only on configuration) could publish mapping versions through the action."""
    customer_admin = member(Role.CUSTOMER_ADMIN, customer=cast.alpha)
    engineer = member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner)
    url = "/admin/mappings/mappingversion/"

    client.force_login(customer_admin)
    listing = client.get(url, HTTP_HOST=host(cast.alpha))
    posted = client.post(url, {"action": "publish", "_selected_action": [draft.pk], "index": "0"},
                         HTTP_HOST=host(cast.alpha))
    with schema_context("alpha"):
        assert MappingVersion.objects.get(pk=draft.pk).status == VersionStatus.DRAFT
    assert listing.status_code == 200 and 'value="publish"' not in listing.text
    assert posted.status_code in (200, 302)

    client.force_login(engineer)
    assert 'value="publish"' in client.get(url, HTTP_HOST=host(cast.alpha)).text
    client.post(url, {"action": "publish", "_selected_action": [draft.pk], "index": "0"}, HTTP_HOST=host(cast.alpha))
    with schema_context("alpha"):
        assert MappingVersion.objects.get(pk=draft.pk).status == VersionStatus.PUBLISHED


def test_the_admin_sites_refuse_admins_that_skip_the_checks():
    site = WeftAdminSite(name="probe")

    class Plain(admin.ModelAdmin):
        pass

    class Unchecked(TenantModelAdmin):
        actions = ["shout"]

        @admin.action(description="Shout")
        def shout(self, request, queryset):
            pass

    with pytest.raises(ImproperlyConfigured, match="WeftModelAdmin"):
        site.register(Mapping, Plain)
    with pytest.raises(ImproperlyConfigured, match="shout"):
        site.register(Mapping, Unchecked)
