"""From an error to a kind and a fingerprint: what kind of failure it is, and which failures are "the same".

The engine tags most failures with an ``ErrorCategory``; where it does not (a run that failed as a
whole keeps only its message) the message is read. Fingerprints group failures that one fix would
cure: the same rule, the same mapping field, the same missing record, the same broken connection.
What varies per record (row numbers, ids, dates, amounts, names in rule messages) is taken out; what
names the cause (the missing project's code, the field, the owner) is kept.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from apps.common.errors import ErrorCategory
from apps.exceptions.choices import Kind

CATEGORY_KINDS = {
    ErrorCategory.TRANSPORT: Kind.TRANSPORT,
    ErrorCategory.RATE_LIMIT: Kind.RATE_LIMIT,
    ErrorCategory.AUTH: Kind.AUTH,
    ErrorCategory.PARSE: Kind.PARSE,
    ErrorCategory.TOO_LARGE: Kind.TOO_LARGE,
    ErrorCategory.VALIDATION: Kind.VALIDATION,
    ErrorCategory.NOT_FOUND: Kind.MISSING_REFERENCE,  # the record we point at is gone on the other side
    ErrorCategory.CONFLICT: Kind.CONFLICT,
    ErrorCategory.DUPLICATE: Kind.DUPLICATE,
    ErrorCategory.MISSING_REFERENCE: Kind.MISSING_REFERENCE,
    ErrorCategory.MAPPING: Kind.MAPPING,
    ErrorCategory.CONFIG: Kind.CONFIGURATION,
}

# Messages that name a record the other side does not know, whatever category they came with.
_MISSING_PATTERNS = [
    re.compile(r"(?P<what>[\w ]+?): no (?P<type>[\w ]+?) named (?P<value>.+?) is known yet"),
    re.compile(r"(?P<what>[\w ]+?): no (?P<type>[\w ]+?) with (?P<how>.+?) (?P<value>\S+) is known yet"),
    re.compile(r"(?:The )?(?P<what>\w[\w ]*?) (?P<value>\S+) is not known to the target system"),
    re.compile(r"(?:its )?(?P<what>\w+) (?P<value>\S+) is not in [\w ]+ yet"),
]
_STATUS = re.compile(r"answered (\d{3})")
_STATUS_KINDS = {401: Kind.AUTH, 403: Kind.AUTH, 404: Kind.MISSING_REFERENCE, 409: Kind.CONFLICT,
                 413: Kind.TOO_LARGE, 429: Kind.RATE_LIMIT}
# Run-level messages (the run keeps no category): first match wins.
_MESSAGE_KINDS = [
    (re.compile(r"rate limit|too many requests|quota", re.I), Kind.RATE_LIMIT),
    (re.compile(r"unauthori[sz]ed|forbidden|credential|token (?:expired|invalid)|authenticat|password", re.I),
     Kind.AUTH),
    (re.compile(r"larger than|too large", re.I), Kind.TOO_LARGE),
    (re.compile(r"refusing to call|missing setting|unknown object|cannot (?:read|write|delete)|no enabled flow|"
                r"outside the connection's folder|encoding '[^']*' is not known|must be a number", re.I),
     Kind.CONFIGURATION),
    (re.compile(r"expected JSON|malformed JSON|not valid JSON|cannot parse|encoding|unbalanced quote", re.I),
     Kind.PARSE),
    (re.compile(r"duplicate", re.I), Kind.DUPLICATE),
    (re.compile(r"owned by|belong to", re.I), Kind.CONFLICT),
    (re.compile(r"mapping failed|expression", re.I), Kind.MAPPING),
    (re.compile(r"timed? ?out|connect|unreachable|cannot resolve|failed: \w+Error|keeps failing|answered 5\d\d",
                re.I), Kind.TRANSPORT),
]


def classify(*, category: str, message: str, conflict: bool = False) -> str:
    """The exception kind for an error: its category if it has one (refined by the message), else its message."""
    if conflict:
        return Kind.CONFLICT
    kind = CATEGORY_KINDS.get(category)
    if kind in (Kind.VALIDATION, Kind.MAPPING) and missing_reference(message):
        return Kind.MISSING_REFERENCE  # a "reference exists" rule or lookup: fixing it means sending the record
    if kind is not None:
        return kind
    status = _STATUS.search(message)
    if status:
        code = int(status.group(1))
        return _STATUS_KINDS.get(code, Kind.VALIDATION if code < 500 else Kind.TRANSPORT)
    for pattern, found in _MESSAGE_KINDS:
        if pattern.search(message):
            return found
    if missing_reference(message):
        return Kind.MISSING_REFERENCE
    return Kind.VALIDATION


def missing_reference(message: str) -> tuple[str, str] | None:
    """(what, value) of the record a message says is missing, e.g. ("project", "NOPE-1")."""
    for pattern in _MISSING_PATTERNS:
        found = pattern.search(message)
        if found:
            return found.group("what").strip().lower(), found.group("value").strip().rstrip(".")
    return None


# --- normalising messages --------------------------------------------------------------------------
_LOCATION = re.compile(r"^(?:[^:]{1,120}? row \d+|Harvest \w+ \d+|[\w .-]{1,60} \d+): ")
_DAILY_HOURS = re.compile(r"^.+? has [\d.]+ h on \S+, over the ([\d.]+) h limit\.$")
_DUPLICATE = re.compile(r"^(?:duplicate row: id|Duplicate: (external id|code)) .+?(?: is already on row \d+| appears"
                        r" twice in one read)", re.I)
_SAME_IN_FILE = re.compile(r"^duplicate row: the same (?P<noun>[\w ]+?) (?:\(|with every column).*? is already on row "
                           r"\d+", re.I)
_SAME_EARLIER = re.compile(r"^Duplicate: the same row was loaded before from ", re.I)
_SUBSTITUTIONS = [
    (re.compile(r"https?://[^\s/]+(/\S*)?"), lambda m: m.group(0).split("?")[0]),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<id>"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?\b"), "<date>"),
    # A quoted value ('abc', "x"), not an apostrophe (can't, O'Brien): a quote inside a word opens nothing.
    (re.compile(r"(?<!\w)'[^'\n]*'(?!\w)|\"[^\"]*\""), "'…'"),
    (re.compile(r"\b[0-9a-f]{24,}\b", re.I), "<id>"),
    (re.compile(r"\d+(?:\.\d+)?"), "#"),
]


def normalise(message: str, kind: str) -> str:
    """The message with what varies per record taken out, keeping what names the cause."""
    text = " ".join(message.split())
    text = _LOCATION.sub("", text)  # "time.csv row 17: " — where, not what
    if kind == Kind.MISSING_REFERENCE:
        found = missing_reference(text)
        if found:  # one exception per missing record: sending that record fixes all of them
            return f"{found[0]} {found[1]} is not known"
    hours = _DAILY_HOURS.match(text)
    if hours:
        return f"over the {hours.group(1)} h daily limit"
    duplicate = _DUPLICATE.match(text)
    if duplicate:
        return f"duplicate {duplicate.group(1) or 'id'} in one read"
    same = _SAME_IN_FILE.match(text)
    if same:
        return f"duplicate {same.group('noun')} in one file"
    if _SAME_EARLIER.match(text):
        return "duplicate of a row loaded from an earlier file"
    for pattern, replacement in _SUBSTITUTIONS:
        text = pattern.sub(replacement, text)
    return text[:300]


@dataclass(frozen=True)
class Signature:
    kind: str
    title: str
    fingerprint: str


def signature(*, kind: str, message: str, flow_id: int | None, connection_id: int | None, object_type: str,
              error_field: str, scope: str = "") -> Signature:
    """Kind, title and fingerprint of one failure; ``scope`` separates sources (a monitor, a webhook type)."""
    title = normalise(message, kind) or kind
    raw = "|".join([kind, str(flow_id or "-"), str(connection_id or "-"), object_type, error_field, scope, title])
    return Signature(kind=kind, title=title, fingerprint=hashlib.sha256(raw.encode()).hexdigest()[:40])
