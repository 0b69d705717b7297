from apps.common.errors import ApplicationError, ErrorCategory, ExternalSystemError


class ConnectorError(ExternalSystemError):
    """Raised by connector kinds: ``permanent`` says whether trying again as-is can help."""

    def __init__(self, message: str, *, permanent: bool, category: str = ErrorCategory.TRANSPORT, **kwargs):
        super().__init__(message, permanent=permanent, category=category, **kwargs)


class CredentialsError(ApplicationError):
    """Credentials are missing, or cannot be decrypted with the configured keys."""


class UnknownKindError(ApplicationError):
    pass


class ConnectionInvalid(ApplicationError):
    """A connection's settings or secrets cannot be saved as they are; ``field`` names the one to fix."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message, extra={"field": field} if field else None)
        self.field = field


class PrivateNetworkRefused(ConnectionInvalid):
    """Only platform operators may let a connection call private, loopback or link-local addresses."""

    status_code = 403
