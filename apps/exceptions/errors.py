"""Domain errors of the exceptions app (never ``exceptions.py``: it would shadow this app's name)."""

from apps.common.errors import ApplicationError, ConflictError, NotFoundError


class ExceptionNotFound(NotFoundError):
    pass


class TriageRefused(ConflictError):
    """The change does not fit the exception's state (resolving an ignored one, ignoring without a reason)."""


class PayloadInvalid(ApplicationError):
    """An edited payload failed validation; ``extra["errors"]`` lists what is wrong, field by field."""


class ReplayRefused(ApplicationError):
    pass


class PolicyInvalid(ApplicationError):
    pass
