"""Partner-site actions that span layers: onboarding with a plan and a template, gated template installs."""

from __future__ import annotations

from dataclasses import dataclass, field

from django_tenants.utils import schema_context

from apps.common.errors import ApplicationError
from apps.runs.configuration import InstallReport
from apps.runs.templates import template_install
from apps.tenants import access
from apps.tenants.domains import domain_problem
from apps.tenants.errors import DomainError
from apps.tenants.models import Customer, FlowTemplate, Partner, Plan, User
from apps.tenants.plans import customer_plan_set, template_allowed
from apps.tenants.services import customer_onboard


def customer_template_install(*, customer: Customer, template: FlowTemplate, variables: dict,
                              acting_user: User | None) -> InstallReport:
    """Install ``template`` into ``customer``'s schema, if its plan allows the template."""
    access.check(acting_user, "template.install", customer=customer)
    template_allowed(customer=customer, template=template)
    with schema_context(customer.schema_name):
        return template_install(template=template, variables=variables, customer=customer, acting_user=acting_user)


@dataclass
class OnboardingOutcome:
    customer: Customer
    messages: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def customer_onboard_from_template(
    *, partner: Partner, name: str, slug: str, domain: str | None, admin_email: str, plan: Plan | None,
    template: FlowTemplate | None, variables: dict, acting_user: User | None,
) -> OnboardingOutcome:
    """Onboard a customer onto ``plan`` and install ``template``. A plan that forbids the template is
    refused before anything is made; a template that fails to install leaves the customer onboarded
    (without it) and says why, so it can be installed from the customer's page once fixed."""
    access.check(acting_user, "customer.onboard", partner=partner)
    if plan is not None and template is not None:
        template_allowed(customer=Customer(partner=partner, plan=plan), template=template)
    problem = domain and domain_problem(domain.strip().lower(), customer=Customer(partner=partner))
    if problem:
        raise DomainError(problem)
    result = customer_onboard(partner=partner, slug=slug, name=name, domain=domain or None,
                              admin_email=admin_email, acting_user=acting_user)
    outcome = OnboardingOutcome(customer=result.customer, messages=list(result.messages))
    if result.admin_password:
        outcome.warnings.append(f"Initial password for {result.admin_user.username}: {result.admin_password} "
                                "(shown once; ask them to change it).")
    if plan is not None and result.customer.plan_id != plan.pk:
        customer_plan_set(customer=result.customer, plan=plan, acting_user=acting_user, reason="Onboarded on plan")
        outcome.messages.append(f"On the {plan.name} plan.")
    if template is not None:
        try:
            report = customer_template_install(customer=result.customer, template=template, variables=variables,
                                               acting_user=acting_user)
        except ApplicationError as error:
            outcome.warnings.append(f"{template.name} was not installed: {error.message}")
        else:
            outcome.messages.append(f"{template.name} installed: {len(report.created)} created.")
    return outcome
