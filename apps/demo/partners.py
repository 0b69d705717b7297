"""Demo data for ``make run``: a partner with its own brand, two customer firms, a login per role."""

from __future__ import annotations

import io

from django.core.files.base import ContentFile
from PIL import Image, ImageDraw

from apps.tenants import services
from apps.tenants.choices import Role
from apps.tenants.models import Customer, Partner, User

DEMO_PASSWORD = "weft-demo"

PARTNERS = [
    {
        "name": "Northwind Partners", "slug": "northwind", "display_name": "Northwind Connect",
        "primary_colour": "#0B5563", "accent_colour": "#E8A33D", "support_email": "support@northwind.example",
        "email_sender_name": "Northwind Connect Support", "domain_suffix": "northwind.localhost",
    },
    {
        "name": "Contoso Integrators", "slug": "contoso", "display_name": "Contoso Sync",
        "primary_colour": "#5B2A86", "accent_colour": "#2EC4B6", "support_email": "help@contoso.example",
        "email_sender_name": "Contoso Sync", "domain_suffix": "contoso.localhost",
    },
]
CUSTOMERS = [
    ("northwind", "acme", "Acme Consulting"),
    ("northwind", "globex", "Globex Advisory"),
    ("contoso", "initech", "Initech Partners"),
]
PARTNER_LOGINS = [
    ("northwind", "admin", Role.PARTNER_ADMIN),
    ("northwind", "engineer", Role.INTEGRATION_ENGINEER),
    ("northwind", "analyst", Role.ANALYST),
    ("contoso", "admin", Role.PARTNER_ADMIN),
]
CUSTOMER_LOGINS = [("admin", Role.CUSTOMER_ADMIN), ("finance", Role.FINANCE_APPROVER), ("viewer", Role.VIEWER)]


def demo_seed() -> list[tuple[str, str]]:
    """Create whatever of the demo is missing; returns (username, what it is) for every login."""
    logins = [(_user("operator", superuser=True).username, "platform operator (superuser)")]
    partners = {spec["slug"]: _partner(spec) for spec in PARTNERS}
    for partner_slug, suffix, role in PARTNER_LOGINS:
        user = _user(f"{partner_slug}.{suffix}")
        services.membership_grant(user=user, role=role, partner=partners[partner_slug], acting_user=None)
        logins.append((user.username, f"{Role(role).label}, {partners[partner_slug].name}"))
    for partner_slug, slug, name in CUSTOMERS:
        partner = partners[partner_slug]
        result = services.customer_onboard(
            partner=partner, slug=slug, name=name, admin_email=f"{slug}.admin@example.com",
            admin_username=f"{slug}.admin", admin_password=DEMO_PASSWORD, acting_user=None,
        )
        for suffix, role in CUSTOMER_LOGINS:
            user = _user(f"{slug}.{suffix}")
            services.membership_grant(user=user, role=role, customer=result.customer, acting_user=None)
            logins.append((user.username, f"{Role(role).label}, {name}"))
    return logins


def demo_sites(port: int) -> list[tuple[str, str]]:
    sites = [(f"{p.name}:", f"http://{p.domain_suffix}:{port}/") for p in Partner.objects.filter(
        slug__in=[spec["slug"] for spec in PARTNERS])]
    for customer in Customer.objects.firms().filter(slug__in=[c[1] for c in CUSTOMERS]).prefetch_related("domains"):
        sites.append((f"{customer.name}:", f"http://{customer.domains.all()[0].domain}:{port}/"))
    return sites


def _partner(spec: dict) -> Partner:
    partner = Partner.objects.filter(slug=spec["slug"]).first()
    if partner is None:
        partner = Partner(**spec)
        partner.logo.save(f"{spec['slug']}.png", ContentFile(_logo_png(spec)), save=False)
        services.save_attributed(partner, acting_user=None, reason="Demo partner")
    return partner


def _user(username: str, *, superuser: bool = False) -> User:
    user = User.objects.filter(username=username).first()
    if user is None:
        user = services.user_create(
            username=username, email=f"{username}@example.com", password=DEMO_PASSWORD, acting_user=None,
            is_superuser=superuser, is_staff=superuser,
        )
    return user


def _logo_png(spec: dict) -> bytes:
    """A small square logo in the partner's colours with its initial, so the demo shows a real image."""
    image = Image.new("RGB", (96, 96), spec["accent_colour"])
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 10, 86, 86), fill=spec["primary_colour"])
    draw.text((36, 30), spec["name"][0], fill="#FFFFFF", font_size=36)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
