"""Reads of mappings for the API and the pages that list or preview them."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from apps.canonical.models import OBJECT_MODELS, ExternalRef
from apps.mappings.models import Mapping, MappingVersion, RuleSet


def mappings_with_versions() -> QuerySet[Mapping]:
    """Every mapping of the current customer by name, its versions fetched in one more query."""
    return Mapping.objects.prefetch_related("versions__published_by").order_by("name")


def mapping_version_get(*, slug: str, number: int) -> MappingVersion:
    """Version ``number`` of mapping ``slug`` (404 when either is missing)."""
    versions = MappingVersion.objects.select_related("mapping", "published_by")
    return get_object_or_404(versions, mapping__slug=slug, number=number)


def refs_unknown(refs: set[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
    """Which of ``refs`` ((object type, found by, value), as an inbound mapping makes them) name no record in the hub:
    what the mapping preview reports before the hub would refuse the record. One query per object type and way.
    A ref by external id counts as known when any connection holds that id for the object type."""
    wanted: dict[tuple[str, str], set[str]] = {}
    for object_type, by, value in refs:
        wanted.setdefault((object_type, by), set()).add(value)
    unknown = set()
    for (object_type, by), values in wanted.items():
        model = OBJECT_MODELS.get(object_type)
        names = {f.name for f in model._meta.concrete_fields} if model else set()
        if by == "external":
            known = set(ExternalRef.objects.filter(object_type=object_type, external_id__in=values)
                        .values_list("external_id", flat=True))
        elif by in names:
            known = {str(v) for v in model.objects.filter(**{f"{by}__in": values}).values_list(by, flat=True)}
        else:
            continue  # a way the hub resolves otherwise: not second-guessed here
        unknown |= {(object_type, by, value) for value in values - known}
    return unknown


def mapping_get(*, slug: str) -> Mapping:
    """Mapping ``slug`` with its versions (404 when missing)."""
    return get_object_or_404(Mapping.objects.prefetch_related("versions__published_by"), slug=slug)


def rule_sets_with_rules() -> QuerySet[RuleSet]:
    """Every rule set by name, its rules (in order) fetched in one more query."""
    return RuleSet.objects.prefetch_related("rules").order_by("name")


def rule_set_get(*, slug: str) -> RuleSet:
    return get_object_or_404(RuleSet.objects.prefetch_related("rules"), slug=slug)
