"""Every CSV Weft writes makes formula cells inert through one function, and leaves numbers as numbers."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.common.csvcells import csv_cell
from apps.connectors.services import connection_create, connection_files_root, connection_kind
from apps.reporting.exports import csv_lines
from apps.reporting.tables import Column, Table

FORMULAS = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+cmd|' /C calc'!A0", "@SUM(A1)", "-2+3+cmd|' /C calc'!A0",
            " =1+1", "   @SUM(A1)", "\t=1+1", "\r=1+1", "=1", "-", "+", "-1e5", "-12.50 EUR"]
NUMBERS = ["-12.50", "12.50", "+3", "-0.5", "-.5", "0", "1234567.891", " -7.25"]


@pytest.mark.parametrize("text", FORMULAS)
def test_a_cell_a_spreadsheet_would_run_gets_a_leading_apostrophe(text):
    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize("text", NUMBERS)
def test_a_plain_number_is_data_and_stays_as_it_is(text):
    assert csv_cell(text) == text


@pytest.mark.parametrize("text", ["Acme", "", "a=b", "ACME-042", "2026-11-02", "'quoted", "50% off"])
def test_ordinary_text_is_untouched(text):
    assert csv_cell(text) == text


def test_the_journal_export_neutralises_formulas_and_keeps_negative_amounts(in_alpha, settings, tmp_path):
    connection = connection_create(name="Journal", kind="csv", acting_user=None)
    kind = connection_kind(connection)
    payload = {"memo": "=HYPERLINK(\"http://evil.example\",\"x\")", "person": " =1+1", "project": "@SUM(A1)",
               "note": "+cmd|' /C calc'!A0", "amount": Decimal("-12.50"), "hours": "-1.5", "minutes": -90}
    kind.write("journal_export", payload, reference="te-1")

    name = f"journal-{timezone.localdate():%Y-%m-%d}.csv"
    [row] = list(csv.DictReader((connection_files_root(connection) / "outbox" / name).open()))
    assert row["memo"] == "'=HYPERLINK(\"http://evil.example\",\"x\")"
    assert row["person"] == "' =1+1" and row["project"] == "'@SUM(A1)" and row["note"] == "'+cmd|' /C calc'!A0"
    assert (row["amount"], row["hours"], row["minutes"]) == ("-12.50", "-1.5", "-90")
    assert row["reference"] == "te-1"


def test_report_csvs_use_the_shared_rule_for_leading_spaces_too():
    table = Table(columns=(Column("name", "Name", "text"), Column("amount", "Amount", "money")),
                  rows=[{"name": " =1+1", "amount": Decimal("-12.50")}, {"name": "@SUM(A1)", "amount": Decimal("3")}])
    rows = list(csv.reader(io.StringIO("".join(csv_lines(table)))))
    assert rows[1:] == [["' =1+1", "-12.50"], ["'@SUM(A1)", "3"]]


def test_every_module_that_writes_csv_uses_the_shared_rule():
    """A CSV writer added later must go through ``csv_cell`` too (the demo's seed files are Weft's own input)."""
    from pathlib import Path

    apps_dir = Path(__file__).resolve().parents[2] / "apps"
    writers = [p for p in apps_dir.rglob("*.py") if any(w in p.read_text() for w in ("csv.writer(", "csv.DictWriter("))]
    assert len(writers) >= 3, "the scan should find the exports"
    missing = [str(p.relative_to(apps_dir)) for p in writers
               if "csv_cell" not in p.read_text() and "demo" not in p.parts]
    assert not missing, f"CSV written without apps.common.csvcells.csv_cell: {missing}"
