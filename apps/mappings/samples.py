"""Where the mapping preview finds a real record to start from.

Mappings know nothing of runs: the app that keeps the ledger (``apps.runs``) registers a sample source in its
``AppConfig.ready``, and the preview asks the registered sources in turn.
"""

from __future__ import annotations

from collections.abc import Callable

from apps.mappings.models import Mapping

SampleSource = Callable[[Mapping], dict | None]  # a recent source record the mapping was applied to, or None
SAMPLE_SOURCES: list[SampleSource] = []


def sample_source_register(source: SampleSource) -> None:
    if source not in SAMPLE_SOURCES:
        SAMPLE_SOURCES.append(source)


def mapping_recent_sample(mapping: Mapping) -> dict | None:
    """The most recent real source record for ``mapping`` any registered source knows, or None."""
    for source in SAMPLE_SOURCES:
        found = source(mapping)
        if found is not None:
            return found
    return None
