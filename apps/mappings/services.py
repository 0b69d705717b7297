"""Writes for mappings: draft → published (immutable) → superseded; rollback republishes an old version."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from apps.common.history import save_attributed
from apps.mappings.errors import MappingError
from apps.mappings.models import Mapping, MappingVersion, RuleSet, ValidationRule, VersionStatus
from apps.mappings.rules import Mapped, apply_rules, rules_check, rules_shape_problems, to_canonical_input, to_payload
from apps.tenants import access


def mapping_version_create(*, mapping: Mapping, rules: list, acting_user, notes: str = "") -> MappingVersion:
    """A new draft; ``rules`` may be taken from the published version and edited."""
    access.check(acting_user, "configuration.change")
    _shape_check(rules)
    number = (mapping.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    return save_attributed(MappingVersion(mapping=mapping, number=number, rules=rules, notes=notes),
                           acting_user=acting_user, reason="Draft created")


def mapping_version_update(*, version: MappingVersion, rules: list, acting_user, notes: str | None = None,
                           reason: str = "") -> MappingVersion:
    """Replace a draft's rules (published versions never change); the history row names ``acting_user``."""
    access.check(acting_user, "configuration.change")
    if not version.is_editable:
        raise MappingError(f"Version {version.number} is {version.status}; published versions never change. "
                           "Create a new draft instead.")
    _shape_check(rules)
    version.rules = rules
    if notes is not None:
        version.notes = notes
    return save_attributed(version, acting_user=acting_user, reason=reason or "Draft edited")


def _shape_check(rules) -> None:
    problems = rules_shape_problems(rules)
    if problems:
        raise MappingError("The rules cannot be run: " + " ".join(problems), extra={"problems": problems})


def mapping_version_publish(*, version: MappingVersion, acting_user) -> MappingVersion:
    """Publish a draft (or republish a superseded version: that is a rollback); the current one is superseded."""
    access.check(acting_user, "configuration.change")
    mapping = version.mapping
    problems = rules_check(version.rules, direction=mapping.direction, object_type=mapping.object_type)
    if problems:
        raise MappingError("The rules have problems: " + " ".join(problems), extra={"problems": problems})
    if version.status == VersionStatus.PUBLISHED:
        return version
    with transaction.atomic():
        for current in mapping.versions.select_for_update().filter(status=VersionStatus.PUBLISHED):
            current.status = VersionStatus.SUPERSEDED
            save_attributed(current, acting_user=acting_user, reason=f"Superseded by v{version.number}")
        version.status = VersionStatus.PUBLISHED
        version.published_at, version.published_by = timezone.now(), acting_user
        save_attributed(version, acting_user=acting_user, reason="Published")
    return version


def mapping_draft_start(*, mapping: Mapping, acting_user, rules: list | None = None, from_number: int | None = None,
                        notes: str = "") -> MappingVersion:
    """A new draft with ``rules``, else a copy of version ``from_number``'s, else of the published version's."""
    if rules is None:
        base = mapping.versions.filter(number=from_number).first() if from_number else mapping.published_version()
        if from_number and base is None:
            raise MappingError(f"Version {from_number} of {mapping.slug} does not exist.",
                               extra={"field": "from_version"})
        rules = list(base.rules) if base else []
    return mapping_version_create(mapping=mapping, rules=rules, acting_user=acting_user, notes=notes)


def mapping_rollback(*, mapping: Mapping, acting_user, to_number: int | None = None) -> MappingVersion:
    """Publish an earlier version again: ``to_number``, else the newest superseded one."""
    earlier = mapping.versions.filter(status=VersionStatus.SUPERSEDED)
    target = (earlier.filter(number=to_number) if to_number else earlier.order_by("-published_at", "-number")).first()
    if target is None:
        what = f"Version {to_number} was never published" if to_number else "No earlier published version"
        raise MappingError(f"{what}; nothing to roll back to.", extra={"field": "version"})
    return mapping_version_publish(version=target, acting_user=acting_user)


