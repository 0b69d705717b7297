from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "apps.runs"

    def ready(self) -> None:
        from django_q.models import Schedule
        from django_q.signals import post_execute_in_worker, pre_execute

        from apps.mappings.samples import preview_context_register, sample_source_register
        from apps.runs import (
            rest_webhooks,  # noqa: F401  (rest.changed / rest.deleted, vendor-native webhooks)
            webhooks,  # noqa: F401  (registers the record.changed / record.deleted handlers)
        )
        from apps.runs.queue import task_lease_hold, task_lease_release
        from apps.runs.selectors import mapping_preview_context, mapping_recent_source_payloads
        from apps.tenants.schedules import schedule_register

        sample_source_register(mapping_recent_source_payloads)  # the mapping preview starts from real records
        preview_context_register(mapping_preview_context)  # ... with its flow's variables and target-id lookup
        # A running task's delivery lease is renewed by its worker, so a short retry hands out only dead workers' tasks.
        pre_execute.connect(task_lease_hold, dispatch_uid="runs-task-lease-hold")
        post_execute_in_worker.connect(task_lease_release, dispatch_uid="runs-task-lease-release")
        schedule_register(name="platform:work-recover", func="apps.runs.tasks.work_recover",
                          schedule_type=Schedule.MINUTES, minutes=1)
