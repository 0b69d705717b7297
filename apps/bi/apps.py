from django.apps import AppConfig


class BiConfig(AppConfig):
    name = "apps.bi"
    label = "bi"
    verbose_name = "BI access"

    def ready(self) -> None:
        from django_q.models import Schedule

        from apps.bi import receivers  # noqa: F401  (connects the migration hooks)
        from apps.tenants.schedules import schedule_register

        # Parquet snapshots for customers that asked for them (apps/bi/services.py: bi_snapshots_write).
        schedule_register(name="platform:bi-snapshots", func="apps.bi.tasks.bi_snapshots_nightly",
                          schedule_type=Schedule.DAILY)
