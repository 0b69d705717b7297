"""The brand a page or email is shown in: the partner's when it has one, Weft's otherwise."""

from __future__ import annotations

from dataclasses import dataclass

from apps.tenants.models import Partner


@dataclass(frozen=True)
class Brand:
    display_name: str
    logo_url: str | None
    primary_colour: str
    accent_colour: str
    support_email: str
    email_sender_name: str
    is_partner: bool


WEFT_BRAND = Brand(
    display_name="Weft", logo_url=None, primary_colour="#1F3A5F", accent_colour="#E07A1F",
    support_email="support@weft.invalid", email_sender_name="Weft", is_partner=False,
)


def brand_for_partner(partner: Partner | None) -> Brand:
    if partner is None:
        return WEFT_BRAND
    return Brand(
        display_name=partner.display_name,
        logo_url=partner.logo.url if partner.logo else None,
        primary_colour=partner.primary_colour,
        accent_colour=partner.accent_colour,
        support_email=partner.support_email,
        email_sender_name=partner.email_sender_name,
        is_partner=True,
    )
