"""Demo escalation for ``make run``: each demo partner's default policy, so the demo's deliberately bad rows
escalate and a branded digest lands in the local mail outbox (``.weft/outbox``) at the first tick."""

from __future__ import annotations

from apps.common.history import save_attributed
from apps.exceptions.defaults.models import PartnerEscalationPolicy
from apps.tenants.models import Partner

RULES = [
    {"name": "Money at risk", "min_amount": "1000", "raise_to": "high"},
    {"name": "Unknown records", "kinds": ["missing_reference"], "raise_to": "high"},
]


def demo_escalation_seed(partner_slugs: list[str]) -> list[str]:
    """A default policy for each demo partner that has none, mailing its support address."""
    lines = []
    for partner in Partner.objects.filter(slug__in=partner_slugs, escalation_policy__isnull=True):
        save_attributed(PartnerEscalationPolicy(partner=partner, name="Demo escalation", rules=RULES,
                                                email_recipients=[partner.support_email]),
                        acting_user=None, reason="Demo escalation policy")
        lines.append(f"{partner.name}: exceptions escalate to {partner.support_email}.")
    return lines
