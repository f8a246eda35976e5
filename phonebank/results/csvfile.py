"""CSV that spreadsheets open safely: formula-like cells neutralised, UTF-8 (with a byte-order
mark for Excel when asked).

OWASP's CSV-injection guidance: a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return can run as a formula in Excel, LibreOffice or Google Sheets; such a cell gets
a leading ``'``, which makes it plain text. Every CSV phonebank writes goes through here.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"


def safe_cell(value: Any) -> Any:
    """The cell as written: text that could run as a formula gets a leading ``'``."""
    if value.__class__ is str:
        return "'" + value if value and value[0] in _STARTS else value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return value
    return safe_cell(str(value))


_STARTS = frozenset(FORMULA_STARTS)


class CsvLines:
    """Rows to CSV text, a chunk at a time (for streaming responses and files)."""

    def __init__(self, newline: str = "\r\n"):
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator=newline)

    def rows(self, rows: Iterable[Iterable[Any]]) -> str:
        self.buffer.seek(0)
        self.buffer.truncate()
        for row in rows:
            self.writer.writerow([safe_cell(v) for v in row])
        return self.buffer.getvalue()


def stream(
    header: list[str], batches: Iterable[list[Iterable[Any]]], excel: bool = False
) -> Iterator[str]:
    """The header, then each batch of rows, as CSV text chunks."""
    lines = CsvLines()
    yield (BOM if excel else "") + lines.rows([header])
    for batch in batches:
        if batch:
            yield lines.rows(batch)
