from apps.common.errors import ApplicationError


class RunError(ApplicationError):
    pass


class WebhookRefused(ApplicationError):
    """The request did not prove it came from the connection's sender: nothing was stored."""

    status_code = 401


class EventInvalid(ApplicationError):
    """An authentic request whose body is not an event we can store."""

    status_code = 400


class EventTooLarge(ApplicationError):
    status_code = 413
