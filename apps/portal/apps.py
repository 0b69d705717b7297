from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "apps.portal"

    def ready(self) -> None:
        from apps.portal import signals  # noqa: F401  (connects the run_finished receiver)
