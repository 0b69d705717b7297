"""Examples in the partner API's OpenAPI document (what the docs page shows next to each operation)."""

from drf_spectacular.utils import OpenApiExample

_HEALTH = {"sla_status": "at_risk", "sla_reason": "Time export: no successful run for 14 h.",
           "computed_at": "2026-12-05T08:00:00Z", "open_exceptions": 3, "money_at_risk": {"EUR": "1750.00"},
           "unposted_hours": "42.50", "unposted_values": {"EUR": "5100.00"},
           "last_good_sync_at": "2026-12-04T18:00:00Z"}
_CUSTOMER = {"slug": "acme", "name": "Acme Consulting", "is_active": True, "domain": "acme.northwind.example",
             "plan": "growth", "health": _HEALTH,
             "usage_this_month": {"records_synced": 12840, "runs": 310, "api_calls": 2200}}
_DETAIL = {**_CUSTOMER, "domains": ["acme.northwind.example"], "failed_runs_24h": 1,
           "flows": [{"slug": "time-to-erp", "name": "Time to ERP", "last_status": "partial",
                      "last_run_at": "2026-12-05T07:55:00Z", "last_success_at": "2026-12-04T18:00:00Z"}],
           "templates": [{"template": "approved-time-to-erp", "version": 2, "upgrade_to": 3}]}

CUSTOMER_PAGE = OpenApiExample("A page of customers", response_only=True,
                               value={"count": 1, "next": None, "previous": None, "results": [_CUSTOMER]})
CUSTOMER_DETAIL = OpenApiExample("A customer", response_only=True, value=_DETAIL)
ONBOARD_INPUT = OpenApiExample("Onboard on a plan with a template", request_only=True, value={
    "name": "Hotel Group", "slug": "hotel", "admin_email": "it@hotel.example", "plan": "growth",
    "template": "approved-time-to-erp", "variables": {"erp_connection": "tryton"}})
ONBOARD_ANSWER = OpenApiExample("Onboarded", response_only=True, status_codes=["201"], value={
    "created": True, "customer": {
        **_DETAIL, "slug": "hotel", "name": "Hotel Group", "domain": "hotel.northwind.example",
        "domains": ["hotel.northwind.example"], "flows": [], "failed_runs_24h": 0,
        "templates": [{"template": "approved-time-to-erp", "version": 3, "upgrade_to": None}]},
    "admin": {"username": "it@hotel.example", "initial_password": "q3V9x-2mLk8p"},
    "messages": ["Onboarded Hotel Group (hotel) at hotel.northwind.example; customer admin it@hotel.example.",
                 "On the Growth plan.", "Approved time to ERP installed: 4 created."], "warnings": []})
# A list answer's example is one item: drf-spectacular wraps it in the list (a list here showed a list of lists).
PLANS = OpenApiExample("Plans", response_only=True, value={
    "slug": "growth", "name": "Growth", "monthly_price": "490.00", "currency": "EUR", "included_records": 50000,
    "included_runs": 3000, "included_api_calls": 20000, "features": ["premium_templates"], "is_active": True,
    "customers": 12})
USAGE = OpenApiExample("A month's usage", response_only=True, value={"month": "2026-11", "customers": [{
    "customer": "acme", "name": "Acme Consulting", "plan": "growth", "monthly_price": "490.00", "currency": "EUR",
    "records_synced": {"used": 61200, "included": 50000, "over": 11200},
    "runs": {"used": 2900, "included": 3000, "over": 0}, "api_calls": {"used": 800, "included": 20000, "over": 0}}]})
TEMPLATES = OpenApiExample("Templates", response_only=True, value={
    "slug": "approved-time-to-erp", "name": "Approved time to ERP", "version": 3,
    "description": "Approved time into the ERP.", "premium": False, "builtin": True,
    "variables": {"erp_connection": {"label": "Tryton connection (slug)", "default": "tryton"}}, "customers": 9,
    "behind": 2})
INSTALL_INPUT = OpenApiExample("Install with variables", request_only=True,
                               value={"variables": {"erp_connection": "tryton"}})
INSTALL_ANSWER = OpenApiExample("Installed", response_only=True, status_codes=["201"], value={
    "customer": "acme", "template": "approved-time-to-erp", "version": 3,
    "created": ["flow time-to-erp", "mapping time-entry"], "updated": [], "unchanged": []})
UPGRADE_ANSWER = OpenApiExample("Upgraded across customers", response_only=True, value={
    "template": "approved-time-to-erp", "version": 3, "results": [
        {"customer": "acme", "outcome": "upgraded", "detail": "Now on version 3."},
        {"customer": "globex", "outcome": "failed", "detail": "Approved time to ERP is a premium template; the Starter "
                                                              "plan does not include premium templates."}]})
_BASE = "https://northwind.example/api/v1/"
ROOT = OpenApiExample("Every group on the partner's host", response_only=True, value={
    "customers": f"{_BASE}customers/", "plans": f"{_BASE}plans/", "usage": f"{_BASE}usage/",
    "usage-csv": f"{_BASE}usage/csv/", "templates": f"{_BASE}templates/", "schema": f"{_BASE}schema/",
    "docs": "https://northwind.example/api/docs/"})
USAGE_CSV = OpenApiExample("A month's usage as CSV", response_only=True, media_type="text/csv", status_codes=["200"],
                           value="month,customer,customer_slug,plan,monthly_price,currency,records_synced,"
                                 "records_included,records_over,runs,runs_included,runs_over,api_calls,"
                                 "api_calls_included,api_calls_over\r\n"
                                 "2026-11,Acme Consulting,acme,growth,490.00,EUR,61200,50000,11200,2900,3000,0,800,"
                                 "20000,0\r\n")
