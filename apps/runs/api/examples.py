"""Examples in the customer API's OpenAPI document for flows, runs, the ledger, replay, bulk records and hooks."""

from apps.common.api import example_answer, example_request

FLOW = {"slug": "time-to-erp", "name": "Time to ERP", "direction": "outbound", "object_type": "time_entry",
        "connection": "tryton", "object_name": "timesheet_lines", "mapping": "time-entry-to-tryton",
        "rule_set": "time-entry-checks", "on_schedule": True, "schedule_cron": "", "schedule_minutes": 15,
        "on_webhook": False, "on_hub_change": True, "after_flow": "time-from-harvest", "write_back": True,
        "is_enabled": True, "installed_from": "approved-time-to-erp"}
RUN = {"id": 1187, "flow": "time-to-erp", "connection": "tryton", "object_name": "timesheet_lines",
       "object_type": "time_entry", "trigger": "schedule", "status": "partial",
       "counts": {"created": 212, "updated": 9, "unchanged": 40, "failed": 3}, "cursor_start": "2026-12-05T07:40:00Z",
       "cursor_end": "2026-12-05T07:55:00Z", "started_at": "2026-12-05T07:55:02Z",
       "finished_at": "2026-12-05T07:55:41Z", "error_message": "", "created_at": "2026-12-05T07:55:00Z"}
_QUEUED = {**RUN, "id": 1188, "trigger": "manual", "status": "queued", "counts": {}, "cursor_end": "",
           "started_at": None, "finished_at": None, "created_at": "2026-12-05T08:12:00Z"}
RUN_ITEM = {"id": 5531, "run": 1187, "idempotency_key": "time-to-erp:time_entry:9120:3",
            "object_type": "time_entry", "external_id": "TE-88213", "canonical_id": 9120, "outcome": "failed",
            "error_category": "validation", "error_field": "hours",
            "error_message": "14.00 hours on 2026-12-03: more than the daily limit of 12.",
            "payload_before": {"external_id": "TE-88213", "person": "E-0117", "project": "GLX-2026-07",
                               "date": "2026-12-03", "hours": "14.00"},
            "payload_after": None, "target_external_id": "", "target_response": None, "attempts": 1,
            "duration_ms": 4, "latency_ms": 312000, "created_at": "2026-12-05T07:55:09Z"}

FLOW_LIST = [example_answer("A flow (each item of the page)", FLOW)]  # the paginator wraps it
FLOW_DETAIL = [example_answer("A flow", FLOW)]
FLOW_RUN = [example_answer("Queued", _QUEUED, status=202)]
RUN_LIST = [example_answer("A run (each item of the page)", RUN)]
RUN_DETAIL = [example_answer("A partial run", RUN)]
ITEM_LIST = [example_answer("A ledger item (each item of the page)", RUN_ITEM)]
ITEM_DETAIL = [example_answer("A failed ledger item", RUN_ITEM)]
_SELECTION = example_request("Failed items of one run", {"run": 1187, "outcome": "failed",
                                                         "error_category": "validation"})
REPLAY_PREVIEW = [_SELECTION, example_answer("What a replay would send", {"items": 3, "preview": [
    {"flow": "time-to-erp", "canonical_id": 9120, "action": "create",
     "payload": {"employee": "E-0117", "project": "GLX-2026-07", "date": "2026-12-03", "hours": "8.00"},
     "message": ""}]})]
REPLAY = [_SELECTION, example_answer("Replay runs queued", {"runs": [{**_QUEUED, "trigger": "replay"}]}, status=202)]
RECORDS = [example_request("People from the HR system", {"records": [
    {"code": "E-0117", "name": "Ana Costa", "email": "ana.costa@acme.example", "practice": "Advisory"},
    {"code": "E-0121", "name": "Ben Ito", "email": "not-an-email", "practice": "Advisory"}]}),
    example_answer("Stored, one refused", {
        "run": 1190, "status": "partial", "connection": "api", "counts": {"created": 1, "failed": 1}, "results": [
            {"index": 0, "outcome": "created", "id": "E-0117", "canonical_id": 311, "message": "", "field": ""},
            {"index": 1, "outcome": "failed", "id": "E-0121", "canonical_id": None,
             "message": "Enter a valid email address.", "field": "email"}]})]
_EVENT = {"type": "time_entry.approved", "id": "evt_01JEB5Q4", "data": {"external_id": "TE-88213",
                                                                      "approved_at": "2026-12-05T08:00:00Z"}}
HOOK = [example_request("A signed event", _EVENT),
        example_answer("Accepted", {"status": "accepted", "event": "evt_01JEB5Q4"}, status=202),
        example_answer("Already had it", {"status": "duplicate", "event": "evt_01JEB5Q4"})]
VENDOR_HOOK = [example_request("Events in the vendor's format", {"events": [
    {"event_type": "time_entry.updated", "id": "wh_8812", "object": {"id": 2201}}]}),
    example_answer("Accepted", {"status": "accepted", "events": ["wh_8812"]}, status=202),
    example_answer("All re-deliveries", {"status": "duplicate", "events": ["wh_8812"]})]
