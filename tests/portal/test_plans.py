"""Plans: partner-owned, one per customer, and one feature check (``plan_allows``) for UI and API."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import RequestFactory
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from apps.tenants.choices import Feature, Role
from apps.tenants.errors import PlanError
from apps.tenants.models import Customer
from apps.tenants.plans import customer_plan_set, plan_allows, plan_update
from tests.conftest import host, member
from tests.portal.conftest import make_plan


def test_a_customer_without_a_plan_is_not_gated(cast):
    assert all(plan_allows(cast.alpha, feature) for feature in Feature.values)


def test_features_follow_the_customers_plan(cast, basic, premium):
    customer_plan_set(customer=cast.alpha, plan=basic, acting_user=None)
    assert not plan_allows(cast.alpha, Feature.RECONCILIATION)
    customer_plan_set(customer=cast.alpha, plan=premium, acting_user=None)
    assert plan_allows(Customer.objects.get(pk=cast.alpha.pk), Feature.RECONCILIATION)


def test_no_customer_or_an_unknown_feature_is_never_allowed(cast):
    assert not plan_allows(None, Feature.ESCALATION)
    with pytest.raises(ValueError):
        plan_allows(cast.alpha, "teleportation")


def test_a_plan_of_another_partner_or_a_retired_one_is_refused(cast, basic):
    other = make_plan(cast.ypartner, "gold")
    with pytest.raises(PlanError, match="another partner"):
        customer_plan_set(customer=cast.alpha, plan=other, acting_user=None)
    plan_update(plan=basic, changes={"is_active": False}, acting_user=None)
    with pytest.raises(PlanError, match="retired"):
        customer_plan_set(customer=cast.alpha, plan=basic, acting_user=None)


def test_plan_changes_are_attributed_in_history(cast, basic):
    partner_admin = member(Role.PARTNER_ADMIN, partner=cast.xpartner)
    customer_plan_set(customer=cast.alpha, plan=basic, acting_user=partner_admin, reason="Signed the basic order")
    row = cast.alpha.history.latest()
    assert (row.plan_id, row.history_user, row.history_change_reason) == (
        basic.pk, partner_admin, "Signed the basic order")
    plan_update(plan=basic, changes={"monthly_price": Decimal("520.00")}, acting_user=partner_admin,
                reason="2027 prices")
    assert [h.monthly_price for h in basic.history.order_by("history_date")] == [Decimal("490.00"), Decimal("520.00")]


def test_plan_fields_are_validated(cast):
    with pytest.raises(ValidationError) as refused:
        make_plan(cast.xpartner, "odd", features=["teleportation"], currency="euro", monthly_price=Decimal("-1"))
    assert {"features", "currency", "monthly_price"} <= set(refused.value.message_dict)


def test_the_model_refuses_a_plan_from_another_partner_too(cast):
    cast.alpha.plan = make_plan(cast.ypartner, "gold")
    with pytest.raises(ValidationError, match="partner's plans"):
        cast.alpha.full_clean()


class ReconciliationApi(APIView):
    plan_feature = Feature.RECONCILIATION

    def get(self, request):
        return Response({"ok": True})


def test_api_views_that_name_a_feature_are_gated_by_the_plan(cast, basic, alice):
    request = APIRequestFactory().get("/api/v1/anything/")
    request.tenant = cast.alpha
    force_authenticate(request, user=alice)
    assert ReconciliationApi.as_view()(request).status_code == 200  # no plan yet: not gated
    customer_plan_set(customer=cast.alpha, plan=basic, acting_user=None)
    request.tenant = Customer.objects.get(pk=cast.alpha.pk)
    refused = ReconciliationApi.as_view()(request)
    assert refused.status_code == 403
    assert "not part of the Basic plan" in str(refused.data["detail"])


def test_api_views_without_a_feature_are_not_affected(cast, basic, alice):
    customer_plan_set(customer=cast.alpha, plan=basic, acting_user=None)

    class Plain(APIView):
        def get(self, request):
            return Response({})

    request = RequestFactory().get("/api/v1/plain/")
    request.tenant = cast.alpha
    request.user = alice
    assert Plain.as_view()(request).status_code == 200


def test_the_reports_api_gates_reconciliation_by_the_plan_too(cast, client, alice, basic, premium):
    client.force_login(alice)
    customer_plan_set(customer=cast.alpha, plan=basic, acting_user=None)
    refused = client.get("/api/v1/reports/reconciliation/", HTTP_HOST=host(cast.alpha))
    assert refused.status_code == 403 and "not part of the Basic plan" in refused.json()["detail"]
    assert client.get("/api/v1/reports/reconciliation/csv/", HTTP_HOST=host(cast.alpha)).status_code == 403
    assert client.get("/api/v1/reports/run-health/", HTTP_HOST=host(cast.alpha)).status_code == 200
    customer_plan_set(customer=cast.alpha, plan=premium, acting_user=None)
    assert client.get("/api/v1/reports/reconciliation/", HTTP_HOST=host(cast.alpha)).status_code == 200
