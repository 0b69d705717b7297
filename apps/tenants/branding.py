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

    @property
    def primary_ink(self) -> str:
        """Text colour readable on the primary colour (the top bar)."""
        return readable_ink(self.primary_colour)

    @property
    def accent_ink(self) -> str:
        """Text colour readable on the accent colour (buttons)."""
        return readable_ink(self.accent_colour)


WEFT_BRAND = Brand(
    display_name="Weft", logo_url=None, primary_colour="#1F3A5F", accent_colour="#E07A1F",
    support_email="support@weft.invalid", email_sender_name="Weft", is_partner=False,
)


def _luminance(hex_colour: str) -> float:
    """WCAG relative luminance of ``#RRGGBB``."""
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(first: str, second: str) -> float:
    lighter, darker = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def readable_ink(background: str) -> str:
    """White or near-black, whichever contrasts more with ``background``: partners pick any colour."""
    return "#FFFFFF" if contrast_ratio(background, "#FFFFFF") >= contrast_ratio(background, "#111111") else "#111111"


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
