"""Examples in the customer API's OpenAPI document for reports (figures)."""

from drf_spectacular.utils import OpenApiExample

from apps.common.api import example_answer

_URL = "https://acme.northwind.example/api/v1/reports/unposted-time/"
FIGURES = [example_answer("A figure (each item of the list)", {
    "name": "unposted-time", "title": "Unposted approved time", "url": _URL, "csv": f"{_URL}csv/",
    "parameters": ["start", "end", "as_of", "project", "customer", "person", "practice", "flow", "page",
                   "page_size"]})]
_ROW = {"project": "GLX-2026-07", "project_name": "Globex ERP rollout", "customer": "GLOBEX", "age": "8–14 days",
        "entries": 6, "hours": "39.50", "billable_hours": "39.50", "value": "4740.00", "currency": "EUR",
        "unrated_hours": "0.00", "oldest_approved": "2026-11-24"}
FIGURE = [example_answer("A page of a figure", {
    "name": "unposted-time", "title": "Unposted approved time",
    "columns": [{"key": key, "label": label, "kind": kind} for key, label, kind in (
        ("project", "Project", "text"), ("project_name", "Project name", "text"), ("customer", "Customer", "text"),
        ("age", "Age since approval", "text"), ("entries", "Entries", "int"), ("hours", "Hours", "hours"),
        ("billable_hours", "Billable hours", "hours"), ("value", "Value", "money"), ("currency", "Currency", "text"),
        ("unrated_hours", "Billable hours without a rate", "hours"), ("oldest_approved", "Oldest approval", "date"))],
    "rows": [_ROW],
    "summary": {"entries": 7, "hours": "42.50", "billable_hours": "42.50", "value": {"EUR": "5100.00"},
                "hours_by_age": {"0–7 days": "3.00", "8–14 days": "39.50", "15–30 days": "0.00",
                                 "31+ days": "0.00"}},
    "notes": ["Unposted for: Time to ERP. Age counted to 2026-12-05."],
    "count": 2, "page": 1, "page_size": 1, "next": f"{_URL}?page=2&page_size=1", "previous": None})]
FIGURE.append(OpenApiExample("Every row, as CSV", response_only=True, media_type="text/csv", status_codes=["200"],
                             value="Project,Project name,Customer,Age since approval,Entries,Hours,Billable hours,"
                                   "Value,Currency,Billable hours without a rate,Oldest approval\r\n"
                                   "GLX-2026-07,Globex ERP rollout,GLOBEX,8–14 days,6,39.50,39.50,4740.00,EUR,0.00,"
                                   "2026-11-24\r\n"))
