"""The partner API, on a partner's own host (``<partner suffix>/api/v1/``): the partner's customers with their
health, onboarding, plans, usage for invoicing, and templates installed and upgraded across customers.

Everything a partner key or a partner's staff reaches is the host's partner and its customers: customers load
through ``_customer`` (another partner's customer answers 404 like a missing one), and every write goes through
the same services as the partner site, which check the action again (``apps.tenants.access``). A key needs
``customers:read`` to reach the partner API at all, plus the scope of each write's action.
"""

from __future__ import annotations

import json
from datetime import date

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import pagination, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder
from rest_framework.views import APIView

from apps.accelerators import services as accelerators
from apps.accelerators.selectors import installations_for_customer, template_for_partner, templates_for_partner
from apps.common.api import PAGE_PARAMETERS, PageNumberPagination, page_of
from apps.portal.api import examples
from apps.portal.api import serializers as s
from apps.portal.selectors import partner_overview
from apps.reporting.api.views import CSVRenderer
from apps.tenants import access, plans, usage
from apps.tenants.models import Customer, Partner, Plan, UsageMonth

AREA = "customers"  # the key scope every partner API read needs


class PartnerApiAccess(BasePermission):
    """The host's partner: reads need ``partner.view`` there (a key: ``customers:read``); writes the view's
    ``write_action`` on the partner too. Actions on one customer are asked again when it loads (``_customer``).
    On a host that is no partner's, there is no partner API (404)."""

    def has_permission(self, request, view) -> bool:
        partner = getattr(request, "partner", None)
        if partner is None:
            raise NotFound("No partner API on this host.")
        if not access.can(request.user, "partner.view", partner=partner, area=AREA):
            return False
        action = getattr(view, "write_action", None) if request.method == "POST" else None
        return action is None or access.can(request.user, action, partner=partner)


class PartnerApi(APIView):
    """Base of every partner API view: its permission, and the helpers that load rows in the partner's scope."""

    permission_classes = [PartnerApiAccess]
    write_action: str | None = None  # a partner action a POST needs (customer actions: ``_customer``)

    def _customer(self, request, slug: str, action: str = "customer.view") -> Customer:
        """The host partner's customer ``slug``: 404 alike for missing and another partner's, 403 when the caller
        sees it but may not do ``action`` (a customer action) on it."""
        customer = (access.customers_for_user(request.user).filter(partner=request.partner, slug=slug)
                    .select_related("plan", "health").first())
        if customer is None or not access.can(request.user, "customer.view", customer=customer, area=AREA):
            raise NotFound("No such customer.")
        if action != "customer.view":
            access.check(request.user, action, customer=customer)
        return customer

    def _validated(self, serializer_class, data) -> dict:
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


# --- customers -------------------------------------------------------------------------------------
class NumberedPages(PageNumberPagination):
    """The customers list is sorted by name, not by id, and a partner has hundreds of customers, not millions:
    it is paged by number only (no ``cursor``, which walks by id)."""

    def paginate_queryset(self, queryset, request, view=None):
        self.by_cursor = None
        return pagination.PageNumberPagination.paginate_queryset(self, queryset, request, view)


NUMBERED_PAGE_PARAMETERS = [p for p in PAGE_PARAMETERS if p.name != "cursor"]


def _money(amounts: dict | None) -> dict:
    return {currency: str(amount) for currency, amount in (amounts or {}).items()}


def _customer_row(row: dict) -> dict:
    """One row of ``partner_overview`` in the API's shape."""
    measured = row["computed_at"] is not None
    return {
        "slug": row["slug"], "name": row["name"], "is_active": row["is_active"], "domain": row["domain"],
        "plan": row["plan_slug"],
        "health": {"sla_status": row["sla_status"] or "unknown", "sla_reason": row["sla_reason"] or "",
                   "computed_at": row["computed_at"], "open_exceptions": row["open_exceptions"] or 0,
                   "money_at_risk": _money(row["money_at_risk_amounts"]),
                   "unposted_hours": str(row["unposted_hours"]) if measured else None,
                   "unposted_values": _money(row["unposted_values"]), "last_good_sync_at": row["last_good_sync_at"]},
        "usage_this_month": {meter: row[meter] or 0 for meter in usage.METERS},
    }


def customer_detail(customer: Customer) -> dict:
    """The customer's row, its domains, flows' health, templates and this month's usage."""
    health = getattr(customer, "health", None)
    this_month = UsageMonth.objects.filter(customer=customer, month=usage.month_start()).first()
    domains = list(customer.domains.order_by("-is_primary", "domain").values_list("domain", flat=True))
    row = {"slug": customer.slug, "name": customer.name, "is_active": customer.is_active,
           "domain": domains[0] if domains else None, "plan_slug": customer.plan.slug if customer.plan_id else None,
           **{key: getattr(health, key, None) for key in (
               "sla_status", "sla_reason", "computed_at", "open_exceptions", "money_at_risk_amounts",
               "unposted_hours", "unposted_values", "last_good_sync_at")},
           **{meter: getattr(this_month, meter, 0) for meter in usage.METERS}}
    return {**_customer_row(row), "domains": domains, "failed_runs_24h": getattr(health, "failed_runs_24h", 0),
            "flows": list(getattr(health, "flows", None) or []),
            "templates": [{"template": i.template.slug, "version": i.version, "upgrade_to": i.upgrade_to}
                          for i in installations_for_customer(customer)]}


