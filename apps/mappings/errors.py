from apps.common.errors import ApplicationError


class MappingError(ApplicationError):
    """A mapping version cannot be changed or published as asked."""
