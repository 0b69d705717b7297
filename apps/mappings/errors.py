from apps.common.errors import ApplicationError


class MappingError(ApplicationError):
    """A mapping version cannot be changed or published as asked."""


class ExpressionError(ApplicationError):
    """A mapping or validation expression was refused, failed, or was stopped.

    ``kind`` says which: syntax, forbidden, runtime, timeout, memory, too_large, input, crash or skipped
    (see ``apps.mappings.expressions``). ``code`` is jsonata's error code (e.g. "S0201") where it gave one;
    ``position`` the character offset in the expression it points at.
    """

    def __init__(self, message: str, *, kind: str, code: str | None = None, position: int | None = None):
        super().__init__(message, extra={"kind": kind, "code": code, "position": position})
        self.kind = kind
        self.code = code
        self.position = position
