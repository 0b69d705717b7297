"""Thin tasks: ids in, call a service. Queued through apps.tenants.tasks with the customer's schema name."""

from apps.accelerators import services
from apps.accelerators.models import FlowTemplate
from apps.tenants.models import Customer, User


def template_install_execute(operation_id: int, customer_id: int, template_id: int, variables: dict,
                             acting_user_id: int | None, result_url: str = "") -> None:
    services.customer_template_install_execute(
        operation_id=operation_id, customer=Customer.objects.select_related("partner", "plan").get(pk=customer_id),
        template=FlowTemplate.objects.get(pk=template_id), variables=variables, result_url=result_url,
        acting_user=User.objects.filter(pk=acting_user_id).first())
