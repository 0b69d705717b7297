from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "apps.runs"

    def ready(self) -> None:
        from apps.runs import (
            rest_webhooks,  # noqa: F401  (rest.changed / rest.deleted, vendor-native webhooks)
            webhooks,  # noqa: F401  (registers the record.changed / record.deleted handlers)
        )
