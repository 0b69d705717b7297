"""Domain errors of the exceptions app (never ``exceptions.py``: it would shadow this app's name)."""

from apps.common.errors import ApplicationError, ConflictError, NotFoundError


class ExceptionNotFound(NotFoundError):
    pass


class TriageRefused(ConflictError):
    """The change does not fit the exception's state (resolving an ignored one, ignoring without a reason)."""


def owner_refused(username: str) -> TriageRefused:
    """One answer for "no such user" and "cannot see this customer": trying usernames must not tell which
    exist at other partners."""
    return TriageRefused(f"No active user {username!r} who can see this customer; assign someone who can.")


class PayloadInvalid(ApplicationError):
    """An edited payload failed validation; ``extra["errors"]`` lists what is wrong, field by field."""


class ReplayRefused(ApplicationError):
    pass


class PolicyInvalid(ApplicationError):
    pass
