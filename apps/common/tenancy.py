"""Which tables live where: customer schemas or the shared public one (django-tenants' two app lists)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


def in_customer_schemas(model: type[models.Model]) -> bool:
    """Whether ``model``'s table is in every customer schema (a tenant app's, shared or not)."""
    return model._meta.app_config.name in settings.TENANT_APPS


def in_customer_schemas_only(model: type[models.Model]) -> bool:
    """Whether ``model``'s table is in customer schemas and not in the public one."""
    return in_customer_schemas(model) and model._meta.app_config.name not in settings.SHARED_APPS
