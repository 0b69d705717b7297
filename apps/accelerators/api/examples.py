"""Examples in the customer API's OpenAPI document for templates (accelerators)."""

from apps.common.api import example_answer, example_request

TEMPLATES = [example_answer("A template (each item of the list)", {
    "slug": "approved-time-to-erp", "name": "Approved time to ERP", "version": 3,
    "description": "Approved time entries into the ERP, checked against the daily hours limit.", "premium": False,
    "variables": {"erp_connection": {"label": "Tryton connection (slug)", "default": "tryton"}}})]
INSTALL = [example_request("Install with variables", {"variables": {"erp_connection": "tryton"}}),
           example_answer("Installed", {"created": ["flow time-to-erp", "mapping time-entry-to-tryton"],
                                        "updated": [], "unchanged": ["rule set time-entry-checks"]}, status=201),
           example_answer("Already installed", {"created": [], "updated": ["flow time-to-erp"],
                                                "unchanged": ["mapping time-entry-to-tryton"]})]
