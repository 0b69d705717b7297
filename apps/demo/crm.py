"""Demo CRM intake for one customer: the ``crm-intake`` accelerator installed, its HubSpot and Tryton connections
waiting for credentials, as a partner leaves it after installing it from the partner site. The demo reaches no
outside system, so no deal is read until someone enters a HubSpot token and a Tryton login and enables them."""

from __future__ import annotations

from apps.accelerators.selectors import templates_for_customer
from apps.accelerators.services import template_install
from apps.runs.models import Flow

DEMO_CUSTOMER = "globex"


def demo_crm_seed(*, customer) -> bool:
    """Install CRM intake for the demo's CRM customer (current schema) once; False if not that customer or done."""
    if customer.slug != DEMO_CUSTOMER or Flow.objects.filter(slug="crm-deals-in").exists():
        return False
    template = templates_for_customer(customer).get(slug="crm-intake")
    template_install(template=template, variables={"code_prefix": "GLOBEX-DEAL-", "default_rate": 165},
                     customer=customer, acting_user=None)
    return True
