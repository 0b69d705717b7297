"""Checks on data from outside (request bodies, query strings, settings typed into a form) that PostgreSQL or
Python would otherwise turn into a 500: NUL characters, nesting deeper than any real document, numbers that
are not finite. Each check raises ``UntrustedInputError`` with a message fit to show the sender.
"""

from __future__ import annotations

import math
from typing import Any

from apps.common.errors import ApplicationError

NUL = "\x00"
# Deeper than any configuration, payload or event Weft reads; the JSON parser refuses more.
MAX_JSON_DEPTH = 64
MAX_ID = 2**63 - 1  # the largest primary key PostgreSQL stores; an id filter above it is a 400, not a DataError


class UntrustedInputError(ApplicationError):
    """Input that cannot be stored or used as it stands (answered with 400)."""


def has_nul(text: str) -> bool:
    return NUL in text


def check_json_tree(data: Any, *, max_depth: int = MAX_JSON_DEPTH, where: str = "The JSON") -> None:
    """Refuse documents nested deeper than ``max_depth``, text with NUL characters (PostgreSQL cannot store
    them) and numbers that are not finite (``1e400`` parses as infinity). Iterative: no recursion to exhaust."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > max_depth:
                raise UntrustedInputError(f"{where} is nested more than {max_depth} levels deep.")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, child in items:
                if isinstance(key, str) and NUL in key:
                    raise UntrustedInputError(f"{where} has a NUL character in a key; remove it.")
                stack.append((child, depth + 1))
        elif isinstance(value, str) and NUL in value:
            raise UntrustedInputError(f"{where} has a NUL character in a text value; remove it.")
        elif isinstance(value, float) and not math.isfinite(value):
            raise UntrustedInputError(f"{where} has a number too large to store.")
