"""CSV files for the engine tests: drop a time export in an inbox, read the journal export back."""

import csv
import json
from pathlib import Path

from apps.connectors.services import connection_files_root

HEADER = "id,person,project,date,hours,approval_status,notes\n"


def drop(connection, name: str, rows: str) -> Path:
    inbox = connection_files_root(connection) / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    path = inbox / name
    path.write_text(HEADER + rows)
    return path


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
