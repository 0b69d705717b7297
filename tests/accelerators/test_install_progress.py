"""A template install from the partner site runs as a task and reports to an operation: queued, then what was made
(or why it was refused), with a link back to the customer."""

import pytest
from django_tenants.utils import schema_context

from apps.accelerators import services
from apps.accelerators.models import FlowTemplate
from apps.runs.models import Flow
from apps.tenants.choices import Role
from apps.tenants.errors import AccessDenied
from apps.tenants.models import Operation
from tests.conftest import member


@pytest.fixture
def journal(db):
    services.templates_sync_builtin()
    return FlowTemplate.objects.get(partner__isnull=True, slug="approved-time-to-journal")


def test_the_install_reports_what_it_made(cast, journal, django_capture_on_commit_callbacks):
    engineer = member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        operation = services.customer_template_install_start(customer=cast.alpha, template=journal, variables={},
                                                             acting_user=engineer, result_url="/customers/alpha/")
    assert (operation.state, operation.kind, operation.done) == ("queued", "template_install", 0)
    assert operation.total and len(queued) == 1
    queued[0]()  # the worker runs the task
    operation.refresh_from_db()
    assert operation.state == "succeeded" and operation.done == operation.total
    assert operation.step.startswith(f"{journal.name} installed into Alpha: ") and "created" in operation.step
    assert operation.result_url == "/customers/alpha/" and operation.result_label == "Back to Alpha"
    with schema_context("alpha"):
        assert Flow.objects.filter(installed_from__startswith="approved-time-to-journal@").exists()


def test_a_refused_install_fails_the_operation_with_the_reason(cast, journal, django_capture_on_commit_callbacks):
    engineer = member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner)
    with django_capture_on_commit_callbacks(execute=True):
        operation = services.customer_template_install_start(customer=cast.alpha, template=journal,
                                                             variables={"no_such_variable": "x"}, acting_user=engineer)
    operation.refresh_from_db()
    assert operation.state == "failed" and "Unknown variable" in operation.step
    assert operation.error_messages == [operation.step]


def test_a_role_that_may_not_install_is_refused_before_anything_runs(cast, journal):
    with pytest.raises(AccessDenied):
        services.customer_template_install_start(customer=cast.alpha, template=journal, variables={},
                                                 acting_user=member(Role.ANALYST, partner=cast.xpartner))
    assert not Operation.objects.exists()
