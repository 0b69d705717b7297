from apps.common.errors import ApplicationError


class OnboardingError(ApplicationError):
    """Onboarding was refused; nothing was created."""


class TemplateSchemaError(ApplicationError):
    """The schema template new tenants are cloned from is missing or not fully migrated."""
