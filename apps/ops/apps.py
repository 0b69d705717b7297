from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Running Weft as a service: health and readiness, Prometheus metrics, log context, tenant export.

    The top layer, beside the portal: it may read every app, and nothing imports it."""

    name = "apps.ops"
    label = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from django.core.signals import got_request_exception
        from django_q.models import Schedule

        from apps.ops import metrics
        from apps.ops.outage import request_exception_mark
        from apps.tenants.schedules import schedule_register

        metrics.connect()
        # An unreachable database or broker answers 503 with Retry-After (apps/ops/outage.py).
        got_request_exception.connect(request_exception_mark, dispatch_uid="ops-outage-mark")
        # Cluster heartbeat: proves scheduler, broker and a worker are alive; /readyz and /metrics read it.
        schedule_register(name="platform:cluster-heartbeat", func="apps.ops.tasks.heartbeat",
                          schedule_type=Schedule.MINUTES, minutes=1)
