from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "apps.runs"

    def ready(self) -> None:
        from apps.runs import webhooks  # noqa: F401  (registers the record.changed / record.deleted handlers)
