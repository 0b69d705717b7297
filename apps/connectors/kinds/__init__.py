"""The registry of connector kinds. A kind registers itself with ``@register``; modules are listed
in ``KIND_MODULES`` and imported when the app is ready, so adding a kind is one file plus one line."""

from __future__ import annotations

from importlib import import_module

from apps.connectors.errors import UnknownKindError

KIND_MODULES = [
    # Each module defines one kind and decorates it with @register.
    "apps.connectors.kinds.webhook",
    "apps.connectors.kinds.harvest",
    "apps.connectors.kinds.xero",
    "apps.connectors.kinds.files",
    "apps.connectors.kinds.tryton.kind",
    "apps.connectors.kinds.rest.kind",
]
REGISTRY: dict[str, type] = {}


def register(kind_class: type) -> type:
    if kind_class.slug in REGISTRY and REGISTRY[kind_class.slug] is not kind_class:
        raise ValueError(f"Connector kind {kind_class.slug!r} is registered twice.")
    REGISTRY[kind_class.slug] = kind_class
    return kind_class


def get_kind(slug: str) -> type:
    try:
        return REGISTRY[slug]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise UnknownKindError(f"Unknown connector kind {slug!r}; known kinds: {known}.") from None


def load_kinds() -> None:
    for module in KIND_MODULES:
        import_module(module)


def kind_choices() -> list[tuple[str, str]]:
    return sorted((slug, kind.label) for slug, kind in REGISTRY.items())
