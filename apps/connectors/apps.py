from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "apps.connectors"

    def ready(self) -> None:
        from apps.connectors.kinds import load_kinds

        load_kinds()