class CustomerListApi(PartnerApi):
    """``GET /api/v1/customers/``: the partner's customers with their health and this month's usage, by name;
    ``POST``: onboard one."""

    write_action = "customer.onboard"

    @extend_schema(operation_id="customers_list", parameters=[s.CustomerListQuery, *NUMBERED_PAGE_PARAMETERS],
                   responses=page_of(s.CustomerSerializer, "CustomerPage"), examples=[examples.CUSTOMER_PAGE])
    def get(self, request) -> Response:
        filters = self._validated(s.CustomerListQuery, request.query_params)
        rows = partner_overview(request.partner)
        if filters.get("sla_status"):
            rows = [r for r in rows if (r["sla_status"] or "unknown") == filters["sla_status"]]
        if filters.get("q"):
            rows = [r for r in rows if filters["q"].lower() in r["name"].lower() or filters["q"].lower() in r["slug"]]
        paginator = NumberedPages()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response([_customer_row(row) for row in page])

    @extend_schema(operation_id="customers_onboard", request=s.OnboardInput,
                   responses={201: s.OnboardAnswer, 200: s.OnboardAnswer},
                   examples=[examples.ONBOARD_INPUT, examples.ONBOARD_ANSWER])
    def post(self, request) -> Response:
        data = self._validated(s.OnboardInput, request.data)
        partner = request.partner
        outcome = accelerators.customer_onboard_from_template(
            partner=partner, name=data["name"], slug=data["slug"], domain=data["domain"],
            admin_email=data["admin_email"], plan=_plan(partner, data["plan"]),
            template=_template(partner, data["template"]), variables=data["variables"], acting_user=request.user)
        customer = self._customer(request, outcome.customer.slug)
        answer = {"created": outcome.created, "customer": customer_detail(customer),
                  "admin": {"username": outcome.admin_username, "initial_password": outcome.admin_password},
                  "messages": outcome.messages, "warnings": outcome.warnings}
        response = Response(answer, status=status.HTTP_201_CREATED if outcome.created else status.HTTP_200_OK,
                            headers={"Cache-Control": "no-store"})
        # Kept for an Idempotency-Key retry without the password: a secret shown once is stored nowhere.
        kept = {**answer, "admin": {**answer["admin"], "initial_password": None}}
        response.kept_for_retries = json.dumps(kept, cls=JSONEncoder).encode()
        return response


def _plan(partner: Partner, slug: str | None) -> Plan | None:
    if slug is None:
        return None
    plan = plans.plans_for_partner(partner).filter(slug=slug).first()
    if plan is None:
        raise ValidationError({"plan": ["No such plan (GET /plans/ lists them)."]})
    return plan


def _template(partner: Partner, slug: str | None):
    if slug is None:
        return None
    template = template_for_partner(partner.pk, slug)
    if template is None:
        raise ValidationError({"template": ["No such template (GET /templates/ lists them)."]})
    return template


class CustomerDetailApi(PartnerApi):
    """``GET /api/v1/customers/<slug>/``: one customer with its health, flows, templates and usage."""

    @extend_schema(responses=s.CustomerDetailSerializer, examples=[examples.CUSTOMER_DETAIL])
    def get(self, request, slug: str) -> Response:
        return Response(customer_detail(self._customer(request, slug)))


class CustomerPlanApi(PartnerApi):
    """``POST /api/v1/customers/<slug>/plan/`` with ``{"plan": "<slug>"}``: the customer's plan from this month on."""

    write_action = "partner.view"  # the customer action (customer.plan) is asked when the customer loads

    @extend_schema(request=s.PlanAssignInput, responses=s.CustomerDetailSerializer,
                   examples=[OpenApiExample("Move to Growth", value={"plan": "growth"}, request_only=True)])
    def post(self, request, slug: str) -> Response:
        customer = self._customer(request, slug, "customer.plan")
        data = self._validated(s.PlanAssignInput, request.data)
        plan = _plan(request.partner, data["plan"])
        plans.customer_plan_set(customer=customer, plan=plan, acting_user=request.user)
        return Response(customer_detail(self._customer(request, slug)))


# --- plans and usage ----------------------------------------------------------------------------------
class PlanListApi(PartnerApi):
    """``GET /api/v1/plans/``: the plans the partner sells, retired ones too."""

    @extend_schema(responses=s.PlanSerializer(many=True), examples=[examples.PLANS])
    def get(self, request) -> Response:
        rows = plans.plans_for_partner(request.partner).prefetch_related("customers")
        return Response([{**{f: getattr(p, f) for f in (
            "slug", "name", "currency", "included_records", "included_runs", "included_api_calls", "is_active")},
            "monthly_price": str(p.monthly_price), "features": list(p.features),
            "customers": len(p.customers.all())} for p in rows])


