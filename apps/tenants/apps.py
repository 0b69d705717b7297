from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "apps.tenants"
    verbose_name = "Partners and customers"

    def ready(self) -> None:
        from apps.tenants.schedules import tenants_schedules_register

        tenants_schedules_register()
