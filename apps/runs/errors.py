from apps.common.errors import ApplicationError


class RunError(ApplicationError):
    pass
