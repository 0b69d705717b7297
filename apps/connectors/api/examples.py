"""Examples in the customer API's OpenAPI document for connections."""

from apps.common.api import example_answer, example_request

_CONNECTION = {"name": "Tryton ERP", "slug": "tryton", "kind": "tryton", "is_enabled": True, "health_status": "ok",
               "last_checked_at": "2026-12-05T07:50:00Z", "has_credentials": True}
_DETAIL = {**_CONNECTION, "description": "Production ERP (projects, timesheets, invoices).",
           "settings": {"url": "https://erp.acme.example/tryton", "database": "acme"}, "allow_private_network": False,
           "last_check_message": "Connected as weft-sync (Tryton 7.0).",
           "credentials_updated_at": "2026-11-02T09:14:00Z",
           "created_at": "2026-10-01T10:00:00Z", "updated_at": "2026-12-05T07:50:00Z"}

LIST = [example_answer("A connection (each item of the page)", _CONNECTION)]  # the paginator wraps it
DETAIL = [example_answer("A connection", _DETAIL)]
CREATE = [example_request("A Tryton connection with credentials", {
    "name": "Tryton ERP", "slug": "tryton", "kind": "tryton", "description": "Production ERP (projects, timesheets, "
    "invoices).", "settings": {"url": "https://erp.acme.example/tryton", "database": "acme"},
    "credentials": {"username": "weft-sync", "password": "s3cret-from-the-vault"}}),
    example_answer("Created", {**_DETAIL, "health_status": "unknown", "last_checked_at": None,
                               "last_check_message": "", "updated_at": "2026-10-01T10:00:00Z"}, status=201)]
UPDATE = [example_request("Pause a connection", {"is_enabled": False}),
          example_answer("Paused", {**_DETAIL, "is_enabled": False, "updated_at": "2026-12-05T08:10:00Z"})]
TEST = [example_answer("Reachable", {"ok": True, "message": "Connected as weft-sync (Tryton 7.0)."}),
        example_answer("Refused", {"ok": False, "message": "Login refused: check the username and password."})]
