from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "apps.runs"

    def ready(self) -> None:
        from apps.mappings.samples import sample_source_register
        from apps.runs import (
            rest_webhooks,  # noqa: F401  (rest.changed / rest.deleted, vendor-native webhooks)
            webhooks,  # noqa: F401  (registers the record.changed / record.deleted handlers)
        )
        from apps.runs.selectors import mapping_recent_source_payload

        sample_source_register(mapping_recent_source_payload)  # the mapping preview starts from a real record
