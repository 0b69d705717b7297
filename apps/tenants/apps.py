from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "apps.tenants"
    verbose_name = "Partners and customers"

    def ready(self) -> None:
        from apps.tenants import signin  # noqa: F401  (connects the session-binding receiver)
        from apps.tenants.schedules import tenants_schedules_register

        tenants_schedules_register()
