"""Accelerators: built-in templates shipped as YAML, partner templates in the database, one-action install, and
onboarding a customer with a plan and a template (the partner site's action that spans tenants and templates)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.db import transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.accelerators.configuration import ConfigurationError, InstallReport, configuration_install
from apps.accelerators.models import FlowTemplate, TemplateInstallation
from apps.accelerators.selectors import installations_behind, templates_for_customer
from apps.common.errors import ApplicationError
from apps.common.history import save_attributed
from apps.tenants import access
from apps.tenants.choices import Feature
from apps.tenants.domains import domain_problem
from apps.tenants.errors import DomainError, PlanFeatureDenied
from apps.tenants.models import Customer, Operation, Partner, Plan, User
from apps.tenants.operations import operation_finish, operation_progress, operation_start
from apps.tenants.plans import customer_plan_set, plan_allows
from apps.tenants.services import customer_onboard
from apps.tenants.tasks import tenant_task_enqueue

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"


def template_allowed(*, customer: Customer, template: FlowTemplate) -> None:
    """Refuse (``PlanFeatureDenied``) a premium template to a customer whose plan does not include them.

    Every install path calls this: the partner site's onboarding and template install, and should the
    tenant admin or the API install templates, they too."""
    if template.is_premium and not plan_allows(customer, Feature.PREMIUM_TEMPLATES):
        raise PlanFeatureDenied(f"{template.name} is a premium template; the {customer.plan} plan does not "
                                "include premium templates.")


def templates_sync_builtin() -> int:
    """Load the YAML accelerators shipped with Weft into the template table (new versions replace old)."""
    count = 0
    for path in sorted(BUILTIN_DIR.glob("*.yaml")):
        definition = yaml.safe_load(path.read_text())
        template = FlowTemplate.objects.filter(partner__isnull=True, slug=definition["slug"]).first()
        if template and template.version >= definition["version"] and template.definition == definition:
            continue
        template = template or FlowTemplate(slug=definition["slug"])
        template.name, template.version = definition["name"], definition["version"]
        template.description = definition.get("description", "")
        template.is_premium = definition.get("premium", False)
        template.definition = definition
        save_attributed(template, acting_user=None, reason=f"Built-in template v{definition['version']}")
        count += 1
    return count


def template_install(*, template: FlowTemplate, variables: dict, customer: Customer, acting_user) -> InstallReport:
    """Install ``template`` into ``customer`` (whose schema must be the current one)."""
    access.check(acting_user, "template.install", customer=customer)
    if not templates_for_customer(customer).filter(pk=template.pk).exists():
        raise ConfigurationError("That template is not available to this customer.")
    template_allowed(customer=customer, template=template)  # premium templates need a plan that includes them
    with transaction.atomic():
        report = configuration_install(definition=template.definition, variables=variables,
                                       acting_user=acting_user, source=f"{template.slug}@{template.version}")
        _installation_record(customer=customer, template=template, variables=variables, acting_user=acting_user)
    return report


def _installation_record(*, customer: Customer, template: FlowTemplate, variables: dict, acting_user) -> None:
    installation = (TemplateInstallation.objects.filter(customer=customer, template=template).first()
                    or TemplateInstallation(customer=customer, template=template))
    installation.version, installation.variables = template.version, dict(variables)
    installation.installed_at, installation.installed_by = timezone.now(), acting_user
    save_attributed(installation, acting_user=acting_user, reason=f"Installed {template.slug}@{template.version}")


def customer_template_install(*, customer: Customer, template: FlowTemplate, variables: dict,
                              acting_user: User | None) -> InstallReport:
    """Install ``template`` into ``customer``'s schema, if its plan allows the template."""
    access.check(acting_user, "template.install", customer=customer)
    template_allowed(customer=customer, template=template)
    with schema_context(customer.schema_name):
        return template_install(template=template, variables=variables, customer=customer, acting_user=acting_user)


INSTALL_PARTS = ("connections", "mappings", "rule_sets", "flows", "ownership", "escalation_policies")