def mapping_preview_compare(*, version: MappingVersion, samples: list[dict], variables: dict | None = None
                            ) -> dict:
    """Each sample under the published version (``before``) and under ``version`` (``after``), with every
    field rule's error for ``version``; ``rule_problems`` are the version's rules that cannot work at all."""
    mapping = version.mapping
    published = mapping.published_version()
    after = _outputs(version, samples, variables)
    before = _outputs(published, samples, variables) if published and published.pk != version.pk else None
    results = [{"input": sample, "before": before[n]["output"] if before else None,
                "after": after[n]["output"] if after else None, "errors": after[n]["errors"] if after else []}
               for n, sample in enumerate(samples)]
    return {"published_version": published.number if published else None,
            "rule_problems": rules_check(version.rules, direction=mapping.direction, object_type=mapping.object_type),
            "results": results}


def _outputs(version: MappingVersion, samples: list[dict], variables: dict | None) -> list[dict] | None:
    """Each sample's output and errors, or None when the rules cannot be run at all."""
    rows = [row for row in mapping_preview(version=version, samples=samples, variables=variables)
            if "rule_problems" not in row]
    return rows or None


def mapping_preview(*, version: MappingVersion, samples: list[dict], variables: dict | None = None,
                    lookup=None) -> list[dict]:
    """Run a version (draft or not) over sample payloads: each sample's result and every rule's error."""
    mapping = version.mapping
    problems = rules_check(version.rules, direction=mapping.direction, object_type=mapping.object_type)
    if rules_shape_problems(version.rules):  # saved before drafts were checked: nothing can be run
        return [{"rule_problems": problems}]
    results = []
    for mapped in apply_rules(version.rules, samples, variables=variables, lookup=lookup):
        results.append({"input": mapped.source, "output": _shape(mapping, mapped) if mapped.ok else None,
                        "errors": [{"target": e.target, "message": e.message} for e in mapped.errors]})
    return [{"rule_problems": problems}, *results] if problems else results


def _shape(mapping: Mapping, mapped: Mapped) -> dict:
    if mapping.direction == "outbound":
        return to_payload(mapped)
    canonical = to_canonical_input(mapping.object_type, mapped)
    return {"external_id": canonical.external_id, "deleted": canonical.deleted,
            "fields": {k: (str(v) if v is not None else None) for k, v in canonical.fields.items()},
            "refs": {k: (f"{r.by}:{r.value}" if r else None) for k, r in canonical.refs.items()}}


@dataclass(frozen=True)
class RuleInput:
    """One row of the rule set editor: an existing rule (``pk``) or a new one, in the order given."""

    kind: str
    params: dict
    message: str = ""
    is_active: bool = True
    pk: int | None = None


@transaction.atomic
def rule_set_rules_save(*, rule_set: RuleSet, rules: list[RuleInput], acting_user, reason: str = "") -> list:
    """Make ``rule_set``'s rules exactly ``rules``, in that order: rules left out are removed, new ones added,
    the rest changed where they differ. Each change is a history row naming ``acting_user``."""
    access.check(acting_user, "configuration.change")
    current = {rule.pk: rule for rule in rule_set.rules.select_for_update()}
    unknown = {r.pk for r in rules if r.pk is not None} - set(current)
    if unknown:
        raise MappingError("Some rules are no longer in this rule set; reload the page.")
    kept = {r.pk for r in rules}
    for pk, rule in current.items():
        if pk not in kept:
            rule._history_user, rule._change_reason = acting_user, reason or "Rule removed"
            rule.delete()
    saved = []
    for position, row in enumerate(rules, start=1):
        rule = current.get(row.pk) or ValidationRule(rule_set=rule_set)
        values = {"kind": row.kind, "params": row.params, "message": row.message, "is_active": row.is_active,
                  "position": position}
        if rule.pk is None or any(getattr(rule, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(rule, name, value)
            save_attributed(rule, acting_user=acting_user, reason=reason or "Rule edited")
        saved.append(rule)
    return saved
