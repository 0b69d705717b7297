"""Shapes of the partner API (input and output), for validation and the OpenAPI document."""

from __future__ import annotations

from rest_framework import serializers

from apps.tenants.choices import SlaStatus


class HealthSerializer(serializers.Serializer):
    """A customer's health summary (refreshed after its runs and on a schedule; null figures: not measured)."""

    sla_status = serializers.ChoiceField(choices=SlaStatus.choices)
    sla_reason = serializers.CharField()
    computed_at = serializers.DateTimeField(allow_null=True, help_text="When it was measured; null: not yet.")
    open_exceptions = serializers.IntegerField()
    money_at_risk = serializers.DictField(child=serializers.CharField(), help_text="Currency → amount.")
    unposted_hours = serializers.CharField(allow_null=True)
    unposted_values = serializers.DictField(child=serializers.CharField(), help_text="Currency → amount.")
    last_good_sync_at = serializers.DateTimeField(allow_null=True)


class UsageCountsSerializer(serializers.Serializer):
    records_synced = serializers.IntegerField()
    runs = serializers.IntegerField()
    api_calls = serializers.IntegerField()


class CustomerSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    is_active = serializers.BooleanField()
    domain = serializers.CharField(allow_null=True, help_text="The primary domain: the customer's portal and API.")
    plan = serializers.CharField(allow_null=True, help_text="The plan's slug; null: no plan.")
    health = HealthSerializer()
    usage_this_month = UsageCountsSerializer()


class FlowHealthSerializer(serializers.Serializer):
    slug = serializers.CharField(required=False)
    name = serializers.CharField(required=False)
    last_status = serializers.CharField(allow_null=True, required=False)
    last_run_at = serializers.CharField(allow_null=True, required=False)
    last_success_at = serializers.CharField(allow_null=True, required=False)


class InstalledTemplateSerializer(serializers.Serializer):
    template = serializers.CharField(help_text="The template's slug.")
    version = serializers.IntegerField(help_text="The version the customer runs.")
    upgrade_to = serializers.IntegerField(allow_null=True, help_text="A newer stored version; null: current.")


class CustomerDetailSerializer(CustomerSerializer):
    domains = serializers.ListField(child=serializers.CharField())
    failed_runs_24h = serializers.IntegerField()
    flows = FlowHealthSerializer(many=True)
    templates = InstalledTemplateSerializer(many=True)


class OnboardInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=50, help_text="Lower-case letters, digits and hyphens; also the "
                                                          "first part of the customer's domain.")
    admin_email = serializers.EmailField(help_text="The customer's first admin (their login name, too).")
    domain = serializers.CharField(max_length=253, required=False, allow_null=True, default=None,
                                   help_text="Default: <slug>.<the partner's domain>.")
    plan = serializers.SlugField(required=False, allow_null=True, default=None, help_text="One of GET /plans/.")
    template = serializers.SlugField(required=False, allow_null=True, default=None,
                                     help_text="A template to install at once (GET /templates/).")
    variables = serializers.DictField(child=serializers.JSONField(), required=False, default=dict,
                                      help_text="The template's variables.")


class AdminLoginSerializer(serializers.Serializer):
    username = serializers.CharField()
    initial_password = serializers.CharField(
        allow_null=True, help_text="Shown in this answer only (a retry with the same Idempotency-Key gets null); "
                                   "null when the login existed already.")


class OnboardAnswer(serializers.Serializer):
    created = serializers.BooleanField(help_text="False: the customer existed with these details; nothing changed.")
    customer = CustomerDetailSerializer()
    admin = AdminLoginSerializer()
    messages = serializers.ListField(child=serializers.CharField())
    warnings = serializers.ListField(child=serializers.CharField(), help_text="Such as a template that was not "
                                     "installed (the customer is onboarded without it).")


class PlanSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    monthly_price = serializers.DecimalField(max_digits=10, decimal_places=2, coerce_to_string=True)
    currency = serializers.CharField()
    included_records = serializers.IntegerField(allow_null=True, help_text="Null: unlimited.")
    included_runs = serializers.IntegerField(allow_null=True, help_text="Null: unlimited.")
    included_api_calls = serializers.IntegerField(allow_null=True, help_text="Null: unlimited.")
    features = serializers.ListField(child=serializers.CharField())
    is_active = serializers.BooleanField(help_text="Retired plans stay on their customers; new ones cannot take them.")
    customers = serializers.IntegerField(help_text="How many customers are on it.")


class PlanAssignInput(serializers.Serializer):
    plan = serializers.SlugField(allow_null=True, help_text="An active plan's slug; null takes the customer off "
                                                            "every plan.")


class MeterSerializer(serializers.Serializer):
    used = serializers.IntegerField()
    included = serializers.IntegerField(allow_null=True, help_text="Null: unlimited (or no plan).")
    over = serializers.IntegerField(help_text="Used beyond what the plan includes: the partner's to invoice.")


class UsageLineSerializer(serializers.Serializer):
    customer = serializers.CharField(help_text="The customer's slug.")
    name = serializers.CharField()
    plan = serializers.CharField(allow_null=True)
    monthly_price = serializers.CharField(allow_null=True)
    currency = serializers.CharField(allow_null=True)
    records_synced = MeterSerializer()
    runs = MeterSerializer()
    api_calls = MeterSerializer()


class UsageAnswer(serializers.Serializer):
    month = serializers.CharField(help_text="YYYY-MM")
    customers = UsageLineSerializer(many=True)


class UsageQuery(serializers.Serializer):
    month = serializers.RegexField(r"^[1-9]\d{3}-(0[1-9]|1[0-2])$", required=False,
                                   help_text="YYYY-MM; default: this month.")


class CustomerListQuery(serializers.Serializer):
    sla_status = serializers.ChoiceField(choices=SlaStatus.choices, required=False)
    q = serializers.CharField(required=False, max_length=100, help_text="Part of the name or slug.")


class TemplateSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    version = serializers.IntegerField(help_text="The current version.")
    description = serializers.CharField()
    premium = serializers.BooleanField(help_text="Only plans with premium templates may install it.")
    builtin = serializers.BooleanField(help_text="Weft's own; false: the partner's.")
    variables = serializers.DictField()
    customers = serializers.IntegerField(help_text="How many of the partner's customers run it.")
    behind = serializers.IntegerField(help_text="How many of them run an older version.")


class TemplateInstallInput(serializers.Serializer):
    variables = serializers.DictField(child=serializers.JSONField(), required=False, default=dict)


class TemplateInstallAnswer(serializers.Serializer):
    customer = serializers.CharField()
    template = serializers.CharField()
    version = serializers.IntegerField()
    created = serializers.ListField(child=serializers.CharField())
    updated = serializers.ListField(child=serializers.CharField())
    unchanged = serializers.ListField(child=serializers.CharField())


class UpgradeResultSerializer(serializers.Serializer):
    customer = serializers.CharField()
    outcome = serializers.ChoiceField(choices=["upgraded", "failed"])
    detail = serializers.CharField()


class TemplateUpgradeAnswer(serializers.Serializer):
    template = serializers.CharField()
    version = serializers.IntegerField()
    results = UpgradeResultSerializer(many=True, help_text="One per customer that ran an older version.")

