"""Where the mapping preview and the mapping editor's field picker find real records to start from.

Mappings know nothing of runs: the app that keeps the ledger (``apps.runs``) registers a sample source in its
``AppConfig.ready``, and the preview asks the registered sources in turn. A source answers the latest records
a mapping was (or would be) applied to, newest first: source payloads for inbound mappings, the hub's records
for outbound ones.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from apps.mappings.models import Mapping

SampleSource = Callable[[Mapping, int], list[dict]]  # up to n recent records the mapping was applied to
SAMPLE_SOURCES: list[SampleSource] = []
MAX_PATHS = 300  # a picker longer than this helps nobody; wider records are cut (deepest, latest paths last)
EXAMPLE_CHARS = 40


# What a flow using the mapping would give it: its variables ($vars) and the target-id lookup of outbound
# ``lookup`` rules (None when there is none). Registered by apps.runs, like the sample source.
PreviewContext = Callable[[Mapping], tuple[dict, Callable | None]]
PREVIEW_CONTEXTS: list[PreviewContext] = []


def preview_context_register(context: PreviewContext) -> None:
    if context not in PREVIEW_CONTEXTS:
        PREVIEW_CONTEXTS.append(context)


def mapping_preview_context(mapping: Mapping) -> tuple[dict, Callable | None]:
    """Variables and lookup for previewing ``mapping`` as its flow would run it; ``({}, None)`` if none is known."""
    for context in PREVIEW_CONTEXTS:
        variables, lookup = context(mapping)
        if variables or lookup:
            return variables, lookup
    return {}, None


def sample_source_register(source: SampleSource) -> None:
    if source not in SAMPLE_SOURCES:
        SAMPLE_SOURCES.append(source)


def mapping_recent_samples(mapping: Mapping, n: int = 10) -> list[dict]:
    """Up to ``n`` recent real records for ``mapping`` from the first registered source that knows any."""
    for source in SAMPLE_SOURCES:
        found = [record for record in source(mapping, n) if isinstance(record, dict)]
        if found:
            return found[:n]
    return []


def mapping_recent_sample(mapping: Mapping) -> dict | None:
    """The most recent real source record for ``mapping`` any registered source knows, or None."""
    found = mapping_recent_samples(mapping, 1)
    return found[0] if found else None


def field_paths(records: list[dict]) -> list[tuple[str, str]]:
    """Every field seen in ``records`` as a dotted path (``project.code``, ``lines.0.amount``) with an example
    value (the first non-empty one seen), in the order first met: what the field picker lists."""
    examples: dict[str, str] = {}
    for record in records:
        for path, value in _leaves(record, ""):
            if len(examples) >= MAX_PATHS and path not in examples:
                continue
            if not examples.get(path) and value not in (None, ""):
                examples[path] = _example(value)
            examples.setdefault(path, "")
    return list(examples.items())


def _leaves(value, prefix: str):
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            yield from _leaves(inner, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and value and isinstance(value[0], dict | list):
        yield from _leaves(value[0], f"{prefix}.0")  # the first element stands for the list
    elif prefix:
        yield prefix, value


def _example(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= EXAMPLE_CHARS else text[:EXAMPLE_CHARS - 1] + "…"
