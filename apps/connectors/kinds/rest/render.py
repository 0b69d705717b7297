"""Filling a manifest's placeholders (``{settings.realm_id}``, ``{page.cursor}``, ``{parent.id}``) for one request.

A string that is exactly one placeholder becomes that value itself, so ``"{payload}"`` puts the mapping's
output object into a body and ``"{page.size}"`` stays a number; a whole-placeholder value that is None is
left out of its object, so the first page sends no ``after`` and a first read no ``updated_since``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from apps.connectors.kinds.rest.manifest import PLACEHOLDER, search

_OMIT = object()


class Variables:
    """What placeholders may name: plain values, ``settings.<name>`` and ``parent.<JMESPath>``."""

    def __init__(self, values: dict[str, Any], *, settings: dict[str, Any], parent: Any = None):
        self.values, self.settings, self.parent = values, settings, parent

    def with_values(self, **values: Any) -> Variables:
        return Variables({**self.values, **values}, settings=self.settings, parent=self.parent)

    def with_parent(self, parent: Any) -> Variables:
        return Variables(self.values, settings=self.settings, parent=parent)

    def get(self, name: str) -> Any:
        if name.startswith("settings."):
            return self.settings.get(name.split(".", 1)[1])
        if name.startswith("parent."):
            return search(name.split(".", 1)[1], self.parent)
        return self.values.get(name)


def render(value: Any, variables: Variables) -> Any:
    """``value`` (a string, or a JSON structure of them) with its placeholders filled."""
    rendered = _render(value, variables)
    return None if rendered is _OMIT else rendered


def _render(value: Any, variables: Variables) -> Any:
    if isinstance(value, str):
        return _render_text(value, variables)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            rendered = _render(item, variables)
            if rendered is not _OMIT:
                out[key] = rendered
        return out
    if isinstance(value, list):
        return [item for item in (_render(v, variables) for v in value) if item is not _OMIT]
    return value


def _render_text(text: str, variables: Variables) -> Any:
    if "{" not in text:
        return text
    whole = PLACEHOLDER.fullmatch(text)
    if whole:
        found = variables.get(whole.group(1))
        return _OMIT if found is None else found
    return PLACEHOLDER.sub(lambda m: _as_text(variables.get(m.group(1))), text)


def render_path(path: str, variables: Variables) -> str:
    """A URL path with its placeholders filled and percent-encoded (an id cannot add path segments)."""
    return PLACEHOLDER.sub(lambda m: quote(_as_text(variables.get(m.group(1))), safe=""), path)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
