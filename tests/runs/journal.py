"""CSV files for the engine tests: drop a time export in an inbox, run the flows, read the journal export back."""

import csv
import json
from pathlib import Path

from apps.connectors.services import connection_files_root
from apps.runs import engine
from apps.runs.models import Run, RunStatus, Trigger

HEADER = "id,person,project,date,hours,approval_status,notes\n"


def drop(connection, name: str, rows: str) -> Path:
    inbox = connection_files_root(connection) / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    path = inbox / name
    path.write_text(HEADER + rows)
    return path


def run_flow(flow, **kwargs) -> Run:
    """A manual run of ``flow``, slice after slice as the queue would, until it finishes."""
    kwargs.setdefault("acting_user", None)
    return run_until_done(engine.flow_run_request(flow=flow, trigger=Trigger.MANUAL, enqueue=False, **kwargs))


def run_until_done(run: Run) -> Run:
    while True:
        engine.run_execute(run_id=run.pk)
        run.refresh_from_db()
        if run.status != RunStatus.QUEUED:
            return run


def journal_lines(connection) -> list[dict]:
    outbox = connection_files_root(connection) / "outbox"
    lines = []
    for path in sorted(outbox.glob("journal-*")):
        text = path.read_text().splitlines()
        if path.suffix == ".jsonl":
            lines += [json.loads(line) for line in text]
        else:
            lines += list(csv.DictReader(text))
    return lines
