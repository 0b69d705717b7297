from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Running Weft as a service: health and readiness, Prometheus metrics, log context, tenant export.

    The top layer, beside the portal: it may read every app, and nothing imports it."""

    name = "apps.ops"
    label = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from apps.ops import metrics

        metrics.connect()
