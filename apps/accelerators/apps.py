from django.apps import AppConfig


class AcceleratorsConfig(AppConfig):
    """Templates ("accelerators"): the shipped and partner templates, install and upgrade per customer, and a
    customer's configuration as a file (export, import)."""

    name = "apps.accelerators"
