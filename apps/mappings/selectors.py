"""Reads of mappings for the API and the pages that list or preview them."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from apps.mappings.models import Mapping, MappingVersion


def mappings_with_versions() -> QuerySet[Mapping]:
    """Every mapping of the current customer by name, its versions fetched in one more query."""
    return Mapping.objects.prefetch_related("versions").order_by("name")


def mapping_version_get(*, slug: str, number: int) -> MappingVersion:
    """Version ``number`` of mapping ``slug`` (404 when either is missing)."""
    return get_object_or_404(MappingVersion.objects.select_related("mapping"), mapping__slug=slug, number=number)

