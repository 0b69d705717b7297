"""Progress of long operations (bulk replay, template install, onboarding) for the pages that watch them.

The whole API, for code that does long work::

    op = operation_start(kind="replay", title="Replay 2,400 failed items", total=2400,
                         customer=customer, acting_user=request.user)     # in the request, before queueing
    ...queue the task with op.pk...
    return redirect(operation_url(op))                                       # the page that watches it

    # in the task (any process, any schema):
    operation_progress(op_id, step="Replaying time entries")               # running; optional step text
    operation_progress(op_id, done=120, errors=3, error="ACME-104: person … is not known")  # absolute counts
    operation_progress(op_id, add_done=50)                                   # or increments
    operation_finish(op_id, result_url="/runs/42/", result_label="Open the run")  # or error="why it failed"

    with operation_tracked(op_id):   # running on entry; failed (with the error's message) if the block raises,
        ...                          # succeeded when it ends, unless the block finished it itself

Pages include ``templates/operations/_progress.html`` with ``operation`` in the context; it polls
``/operations/<id>/progress/`` (htmx, every second) until the operation has finished. ``/operations/<id>/``
is a whole page around it, on the partner site and on customer hosts alike. Who may watch: the person who
started it, and people who may see its customer (or its partner, for work without a customer yet).

Counters are operational fields: ``QuerySet.update()``, no history rows (the work itself writes its own).
Every function takes ids, so a task never needs the row loaded, and calling one for a missing operation
does nothing (the operation is only the view of the work, never a reason for the work to fail).
"""

from __future__ import annotations

from contextlib import contextmanager

from django.db.models import F
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from apps.tenants import access
from apps.tenants.models import Customer, Operation, OperationState, Partner

KEEP_ERRORS = 20  # the latest error messages kept for the page; the count keeps counting


def operation_start(*, kind: str, title: str, total: int | None = None, customer: Customer | None = None,
                    partner: Partner | None = None, acting_user=None) -> Operation:
    """A new queued operation; ``partner`` defaults to the customer's."""
    if partner is None and customer is not None:
        partner = customer.partner
    return Operation.objects.create(kind=kind, title=title[:200], total=total, customer=customer, partner=partner,
                                     started_by=acting_user if getattr(acting_user, "pk", None) else None)


def operation_progress(operation_id: int, *, done: int | None = None, total: int | None = None,
                       errors: int | None = None, add_done: int = 0, add_errors: int = 0, error: str = "",
                       step: str | None = None) -> None:
    """Mark it running and record progress: absolute counts, increments, one more error message, the step."""
    changes: dict = {"state": OperationState.RUNNING, "updated_at": timezone.now()}
    if done is not None or add_done:
        changes["done"] = done if done is not None else F("done") + add_done
    if errors is not None or add_errors:
        changes["errors"] = errors if errors is not None else F("errors") + add_errors
    if total is not None:
        changes["total"] = total
    if step is not None:
        changes["step"] = step[:300]
    unfinished = Operation.objects.filter(pk=operation_id).exclude(state__in=_FINISHED)
    unfinished.update(**changes)
    if error:
        _error_note(operation_id, error)


def operation_finish(operation_id: int, *, error: str = "", step: str | None = None, result_url: str = "",
                     result_label: str = "") -> None:
    """Succeeded, or failed with ``error`` (which becomes the step shown and the last error message)."""
    changes = {"state": OperationState.FAILED if error else OperationState.SUCCEEDED, "finished_at": timezone.now(),
               "updated_at": timezone.now()}
    if step is not None or error:
        changes["step"] = (step or error)[:300]
    if result_url:
        changes["result_url"], changes["result_label"] = result_url[:500], (result_label or "Open")[:120]
    Operation.objects.filter(pk=operation_id).exclude(state__in=_FINISHED).update(**changes)
    if error:
        _error_note(operation_id, error)


@contextmanager
def operation_tracked(operation_id: int):
    """Run a block as the operation: running on entry, failed if it raises (then re-raised), else succeeded."""
    operation_progress(operation_id)
    try:
        yield
    except Exception as error:
        operation_finish(operation_id, error=getattr(error, "message", None) or str(error) or type(error).__name__)
        raise
    operation_finish(operation_id)


def _error_note(operation_id: int, message: str) -> None:
    operation = Operation.objects.filter(pk=operation_id).only("error_messages").first()
    if operation is not None:
        kept = [*operation.error_messages, message[:500]][-KEEP_ERRORS:]
        Operation.objects.filter(pk=operation_id).update(error_messages=kept)


_FINISHED = (OperationState.SUCCEEDED, OperationState.FAILED)


def operation_url(operation: Operation) -> str:
    return reverse("operation", args=[operation.pk])


def operation_for_user(*, user, operation_id: int, customer: Customer | None = None) -> Operation:
    """The operation if ``user`` may watch it (on ``customer``'s host: only that customer's); 404 alike for
    missing and not yours."""
    operation = Operation.objects.select_related("customer", "partner").filter(pk=operation_id).first()
    if operation is None or not user.is_authenticated or (customer is not None and operation.customer != customer):
        raise Http404("No such operation.")
    if operation.started_by_id == user.pk:
        return operation
    if operation.customer is not None and access.can(user, "customer.view", customer=operation.customer):
        return operation
    if operation.customer is None and operation.partner is not None and access.can(user, "partner.view",
                                                                                   partner=operation.partner):
        return operation
    raise Http404("No such operation.")
