""""Try it" for REST manifests: fetch the first page with the real credentials, before anything is saved, and show
the records beside their canonical form under a suggested (or the engineer's) mapping.

Suggestions match a record's fields to the hub's fields by name (``displayName`` → ``name``, ``update_time`` is
left alone); they are a starting point the engineer corrects in the field picker, never applied silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from apps.canonical.fields import field_plans
from apps.common.errors import ExternalSystemError
from apps.common.http import OutboundClient
from apps.connectors.kinds.base import KindContext, RecordError
from apps.connectors.kinds.rest.kind import RestKind
from apps.connectors.kinds.rest.manifest import manifest_load
from apps.connectors.oauth2 import MemoryTokenStore
from apps.mappings.rules import apply_rules, rules_check, to_canonical_input

# Hub field → record field names that usually mean it (compared without case, "_" or "-").
SYNONYMS = {
    "name": ("name", "displayname", "fullname", "title", "dealname", "companyname", "organizationname"),
    "code": ("code", "number", "accountnumber", "key", "reference", "slug"),
    "email": ("email", "emailaddress", "primaryemail", "workemail"),
    "currency": ("currency", "currencycode", "defaultcurrency"),
    "is_active": ("isactive", "active", "activeflag", "enabled"),
    "tax_id": ("taxid", "taxnumber", "vatnumber"),
    "date": ("date", "spentdate", "txndate", "workdate"),
    "hours": ("hours", "quantity", "duration"),
    "notes": ("notes", "description", "comment"),
    "amount": ("amount", "total", "totalamount", "totalcost"),
    "amount_total": ("total", "totalamt", "totalamount", "amount"),
    "issue_date": ("issuedate", "date", "txndate", "invoicedate"),
    "due_date": ("duedate",),
    "start_date": ("startdate", "startson", "start"),
    "end_date": ("enddate", "endson", "closedate", "end"),
    "budget_amount": ("budget", "amount", "value", "budgetamount"),
    "practice": ("department", "practice", "departmentname"),
    "status": ("status", "state"),
}


@dataclass
class TryResult:
    """What "Try it" shows: the first page, unreadable records, hints, and the canonical rows under ``rules``."""

    object_name: str
    object_type: str
    records: list[dict] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)
    rules: list[dict] = field(default_factory=list)
    canonical: list[dict] = field(default_factory=list)
    failure: str = ""
    page_count: int = 0  # records on the first page (at most 20 are shown)


def rest_try(*, manifest: dict, object_name: str, settings: dict, credentials: dict, rules: list[dict] | None = None,
             allow_private_network: bool = False, transport=None) -> TryResult:
    """The first page of ``object_name`` with these credentials, and each record's canonical form."""
    checked = manifest_load(manifest)
    obj = checked.object(object_name)
    result = TryResult(object_name, obj["canonical"])
    kind = _unsaved_kind(manifest, settings, credentials, allow_private_network, transport)
    try:
        preview = kind.preview(object_name)
    except ExternalSystemError as error:
        result.failure = error.message
        return result
    result.records, result.errors, result.warnings = preview.records[:20], preview.errors, preview.warnings
    result.page_count = len(preview.records)
    result.fields = preview.fields or sorted(_schema_paths(obj.get("record_schema") or {}))
    result.rules = rules if rules is not None else mapping_suggest(
        object_type=obj["canonical"], fields=result.fields, id_path=obj.get("id", "id"))
    result.canonical = _canonical_rows(result.rules, obj["canonical"], result.records, result.warnings)
    return result


def mapping_suggest(*, object_type: str, fields: list[str], id_path: str = "id") -> list[dict]:
    """Inbound rules that copy record fields to the hub fields they most likely are."""
    rules = [{"target": "external_id", "source": id_path}]
    by_key = {}
    for path in fields:
        by_key.setdefault(_key(path.rsplit(".", 1)[-1]), path)
    for target, plan in field_plans(object_type).items():
        if plan.target_type:
            continue  # related records need a ref rule the engineer chooses
        candidates = (_key(target), *SYNONYMS.get(target, ()))
        source = next((by_key[c] for c in candidates if c in by_key), None)
        if source and source != id_path:
            rules.append({"target": target, "source": source})
    if not any(r["target"] == "code" for r in rules) and "code" in field_plans(object_type):
        rules.append({"target": "code", "source": id_path})
    return rules


def _canonical_rows(rules: list[dict], object_type: str, records: list[dict], warnings: list[str]) -> list[dict]:
    problems = rules_check(rules, direction="inbound", object_type=object_type)
    if problems:
        warnings.extend(problems)
        return []
    rows = []
    for mapped in apply_rules(rules, records[:20]):
        if not mapped.ok:
            rows.append({"errors": [f"{e.target}: {e.message}" for e in mapped.errors]})
            continue
        canonical = to_canonical_input(object_type, mapped)
        rows.append({"external_id": canonical.external_id,
                     "fields": {k: ("" if v is None else str(v)) for k, v in canonical.fields.items()},
                     "refs": {k: (f"{r.by}:{r.value}" if r else "") for k, r in canonical.refs.items()}})
    return rows


def _unsaved_kind(manifest: dict, settings: dict, credentials: dict, allow_private_network: bool,
                  transport) -> RestKind:
    def http_factory(base_url: str, headers: dict) -> OutboundClient:
        return OutboundClient(base_url=base_url, name="Try it", headers=headers, transport=transport,
                              allow_private_network=allow_private_network)

    context = KindContext(connection_id=None, connection_name="Try it",
                          settings={**settings, "manifest_document": manifest}, credentials=credentials,
                          http_factory=http_factory, files_root=Path("/nonexistent"),
                          token_store=MemoryTokenStore(credentials))
    return RestKind(context)


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _schema_paths(schema: dict, prefix: str = "") -> list[str]:
    props = schema.get("properties") or {}
    paths = []
    for key, value in props.items():
        path = f"{prefix}.{key}" if prefix else key
        paths += _schema_paths(value, path) if isinstance(value, dict) and value.get("properties") else [path]
    return paths
