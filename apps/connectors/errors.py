from apps.common.errors import ApplicationError, ErrorCategory, ExternalSystemError


class ConnectorError(ExternalSystemError):
    """Raised by connector kinds: ``permanent`` says whether trying again as-is can help."""

    def __init__(self, message: str, *, permanent: bool, category: str = ErrorCategory.TRANSPORT, **kwargs):
        super().__init__(message, permanent=permanent, category=category, **kwargs)


class CredentialsError(ApplicationError):
    """Credentials are missing, or cannot be decrypted with the configured keys."""


class UnknownKindError(ApplicationError):
    pass
