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


class RecordsRefused(ApplicationError):
    """A bulk request for records Weft cannot take as a whole (an unknown object, a connection that is not an
    API connection); nothing was stored."""

    status_code = 400


class RecordsTooMany(ApplicationError):
    status_code = 413
