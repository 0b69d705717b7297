"""Error pages never show secrets, the debug page included."""

from django.views.debug import SafeExceptionReporterFilter


class AlwaysSafeExceptionReporterFilter(SafeExceptionReporterFilter):
    """Masks what views and services mark with ``sensitive_variables``/``sensitive_post_parameters`` on every
    error report. Django's own filter stands down when DEBUG is on, so ``make run``'s debug page showed a
    connection's password among the frames' variables; a demo with real credentials is not a safe place."""

    def is_active(self, request) -> bool:
        return True
