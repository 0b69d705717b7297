"""Runs that work for a long operation (a bulk replay) report to it: records done over all its runs, failures,
and the end once every one of them has finished (``apps.tenants.operations`` keeps the record pages poll)."""

from __future__ import annotations

from django.urls import reverse

from apps.runs.models import FAILED_OUTCOMES, FINISHED, ItemOutcome, Run, RunItem
from apps.tenants.operations import operation_finish, operation_progress

ERRORS_SHOWN = 5  # failed items' messages copied to the operation when it ends; the run page has them all


def operation_follow(run: Run) -> None:
    """After a slice of ``run``: the operation's counts from every run of it, and its end when all are done."""
    runs = list(Run.objects.filter(operation_id=run.operation_id).only("pk", "status", "counts", "error_message"))
    done = sum(sum(int(n) for n in r.counts.values()) for r in runs)
    failed = sum(int(r.counts.get(outcome, 0)) for r in runs for outcome in FAILED_OUTCOMES)
    unfinished = [r for r in runs if r.status not in FINISHED]
    operation_progress(run.operation_id, done=done, errors=failed,
                       step=f"{len(runs) - len(unfinished)} of {len(runs)} run(s) finished")
    if not unfinished:
        _operation_end(run.operation_id, runs, done, failed)


def _operation_end(operation_id: int, runs: list[Run], done: int, failed: int) -> None:
    for item in (RunItem.objects.filter(run__operation_id=operation_id, outcome=ItemOutcome.FAILED)
                 .order_by("pk")[:ERRORS_SHOWN]):
        operation_progress(operation_id, error=f"{item.external_id or item.pk}: {item.error_message}")
    stopped = [r for r in runs if not r.counts and r.error_message]  # a run that failed before any item
    url, label = ((reverse("portal-run", args=[runs[0].pk]), "Open the run") if len(runs) == 1
                  else (reverse("portal-runs"), "Open the runs"))
    step = f"{done:,} record(s) replayed, {failed:,} failed." + "".join(f" {r.error_message}" for r in stopped)
    operation_finish(operation_id, error=stopped[0].error_message if stopped and not done else "", step=step,
                     result_url=url, result_label=label)
