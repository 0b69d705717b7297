"""The accelerators reference (docs/accelerators.md), generated from the built-in templates' YAML so the two never
disagree: ``manage.py accelerators_reference`` writes it, and a test fails when it is out of date."""

from __future__ import annotations

from pathlib import Path

import yaml

from apps.accelerators.services import BUILTIN_DIR

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "accelerators.md"
INTRO = """# Accelerators

Generated from `apps/accelerators/builtin/*.yaml` by `manage.py accelerators_reference`; do not edit by hand.

An accelerator is a template a partner installs into a customer in one action: from the partner site (the
customer's drill-in, or onboarding), the tenant admin (Flows → *Install an accelerator*), the API, or
`manage.py onboard_customer --template <slug>`. Installing creates what the template owns (connections it
needs, disabled until their credentials are entered; mappings, published; validation rule sets; flows with
their triggers; which system owns each object) and changes nothing it does not own. Installing again changes
nothing; a newer version installs over an older one with the variables recorded at install
(docs/portal.md, "Template versions and upgrades"). Each variable has a default. On the partner site (a customer's
page, onboarding and the setup wizard) and in the tenant admin, choosing a template shows one field per variable,
typed after its default (text, number, date, a tick box) and filled with it; a value of the wrong type is refused
on its field. What is recorded for the install is only what differs from the defaults, so an upgrade whose default
changed brings the new one to customers who kept the old. The API and `onboard_customer` take the variables as a
JSON object.
"""


def _cell(value) -> str:
    return " ".join(str(value).replace("|", "\\|").split()) if value not in (None, "") else "—"


def _trigger(flow: dict) -> str:
    triggers = []
    if flow.get("on_webhook"):
        triggers.append("webhook events")
    if flow.get("on_hub_change"):
        triggers.append("hub changes")
    if flow.get("after_flow"):
        triggers.append(f"the records `{flow['after_flow']}` creates")
    if flow.get("on_schedule", True):
        every = flow.get("schedule_cron") or (f"every {flow['schedule_minutes']} min" if flow.get("schedule_minutes")
                                              else "the default schedule")
        triggers.append(f"schedule ({every})")
    return ", ".join(triggers) or "manual runs only"


def _when(spec: dict) -> str:
    """`` (only when `time_connection` is set)`` for an optional entry."""
    if "when" not in spec:
        return ""
    return f" (only when `{str(spec['when']).strip('{} ')}` is set)"


def template_markdown(definition: dict) -> list[str]:
    lines = [f"## {definition['name']}", "", f"`{definition['slug']}`, version {definition['version']}"
             + (" (premium)" if definition.get("premium") else "") + ".", "",
             " ".join(str(definition.get("description", "")).split()), "", "### Variables", ""]
    variables = definition.get("variables") or {}
    if variables:
        lines += ["| variable | meaning | default |", "|---|---|---|"]
        lines += [f"| `{name}` | {_cell(spec.get('label'))} | {_cell(spec.get('default'))} |"
                  for name, spec in variables.items()]
    else:
        lines.append("None.")
    lines += ["", "### What it owns", ""]
    for spec in definition.get("connections", []):
        kind = spec["kind"] + (f", the shipped `{spec['manifest']}` manifest" if spec.get("manifest") else "")
        lines.append(f"- Connection `{spec['slug']}` ({kind}), created disabled if the customer lacks it{_when(spec)}.")
    for spec in definition.get("mappings", []):
        lines.append(f"- Mapping `{spec['slug']}`: {spec.get('name', spec['slug'])} ({spec.get('direction', '')} "
                     f"{spec.get('object_type', '')}){_when(spec)}.")
    for spec in definition.get("rule_sets", []):
        kinds = ", ".join(r["kind"] for r in spec.get("rules", []))
        lines.append(f"- Rule set `{spec['slug']}` on {spec['object_type']}: {kinds or 'no rules'}{_when(spec)}.")
    for flow in definition.get("flows", []):
        lines.append(f"- Flow `{flow['slug']}`: {flow.get('direction')} {flow.get('object_type')} through "
                     f"`{flow['connection']}` ({flow.get('object_name', '')})"
                     + ("; writes back to the record each came from, never creating one" if flow.get("write_back")
                        else "") + f"; runs on {_trigger(flow)}{_when(flow)}.")
    for spec in definition.get("ownership", []):
        lines.append(f"- System of record for {spec.get('object_type')}: `{spec.get('connection')}`.")
    return [*lines, ""]


def reference_markdown() -> str:
    lines = [INTRO]
    for path in sorted(BUILTIN_DIR.glob("*.yaml")):
        lines += template_markdown(yaml.safe_load(path.read_text()))
    return "\n".join(lines).rstrip() + "\n"


def reference_write() -> Path:
    DOC_PATH.write_text(reference_markdown(), encoding="utf-8")
    return DOC_PATH
