"""Reads of templates shared by the admin, the API, the partner site and the commands."""

from __future__ import annotations

from django.db.models import Count, F, Q, QuerySet

from apps.accelerators.models import FlowTemplate, TemplateInstallation
from apps.tenants.models import Customer


def templates_for_customer(customer: Customer) -> QuerySet[FlowTemplate]:
    """Weft's built-in templates and the customer's partner's own."""
    return FlowTemplate.objects.filter(Q(partner__isnull=True) | Q(partner_id=customer.partner_id))


def template_chosen(customer: Customer, chosen: str | None) -> FlowTemplate | None:
    """The template a form's ``template`` value names among ``customer``'s; None if blank, not a number or not
    theirs."""
    return templates_for_customer(customer).filter(pk=chosen).first() if chosen and chosen.isdigit() else None


def installations_behind(template: FlowTemplate) -> QuerySet[TemplateInstallation]:
    """Customers running an older version of ``template`` than the one now stored."""
    return (TemplateInstallation.objects.filter(template=template, version__lt=template.version)
            .select_related("customer", "template").order_by("customer__slug"))


def installations_for_customer(customer: Customer) -> list[TemplateInstallation]:
    """The templates ``customer`` runs, each with ``upgrade_to`` set when a newer version is stored."""
    installations = list(TemplateInstallation.objects.filter(customer=customer).select_related("template")
                         .order_by("template__name"))
    for installation in installations:
        newer = installation.template.version > installation.version
        installation.upgrade_to = installation.template.version if newer else None
    return installations


def templates_for_partner(partner_id: int) -> QuerySet[FlowTemplate]:
    """Weft's built-in templates and the partner's own, each with how many of the partner's customers run it
    (``customers``) and how many of those run an older version (``behind``)."""
    mine = Q(installations__customer__partner_id=partner_id)
    return (FlowTemplate.objects.filter(Q(partner__isnull=True) | Q(partner_id=partner_id))
            .annotate(customers=Count("installations", filter=mine),
                      behind=Count("installations", filter=mine & Q(installations__version__lt=F("version"))))
            .order_by("name", "pk"))


def template_for_partner(partner_id: int, slug: str) -> FlowTemplate | None:
    """The template ``slug`` the partner may install: its own before a built-in of the same slug."""
    return (templates_for_partner(partner_id).filter(slug=slug)
            .order_by(F("partner_id").asc(nulls_last=True)).first())
