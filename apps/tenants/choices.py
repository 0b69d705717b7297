from django.db import models


class Role(models.TextChoices):
    """What a membership lets a person do; partner roles span all of a partner's customers."""

    PARTNER_ADMIN = "partner_admin", "Partner admin"
    INTEGRATION_ENGINEER = "integration_engineer", "Integration engineer"
    ANALYST = "analyst", "Analyst"
    CUSTOMER_ADMIN = "customer_admin", "Customer admin"
    FINANCE_APPROVER = "finance_approver", "Finance approver"
    VIEWER = "viewer", "Viewer"


PARTNER_ROLES = frozenset({Role.PARTNER_ADMIN, Role.INTEGRATION_ENGINEER, Role.ANALYST})
CUSTOMER_ROLES = frozenset({Role.CUSTOMER_ADMIN, Role.FINANCE_APPROVER, Role.VIEWER})


class Capability(models.TextChoices):
    """Things a person may do on a customer's tenant; roles grant sets of these (``apps.tenants.access``)."""

    VIEW = "view", "See status, reports and exceptions"
    INSPECT = "inspect", "Open the admin console: configuration, ledger and history (read)"
    COMMENT = "comment", "Comment on exceptions"
    APPROVE = "approve", "Approve or reject on the customer's behalf"
    AUTHORIZE = "authorize", "Sign Weft in to the customer's own systems (OAuth2 Connect)"
    OPERATE = "operate", "Triage exceptions, start runs, replay"
    CONFIGURE = "configure", "Change connections, mappings, flows and policies"
    ADMINISTER = "administer", "Onboard customers, manage people, plans and brand"


class CustomerKind(models.TextChoices):
    """Rows in the tenant table that are not customer firms are kept apart by kind."""

    FIRM = "firm", "Customer firm"
    PLATFORM = "platform", "Platform (public schema)"
    TEMPLATE = "template", "Schema template"


class Feature(models.TextChoices):
    """What a plan may include beyond the base service; checked by ``apps.tenants.plans.plan_allows``."""

    ESCALATION = "escalation", "Exception escalation (email, webhook)"
    RECONCILIATION = "reconciliation", "Reconciliation reports"
    PREMIUM_TEMPLATES = "premium_templates", "Premium templates"


class SlaStatus(models.TextChoices):
    """How a customer's integration stands against the service its partner promised."""

    OK = "ok", "On track"
    AT_RISK = "at_risk", "At risk"
    BREACHED = "breached", "Breached"
    UNKNOWN = "unknown", "Not measured yet"