def _month(request) -> date:
    value = request.query_params.get("month")
    s.UsageQuery(data={"month": value} if value is not None else {}).is_valid(raise_exception=True)
    return usage.month_start(date.fromisoformat(f"{value}-01") if value else timezone.localdate())


def _usage_line(line: usage.UsageLine) -> dict:
    plan = line.plan
    return {"customer": line.customer.slug, "name": line.customer.name, "plan": plan.slug if plan else None,
            "monthly_price": str(plan.monthly_price) if plan else None, "currency": plan.currency if plan else None,
            **{meter: {"used": line.used(meter), "included": line.included(meter), "over": line.overage(meter)}
               for meter in usage.METERS}}


class UsageApi(PartnerApi):
    """``GET /api/v1/usage/?month=YYYY-MM``: every customer's billable usage in the month against its plan."""

    @extend_schema(parameters=[s.UsageQuery], responses=s.UsageAnswer, examples=[examples.USAGE])
    def get(self, request) -> Response:
        month = _month(request)
        lines = usage.usage_lines(request.partner, month)
        return Response({"month": f"{month:%Y-%m}", "customers": [_usage_line(line) for line in lines]})


class UsageCsvApi(PartnerApi):
    """``GET /api/v1/usage/csv/?month=YYYY-MM``: the same month as CSV, for the partner's invoicing."""

    renderer_classes = [JSONRenderer, CSVRenderer]  # errors as JSON problems; the file itself is made here

    @extend_schema(operation_id="usage_csv", parameters=[s.UsageQuery], responses={
        (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="One row per customer: "
                                           + ", ".join(usage.CSV_HEADER) + ". Blank included: unlimited.")},
        examples=[examples.USAGE_CSV])
    def get(self, request) -> HttpResponse:
        month = _month(request)
        response = HttpResponse(usage.usage_csv(request.partner, month), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{request.partner.slug}-usage-{month:%Y-%m}.csv"'
        return response


# --- templates ----------------------------------------------------------------------------------------
class TemplateListApi(PartnerApi):
    """``GET /api/v1/templates/``: Weft's and the partner's templates, with how many customers run each and how
    many of those are behind the current version."""

    @extend_schema(operation_id="templates_list", responses=s.TemplateSerializer(many=True),
                   examples=[examples.TEMPLATES])
    def get(self, request) -> Response:
        return Response([{"slug": t.slug, "name": t.name, "version": t.version, "description": t.description,
                          "premium": t.is_premium, "builtin": t.partner_id is None,
                          "variables": t.definition.get("variables") or {}, "customers": t.customers,
                          "behind": t.behind} for t in templates_for_partner(request.partner.pk)])


class TemplateInstallApi(PartnerApi):
    """``POST /api/v1/customers/<slug>/templates/<template>/install/`` with ``{"variables": {...}}``."""

    write_action = "partner.view"  # the customer action (template.install) is asked when the customer loads

    @extend_schema(request=s.TemplateInstallInput, responses={201: s.TemplateInstallAnswer,
                                                              200: s.TemplateInstallAnswer},
                   examples=[examples.INSTALL_INPUT, examples.INSTALL_ANSWER])
    def post(self, request, slug: str, template: str) -> Response:
        customer = self._customer(request, slug, "template.install")
        found = template_for_partner(request.partner.pk, template)
        if found is None:
            raise NotFound("No such template.")
        data = self._validated(s.TemplateInstallInput, request.data)
        report = accelerators.customer_template_install(customer=customer, template=found,
                                                        variables=data["variables"], acting_user=request.user)
        return Response({"customer": customer.slug, "template": found.slug, "version": found.version,
                         "created": report.created, "updated": report.updated, "unchanged": report.unchanged},
                        status=status.HTTP_201_CREATED if report.created else status.HTTP_200_OK)


class TemplateUpgradeApi(PartnerApi):
    """``POST /api/v1/templates/<template>/upgrade/``: install the current version in every customer of the
    partner that runs an older one, each with the variables it was installed with; one customer's failure
    is reported and does not stop the others."""

    write_action = "template.upgrade"

    @extend_schema(request=None, responses=s.TemplateUpgradeAnswer, examples=[examples.UPGRADE_ANSWER])
    def post(self, request, template: str) -> Response:
        found = template_for_partner(request.partner.pk, template)
        if found is None:
            raise NotFound("No such template.")
        outcome = accelerators.template_upgrade_customers(template=found, acting_user=request.user,
                                                           partner=request.partner)
        results = [{"customer": slug, "outcome": "upgraded", "detail": f"Now on version {found.version}."}
                   for slug in outcome.upgraded]
        results += [{"customer": slug, "outcome": "failed", "detail": why} for slug, why in outcome.failed.items()]
        return Response({"template": found.slug, "version": found.version,
                         "results": sorted(results, key=lambda r: r["customer"])})
