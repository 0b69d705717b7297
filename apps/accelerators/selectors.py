"""Reads of templates shared by the admin, the API, the partner site and the commands."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from apps.accelerators.models import FlowTemplate
from apps.tenants.models import Customer


def templates_for_customer(customer: Customer) -> QuerySet[FlowTemplate]:
    """Weft's built-in templates and the customer's partner's own."""
    return FlowTemplate.objects.filter(Q(partner__isnull=True) | Q(partner_id=customer.partner_id))
