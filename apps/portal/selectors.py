"""The partner overview (public schema): one row per customer from the health summary and this month's usage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.db.models import F, FilteredRelation, OuterRef, Q, Subquery
from django.urls import reverse
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.canonical.models import Person, Project
from apps.connectors.models import Connection, HealthStatus
from apps.exceptions.defaults.models import PartnerEscalationPolicy
from apps.exceptions.models import EscalationPolicy
from apps.runs.models import Flow, FlowDirection, Run
from apps.runs.selectors import GOOD_STATUSES
from apps.tenants.models import Customer, Domain, Partner
from apps.tenants.usage import month_start

OVERVIEW_FIELDS = {
    "slug": "slug", "name": "name", "is_active": "is_active", "plan_name": "plan__name", "plan_slug": "plan__slug",
    "sla_status": "health__sla_status", "sla_reason": "health__sla_reason", "computed_at": "health__computed_at",
    "open_exceptions": "health__open_exceptions", "money_at_risk": "health__money_at_risk",
    "money_at_risk_currency": "health__money_at_risk_currency", "unposted_hours": "health__unposted_hours",
    "unposted_value": "health__unposted_value", "unposted_currency": "health__unposted_currency",
    "money_at_risk_amounts": "health__money_at_risk_amounts", "unposted_values": "health__unposted_values",
    "last_good_sync_at": "health__last_good_sync_at", "flows": "health__flows",
    "records_synced": "this_month__records_synced", "runs": "this_month__runs", "api_calls": "this_month__api_calls",
}


def partner_overview(partner: Partner, *, month: date | None = None) -> list[dict]:
    """Every customer of ``partner`` as one plain row: health summary, plan, primary domain and this month's
    usage (None where not measured yet). One query on public tables whatever the number of customers; no
    customer schema is touched, and no model instances are built (the page lists hundreds)."""
    month = month_start(month or timezone.now().date())
    primary = Domain.objects.filter(tenant=OuterRef("pk")).order_by("-is_primary", "pk").values("domain")[:1]
    rows = (
        Customer.objects.firms().filter(partner=partner)
        .annotate(this_month=FilteredRelation("usage_months", condition=Q(usage_months__month=month)),
                  domain=Subquery(primary))
        .values("domain", *[key for key, path in OVERVIEW_FIELDS.items() if key == path],
                **{key: F(path) for key, path in OVERVIEW_FIELDS.items() if key != path})
        .order_by("name")
    )
    return list(rows)


@dataclass(frozen=True)
class TodoItem:
    """One thing left before a customer runs on its own, and where it is fixed (a path on the customer's host,
    or an anchor on the drill-in)."""

    key: str
    says: str
    fix: str
    on_customer_host: bool = True


def setup_url(customer: Customer, step: str = "") -> str:
    """A step of ``customer``'s setup wizard on the partner site (``""``: the first step not done)."""
    name, args = ("partner-setup", [customer.slug]) if not step else ("partner-setup-step", [customer.slug, step])
    return reverse(name, args=args, urlconf=settings.PUBLIC_SCHEMA_URLCONF)


@dataclass(frozen=True)
class SetupState:
    """How far a customer's setup has come: the wizard's steps after the customer and its domain exist."""

    has_flows: bool
    connections_ready: bool  # every connection enabled and its last test passed
    has_good_run: bool

    @property
    def next_step(self) -> str:
        if not self.has_flows:
            return "template"
        if not self.connections_ready:
            return "connections"
        return "run" if not self.has_good_run else "done"

    @property
    def complete(self) -> bool:
        return self.next_step == "done"


def customer_setup_state(customer: Customer) -> SetupState:
    """Where ``customer``'s setup stands (queries its schema)."""
    with schema_context(customer.schema_name):
        return SetupState(
            has_flows=Flow.objects.exists(),
            connections_ready=not Connection.objects.filter(
                Q(is_enabled=False) | ~Q(health_status=HealthStatus.OK)).exists(),
            has_good_run=Run.objects.filter(status__in=GOOD_STATUSES).exists(),
        )


def _reference_todo(customer: Customer, name: str, has_flow: bool) -> TodoItem:
    """No people (or projects) in the hub: run the flow that reads them, or install an accelerator that has one."""
    if has_flow:
        return TodoItem(f"no-{name}", f"No {name} in the hub: time naming them will fail. Run the flow that reads "
                        f"{name} from the source system.", setup_url(customer, "run"), on_customer_host=False)
    return TodoItem(f"no-{name}", f"No {name} in the hub, and no flow reads them: time naming them will fail. Install "
                    f"an accelerator that reads them (e.g. Customers, people and projects from files).",
                    setup_url(customer, "template"), on_customer_host=False)


def customer_checklist(customer: Customer) -> list[TodoItem]:
    """What is left for ``customer`` (queries its schema): an empty list means nothing. Setup steps link to the
    partner site's setup wizard (no second sign-in); the rest to the customer's admin."""
    items = []
    with schema_context(customer.schema_name):
        has_flows = Flow.objects.exists()
        if not has_flows:
            items.append(TodoItem("flows", "No flows yet: install an accelerator.", setup_url(customer, "template"),
                                  on_customer_host=False))
        for connection in Connection.objects.filter(Q(is_enabled=False) | Q(health_status=HealthStatus.FAILING)):
            state = "paused" if not connection.is_enabled else "failing its test"
            items.append(TodoItem(f"connection-{connection.pk}", f"Connection {connection.name} is {state}.",
                                  f"{setup_url(customer, 'connections')}#connection-{connection.pk}",
                                  on_customer_host=False))
        if has_flows and not Run.objects.filter(status__in=GOOD_STATUSES).exists():
            items.append(TodoItem("first-run", "No run has finished well yet: run a flow and watch it.",
                                  setup_url(customer, "run"), on_customer_host=False))
        for model, name, object_type in ((Person, "people", "person"), (Project, "projects", "project")):
            if not model.objects.exists():
                items.append(_reference_todo(customer, name, Flow.objects.filter(
                    direction=FlowDirection.INBOUND, object_type=object_type).exists()))
        has_policy = EscalationPolicy.objects.filter(is_active=True).exists()
    if not has_policy and not PartnerEscalationPolicy.objects.filter(partner_id=customer.partner_id,
                                                                     is_active=True).exists():
        items.append(TodoItem("escalation", "No escalation policy: nobody is told when records fail.",
                              "/admin/exceptions/escalationpolicy/add/"))
    return items
