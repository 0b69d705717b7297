from apps.common.errors import ApplicationError


class OnboardingError(ApplicationError):
    """Onboarding was refused; nothing was created."""


class TemplateSchemaError(ApplicationError):
    """The schema template new tenants are cloned from is missing or not fully migrated."""


class PlanError(ApplicationError):
    """A plan change was refused."""


class PlanFeatureDenied(ApplicationError):
    """The customer's plan does not include the feature asked for."""

    status_code = 403


class DomainError(ApplicationError):
    """A customer domain could not be added."""
