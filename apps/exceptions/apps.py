from django.apps import AppConfig


class ExceptionsConfig(AppConfig):
    name = "apps.exceptions"
    verbose_name = "Integration exceptions"

    def ready(self) -> None:
        from django_q.models import Schedule

        from apps.exceptions.receivers import on_run_finished, on_run_finished_announce
        from apps.runs.signals import run_finished
        from apps.tenants.schedules import every_tenant_schedule_register

        run_finished.connect(on_run_finished, dispatch_uid="exceptions-from-run")
        run_finished.connect(on_run_finished_announce, dispatch_uid="exceptions-run-webhooks")
        # Sweep, escalate and notify every minute; monitors every five (apps/exceptions/tasks.py).
        every_tenant_schedule_register(name="platform:exceptions-tick", task="apps.exceptions.tasks.exceptions_tick",
                                       schedule_type=Schedule.MINUTES, minutes=1)
        every_tenant_schedule_register(name="platform:exceptions-monitors", task="apps.exceptions.tasks.monitors_tick",
                                       schedule_type=Schedule.MINUTES, minutes=5)
