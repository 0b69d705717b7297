from django.apps import AppConfig


class ExceptionsConfig(AppConfig):
    name = "apps.exceptions"
    verbose_name = "Integration exceptions"

    def ready(self) -> None:
        from apps.exceptions.receivers import on_run_finished
        from apps.runs.signals import run_finished

        run_finished.connect(on_run_finished, dispatch_uid="exceptions-from-run")
