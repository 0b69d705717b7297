"""The one rule for cells in every CSV Weft writes: text a spreadsheet would run as a formula is made inert.

Spreadsheets (Excel, LibreOffice, Google Sheets) treat a cell that begins with ``=``, ``+``, ``-`` or ``@``
as a formula, and a leading tab or carriage return can hide one; they also drop leading spaces when
reading, so ``" =1+1"`` runs too. Such a cell gets a leading apostrophe, the spreadsheet convention for
"this is text" (``=HYPERLINK(…)`` → ``'=HYPERLINK(…)``).

Numbers are data, not formulas: a cell that is a plain decimal number (``-12.50``, ``+3``, ``-0.5``) is
written as it is, because the journal export's amounts are imported by ERPs and a negative amount must stay
a negative amount. Anything more than a plain number (``-2+3``, ``-1e5``, ``-12.50 EUR``) is text and is
neutralised.
"""

from __future__ import annotations

import re

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")


def csv_cell(text: str) -> str:
    """``text`` as a cell no spreadsheet will evaluate (see the module's docstring for numbers)."""
    first = text.lstrip(" ")[:1]
    if first and first in FORMULA_STARTS and not _PLAIN_NUMBER.fullmatch(text.strip(" ")):
        return "'" + text
    return text
