"""Templates ("accelerators"): Weft's built-in ones and partners' own, in the public schema."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from apps.common.history import History
from apps.common.models import TimeStampedModel
from apps.tenants.models import Customer, Partner, User
from apps.tenants.validators import validate_plain_text


class FlowTemplate(TimeStampedModel):
    """An accelerator: flows, mappings and rules for one job, installed into customers with variables.

    Built-in templates (no partner) ship with Weft as YAML under ``apps/accelerators/builtin``; partners
    keep their own. ``definition`` has the same shape as a customer's exported configuration.
    """

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, null=True, blank=True, related_name="templates",
                                help_text="Blank: a Weft built-in template every partner may use.")
    slug = models.SlugField(max_length=80)
    name = models.CharField(max_length=120, validators=[validate_plain_text])
    version = models.PositiveIntegerField(default=1)
    description = models.TextField(blank=True)
    is_premium = models.BooleanField(default=False, help_text="Only plans with premium templates may install it.")
    definition = models.JSONField()
    # The table keeps the name it had when the model lived in apps.tenants (moved without touching the data).
    history = History(table_name="tenants_historicalflowtemplate")

    class Meta:
        db_table = "tenants_flowtemplate"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "slug"], name="one_template_slug_per_partner"),
            models.UniqueConstraint(fields=["slug"], condition=Q(partner__isnull=True), name="one_builtin_slug"),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class TemplateInstallation(models.Model):
    """Which version of a template a customer runs, with the variables it was installed with, so that a newer
    version can be installed over it (an upgrade) without asking for the variables again."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="template_installations")
    template = models.ForeignKey(FlowTemplate, on_delete=models.CASCADE, related_name="installations")
    version = models.PositiveIntegerField()
    variables = models.JSONField(default=dict, blank=True)
    installed_at = models.DateTimeField()
    installed_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    history = History()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer", "template"], name="one_installation_per_template")]

    def __str__(self) -> str:
        return f"{self.template.slug}@{self.version} in {self.customer.slug}"
