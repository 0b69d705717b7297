"""Reporting's domain errors."""

from apps.common.errors import ApplicationError, NotFoundError


class ReportFilterError(ApplicationError):
    """A filter or option that does not parse or makes no sense (answered as 400)."""


class UnknownReportError(NotFoundError):
    """No figure by that name."""
