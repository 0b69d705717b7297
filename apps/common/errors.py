"""The root of Weft's domain errors; the API turns them into clear 4xx answers."""


class ApplicationError(Exception):
    """A domain rule refused an operation; ``message`` is safe to show to the user."""

    status_code = 400

    def __init__(self, message: str, *, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class NotFoundError(ApplicationError):
    """Missing, or not yours: both answer alike so guessing ids reveals nothing."""

    status_code = 404


class ConflictError(ApplicationError):
    status_code = 409


class ErrorCategory:
    """What kind of failure an external-system error is; exceptions are classified from this."""

    TRANSPORT = "transport"
    RATE_LIMIT = "rate_limit"
    AUTH = "auth"
    PARSE = "parse"
    TOO_LARGE = "too_large"
    VALIDATION = "validation"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    DUPLICATE = "duplicate"
    MISSING_REFERENCE = "missing_reference"
    MAPPING = "mapping"
    CONFIG = "config"


class ExternalSystemError(ApplicationError):
    """A call to a customer's system failed. ``permanent`` failures are not retried as they stand.

    ``retry_after`` (seconds) says when the other side asked us to come back, if it said. ``in_doubt``: the
    request was sent and its answer lost (a time-out or a reset after sending), so the other side may have
    carried it out; a create in doubt must be looked for before it is sent again (``apps.runs.outbound``).
    """

    status_code = 502

    def __init__(
        self, message: str, *, permanent: bool, category: str = ErrorCategory.TRANSPORT,
        status: int | None = None, retry_after: float | None = None, extra: dict | None = None,
        in_doubt: bool = False,
    ):
        super().__init__(message, extra=extra)
        self.permanent = permanent
        self.in_doubt = in_doubt
        self.category = category
        self.status = status
        self.retry_after = retry_after