def customer_template_install_start(*, customer: Customer, template: FlowTemplate, variables: dict,
                                    acting_user: User | None, result_url: str = "") -> Operation:
    """Install in the background; the operation shows it (queued, installing, what was made, or why it failed).
    What is refused at once (the role, a plan without premium templates) is refused here, before anything runs."""
    access.check(acting_user, "template.install", customer=customer)
    template_allowed(customer=customer, template=template)
    total = sum(len(template.definition.get(part) or []) for part in INSTALL_PARTS)
    operation = operation_start(kind="template_install", title=f"Install {template.name} into {customer.name}",
                                total=total, customer=customer, acting_user=acting_user)
    tenant_task_enqueue(customer.schema_name, "apps.accelerators.tasks.template_install_execute", operation.pk,
                        customer.pk, template.pk, variables, getattr(acting_user, "pk", None), result_url)
    return operation


def customer_template_install_execute(*, operation_id: int, customer: Customer, template: FlowTemplate,
                                      variables: dict, acting_user: User | None, result_url: str = "") -> None:
    """The task's half of ``customer_template_install_start``. The install is one transaction: the operation
    says "installing" while it works and the counts when it has committed (or why it was refused)."""
    operation_progress(operation_id, step=f"Installing connections, mappings, rules and flows of {template.name}")
    try:
        report = customer_template_install(customer=customer, template=template, variables=variables,
                                           acting_user=acting_user)
    except ApplicationError as error:
        operation_finish(operation_id, error=error.message, result_url=result_url, result_label="Back")
        return
    made = len(report.created) + len(report.updated) + len(report.unchanged)
    operation_progress(operation_id, done=made, total=made)
    for slug, secrets in report.secrets_needed.items():
        operation_progress(operation_id, error=f"Connection {slug} needs {', '.join(secrets)} before it can run.")
    operation_finish(operation_id, step=f"{template.name} installed into {customer.name}: {len(report.created)} "
                                        f"created, {len(report.updated)} updated, {len(report.unchanged)} unchanged.",
                     result_url=result_url, result_label=f"Back to {customer.name}")


def customer_template_upgrade(*, customer: Customer, template: FlowTemplate, acting_user: User | None,
                              variables: dict | None = None) -> InstallReport | None:
    """Install ``template``'s current version over the older one ``customer`` runs, with the variables it was
    installed with (``variables`` adds or overrides, e.g. one the new version introduced). ``None``: the
    customer already runs this version. Like any install it changes only what the new version changes."""
    installation = TemplateInstallation.objects.filter(customer=customer, template=template).first()
    if installation is None:
        raise ConfigurationError(f"{customer.name} has not installed {template.name}; install it first.")
    if installation.version >= template.version:
        return None
    return customer_template_install(customer=customer, template=template, acting_user=acting_user,
                                     variables={**installation.variables, **(variables or {})})


@dataclass
class UpgradeOutcome:
    upgraded: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def template_upgrade_customers(*, template: FlowTemplate, acting_user: User | None,
                               partner: Partner | None = None) -> UpgradeOutcome:
    """Upgrade every customer the acting user may configure that runs an older version of ``template``
    (only ``partner``'s customers, when given). One customer's failure (a plan that lost premium templates,
    a variable the new version needs) is reported and does not stop the others; each customer is installed
    in its own transaction."""
    outcome = UpgradeOutcome()
    behind = installations_behind(template)
    for installation in behind.filter(customer__partner=partner) if partner is not None else behind:
        customer = installation.customer
        if acting_user is not None and not access.can(acting_user, "template.install", customer=customer):
            continue
        try:
            customer_template_upgrade(customer=customer, template=template, acting_user=acting_user)
        except ApplicationError as error:
            outcome.failed[customer.slug] = error.message
        else:
            outcome.upgraded.append(customer.slug)
    return outcome


@dataclass
class OnboardingOutcome:
    """What onboarding did. ``admin_password`` is the new admin login's initial password (None when the login
    existed already): the caller shows it once and keeps it nowhere."""

    customer: Customer
    created: bool = True
    admin_username: str = ""
    admin_password: str | None = None
    messages: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def password_note(self) -> str | None:
        if not self.admin_password:
            return None
        return (f"Initial password for {self.admin_username}: {self.admin_password} "
                "(shown once; ask them to change it).")


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
    outcome = OnboardingOutcome(customer=result.customer, created=result.created, messages=list(result.messages),
                                admin_username=result.admin_user.username if result.admin_user else "",
                                admin_password=result.admin_password)
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
