from django.apps import AppConfig


class ExceptionDefaultsConfig(AppConfig):
    """Partners' default escalation policies: a shared (public-schema) app beside the tenant app."""

    name = "apps.exceptions.defaults"
    label = "exception_defaults"
    verbose_name = "Escalation defaults"
