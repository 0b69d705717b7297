from apps.tenants.branding import brand_for_partner


def brand(request) -> dict:
    """Every template gets ``brand`` (the partner's, on partner and customer hosts) and ``tenant``."""
    tenant = getattr(request, "tenant", None)
    return {
        "brand": brand_for_partner(getattr(request, "partner", None)),
        "current_customer": tenant if tenant is not None and tenant.kind == "firm" else None,
    }
