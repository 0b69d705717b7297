from django.apps import AppConfig


class ReportingConfig(AppConfig):
    name = "apps.reporting"

    def ready(self) -> None:
        from django_q.models import Schedule

        from apps.reporting.receivers import on_run_finished, on_run_finished_meter
        from apps.runs.signals import run_finished
        from apps.tenants.schedules import every_tenant_schedule_register

        # Metering and the health refresh first, then the stored figures (the order the refreshes are queued in).
        run_finished.connect(on_run_finished_meter, dispatch_uid="reporting-meter-and-health-after-run")
        run_finished.connect(on_run_finished, dispatch_uid="reporting-refresh-after-run")
        # Customer health for the partner overview; finished runs also refresh it (apps/reporting/health.py).
        every_tenant_schedule_register(name="platform:customer-health",
                                       task="apps.reporting.tasks.customer_health_refresh",
                                       schedule_type=Schedule.MINUTES, minutes=15)
        # Reconciliation of the last 8 settled weeks, raising and clearing exceptions (apps/reporting/tasks.py).
        every_tenant_schedule_register(name="platform:reconciliation-check",
                                       task="apps.reporting.tasks.reconciliation_check", schedule_type=Schedule.DAILY)
