from django.core.exceptions import PermissionDenied
from django.http import Http404

from apps.common.errors import ApplicationError, NotFoundError


class AccessDenied(ApplicationError, PermissionDenied):
    """The person may see this customer or partner, but their role does not allow the action (403).

    Also a ``PermissionDenied``, so a plain Django view that does not catch it answers 403, not 500."""

    status_code = 403


class NotVisible(NotFoundError, Http404):
    """The person may not see this at all: answered exactly like something missing (404)."""


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
