"""A partner's default escalation policy (public schema): used by its customers that have none of their own."""

from django.db import models

from apps.common.history import History
from apps.common.models import TimeStampedModel
from apps.exceptions.models import PolicyFields
from apps.tenants.models import Partner


class PartnerEscalationPolicy(PolicyFields, TimeStampedModel):
    partner = models.OneToOneField(Partner, on_delete=models.CASCADE, related_name="escalation_policy")
    history = History()

    class Meta:
        verbose_name = "partner default escalation policy"
        verbose_name_plural = "partner default escalation policies"

    def __str__(self) -> str:
        return f"{self.partner}: {self.name}"
