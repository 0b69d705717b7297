"""The door: the checks an inbound record must pass before any of it lands in the hub.

The rules are the defaults for the record's type (``apps.mappings.validation.DOOR_DEFAULTS``: hours in
(0, 24] unless the source marks a correction, a real date) with the inbound flow's own rule set over
them (a rule of the same kind replaces the default). A pull without a flow uses the rule set of the
enabled inbound flow that reads the same connection and object, if there is one. A record that fails
becomes a failed ledger item (so an exception, with the record's business context); one a rule skips
(e.g. an approval rule at the door) is recorded as skipped. References (person, project, customer) are
checked by the hub in the same step, before anything is written. See docs/data-quality.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from apps.common.errors import ErrorCategory
from apps.common.objects import CanonicalInput
from apps.mappings.validation import DOOR_DEFAULTS, RuleSpec, door_view, rule_set_specs, validate, with_defaults
from apps.runs.models import Flow, FlowDirection, ItemOutcome, Run


@dataclass
class Refused:
    """A record the door kept out, and why."""

    record: CanonicalInput
    outcome: str  # ItemOutcome.FAILED or ItemOutcome.SKIPPED
    message: str
    field: str = ""
    category: str = ErrorCategory.VALIDATION


def door_flow(run: Run) -> Flow | None:
    """The inbound flow whose rules apply to this run's records."""
    if run.flow_id is not None:
        return run.flow
    return (Flow.objects.filter(direction=FlowDirection.INBOUND, connection_id=run.connection_id,
                                object_name=run.object_name, is_enabled=True).order_by("pk").first())


def door_rules(run: Run, flow: Flow | None) -> list[RuleSpec]:
    configured = rule_set_specs(flow.rule_set_id) if flow is not None else []
    return with_defaults(DOOR_DEFAULTS.get(run.object_type, ()), configured)


def door_check(run: Run, records: list[CanonicalInput]) -> tuple[list[CanonicalInput], list[Refused]]:
    """(records that may go on to the hub, records kept out). Deletions pass: only their id matters."""
    flow = door_flow(run)
    rules = door_rules(run, flow)
    live = [record for record in records if not record.deleted]
    if not rules or not live:
        return records, []
    verdicts = validate(rules, [door_view(record) for record in live], variables=flow.variables if flow else {})
    refused = {}
    for record, verdict in zip(live, verdicts, strict=True):
        if verdict.failures:
            refused[id(record)] = Refused(record, ItemOutcome.FAILED, " ".join(verdict.failures),
                                          field=next((f for f in verdict.fields if f), ""))
        elif verdict.skip:
            refused[id(record)] = Refused(record, ItemOutcome.SKIPPED, verdict.skip)
    return [r for r in records if id(r) not in refused], list(refused.values())
