"""The generic progress record for long operations: start, progress, errors kept, finish, tracked blocks."""

import pytest

from apps.common.errors import ApplicationError
from apps.tenants import operations
from apps.tenants.choices import Role
from apps.tenants.models import Operation
from tests.conftest import member


def test_progress_and_finish(cast):
    op = operations.operation_start(kind="template_install", title="Install X", total=4, customer=cast.alpha)
    assert (op.state, op.partner, op.percent()) == ("queued", cast.xpartner, 0)
    operations.operation_progress(op.pk, add_done=1, step="Connections")
    operations.operation_progress(op.pk, add_done=2, add_errors=1, error="flow y: bad cron")
    op.refresh_from_db()
    assert (op.state, op.done, op.errors, op.step, op.error_messages) == ("running", 3, 1, "Connections",
                                                                         ["flow y: bad cron"])
    operations.operation_finish(op.pk, result_url="/customers/alpha/", result_label="Open the customer")
    operations.operation_progress(op.pk, done=0)  # a late report after the end changes nothing
    op.refresh_from_db()
    assert (op.state, op.done, op.result_url, op.finished) == ("succeeded", 3, "/customers/alpha/", True)


def test_only_the_latest_errors_are_kept(cast):
    op = operations.operation_start(kind="replay", title="Replay")
    for n in range(operations.KEEP_ERRORS + 5):
        operations.operation_progress(op.pk, add_errors=1, error=f"error {n}")
    op.refresh_from_db()
    assert op.errors == 25 and len(op.error_messages) == 20 and op.error_messages[-1] == "error 24"


def test_a_tracked_block_that_raises_fails_the_operation(cast):
    op = operations.operation_start(kind="onboarding", title="Onboard Delta", partner=cast.xpartner)
    with pytest.raises(ApplicationError), operations.operation_tracked(op.pk):
        raise ApplicationError("The domain is taken.")
    op.refresh_from_db()
    assert (op.state, op.step, op.error_messages) == ("failed", "The domain is taken.", ["The domain is taken."])
    with operations.operation_tracked(op.pk):
        pass  # finished operations stay as they ended
    op.refresh_from_db()
    assert op.state == "failed"


def test_who_may_watch(cast, alice, charlie):
    engineer = member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner)
    on_alpha = operations.operation_start(kind="replay", title="R", customer=cast.alpha, acting_user=engineer)
    partner_only = operations.operation_start(kind="onboarding", title="O", partner=cast.xpartner)
    assert operations.operation_for_user(user=alice, operation_id=on_alpha.pk, customer=cast.alpha) == on_alpha
    for user, pk, customer in ((alice, on_alpha.pk, cast.beta), (charlie, on_alpha.pk, None),
                               (alice, partner_only.pk, None), (charlie, partner_only.pk, None),
                               (alice, 999999, None)):
        with pytest.raises(Exception) as refused:
            operations.operation_for_user(user=user, operation_id=pk, customer=customer)
        assert refused.type.__name__ == "Http404"
    assert operations.operation_for_user(user=engineer, operation_id=partner_only.pk) == partner_only
    assert Operation.objects.count() == 2
