"""Examples in the customer API's OpenAPI document for exceptions and their triage commands."""

from apps.common.api import example_answer, example_page, example_request

EXCEPTION = {
    "id": 42, "kind": "validation", "source": "ledger", "title": "Time entries over the daily hours limit",
    "message": "3 time entries book more than 12 hours on one day.", "error_field": "hours", "flow": "time-to-erp",
    "connection": "tryton", "object_type": "time_entry", "severity": "high", "status": "open", "status_reason": "",
    "owner": None, "first_seen": "2026-12-04T18:02:00Z", "last_seen": "2026-12-05T07:55:00Z",
    "opened_at": "2026-12-04T18:02:00Z", "acknowledged_at": None, "resolved_at": None, "cycle": 1, "occurrences": 4,
    "open_records": 3, "records_total": 3, "hours_at_risk": "39.50", "amount_at_risk": "4740.00", "currency": "EUR",
    "amounts": {"EUR": "4740.00"}, "customers": ["GLOBEX"], "projects": ["GLX-2026-07"], "people": ["E-0117"],
    "period_start": "2026-12-01", "period_end": "2026-12-04", "last_replay_at": None, "last_replay_runs": []}
_ACKNOWLEDGED = {**EXCEPTION, "status": "acknowledged", "owner": "ops@acme.example",
                 "acknowledged_at": "2026-12-05T08:05:00Z"}
_RECORD = {"record_key": "time_entry:TE-88213", "object_type": "time_entry", "external_id": "TE-88213",
           "canonical_id": 9120, "is_open": True, "occurrences": 2, "first_seen": "2026-12-04T18:02:00Z",
           "last_seen": "2026-12-05T07:55:00Z", "cleared_at": None, "hours": "14.00", "amount": "1680.00",
           "currency": "EUR", "context": {"person": "E-0117", "project": "GLX-2026-07", "date": "2026-12-03"},
           "run_item": 5531}
_COMMENT = {"id": 7, "author": "ops@acme.example", "body": "Asked the consultant to split the day.",
            "created_at": "2026-12-05T08:06:00Z"}

LIST = [example_page("A page of exceptions", EXCEPTION, path="exceptions/", count=51)]
DETAIL = [example_answer("An exception with its records, comments and history", {
    **EXCEPTION, "records": [_RECORD], "comments": [_COMMENT],
    "history": [{"at": "2026-12-04T18:02:00Z", "by": "system", "reason": "raised", "status": "open", "severity": 30,
                 "owner_id": None}]})]
ACKNOWLEDGE = [example_answer("Acknowledged (owned by the caller)", _ACKNOWLEDGED)]
ASSIGN = [example_request("Assign to a colleague", {"owner": "ops@acme.example"}),
          example_answer("Assigned", {**EXCEPTION, "owner": "ops@acme.example"})]
COMMENT = [example_request("A note for the team", {"body": "Asked the consultant to split the day."}),
           example_answer("Commented", _COMMENT, status=201)]
RESOLVE = [example_request("Resolved by hand", {"reason": "Corrected in the time tool; next run picked it up."}),
           example_answer("Resolved", {**_ACKNOWLEDGED, "status": "resolved", "open_records": 0,
                                       "status_reason": "Corrected in the time tool; next run picked it up.",
                                       "resolved_at": "2026-12-05T09:30:00Z"})]
IGNORE = [example_request("Known and accepted", {"reason": "Year-end workshop: long days are approved."}),
          example_answer("Ignored", {**EXCEPTION, "status": "ignored",
                                     "status_reason": "Year-end workshop: long days are approved."})]
REOPEN = [example_request("Not fixed after all", {"reason": "The entries came back in the 10:00 run."}),
          example_answer("Reopened", {**EXCEPTION, "cycle": 2,
                                      "status_reason": "The entries came back in the 10:00 run."})]
PAYLOAD = [example_request("Correct one record's payload", {
    "record_key": "time_entry:TE-88213", "payload": {"hours": "8.00", "notes": "Split: 6 h moved to 2026-12-04."},
    "reason": "Confirmed with the consultant."}),
    example_answer("Payload edited (replay it next)", {
        "record_key": "time_entry:TE-88213", "run_item": 5602,
        "payload": {"external_id": "TE-88213", "person": "E-0117", "project": "GLX-2026-07", "date": "2026-12-03",
                    "hours": "8.00", "notes": "Split: 6 h moved to 2026-12-04."}}, status=201)]
_PREVIEW = {"preview": [{"flow": "time-to-erp", "canonical_id": 9120, "action": "create",
                         "payload": {"employee": "E-0117", "project": "GLX-2026-07", "date": "2026-12-03",
                                     "hours": "8.00"}, "message": ""}]}
PREVIEW_GET = [example_answer("What a replay of every open record would send", _PREVIEW)]
PREVIEW_POST = [example_request("Only some records", {"record_keys": ["time_entry:TE-88213"]}),
                example_answer("What a replay would send", _PREVIEW)]
REPLAY = [example_request("Replay some records", {"record_keys": ["time_entry:TE-88213"]}),
          example_answer("Replay runs queued", {"runs": [1187]}, status=202)]
BULK = [example_request("Resolve several", {"ids": [42, 43, 44], "action": "resolve",
                                           "reason": "Fixed at the source."}),
        example_answer("Done, except one", {"done": [42, 43], "refused": {"44": "No such exception."}})]
