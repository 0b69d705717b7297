from django.apps import AppConfig


class ReportingConfig(AppConfig):
    name = "apps.reporting"

    def ready(self) -> None:
        from apps.reporting.receivers import on_run_finished
        from apps.runs.signals import run_finished

        run_finished.connect(on_run_finished, dispatch_uid="reporting-refresh-after-run")
