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
