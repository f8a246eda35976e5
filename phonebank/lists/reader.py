"""Read uploaded target lists: delimited text in any common encoding, or an .xlsx workbook.

Pure Python, no Flask, no database. ``detect_format`` looks at a file once and decides its
:class:`FileFormat` (kind, encoding, delimiter, whether row 1 is a header); staff may correct
the guess. ``open_rows`` then streams the data rows as lists of strings, never holding more than
a small sample of the file in memory, and ``preview`` shows the first few rows for the mapping
page. Every file phonebank refuses raises :class:`ListFileError` whose message is shown to staff
as is.

Detection runs on content, never on the file name: a ZIP with ``xl/workbook.xml`` is a workbook;
anything else must be text. The text encoding is settled over the whole file up front (UTF-8 is
checked to the last byte), so a stray Latin-1 byte near the end is found before an import starts
rather than halfway through it.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime, time, timedelta
from itertools import islice
from typing import Any, BinaryIO

import openpyxl

Records = Generator[tuple[int, list[str]], None, None]


class ListFileError(ValueError):
    """A file phonebank cannot read; the message is shown to staff as is and says what to do."""


ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "cp1252", "latin-1")
DELIMITERS = (",", "\t", ";", "|")  # also the tie-break order of delimiter detection
KINDS = ("csv", "xlsx")

ENCODING_NAMES = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 (with BOM)",
    "utf-16": "UTF-16",
    "utf-16-le": "UTF-16 LE (no BOM)",
    "utf-16-be": "UTF-16 BE (no BOM)",
    "cp1252": "Windows-1252",
    "latin-1": "Latin-1",
}
DELIMITER_NAMES = {
    ",": "CSV, comma-separated",
    "\t": "Text, tab-separated",
    ";": "Text, semicolon-separated",
    "|": "Text, pipe-separated",
}

HEAD_BYTES = 64 * 1024  # raw bytes looked at for signatures and binary content
SCAN_BLOCK = 1024 * 1024  # whole-file encoding scan block
SAMPLE_CHARS = 64 * 1024  # text sample for delimiter and header detection...
MAX_SAMPLE_CHARS = 4 * 1024 * 1024  # ...grown up to this when its records are few or blank
SAMPLE_MIN_LINES = 20
SAMPLE_ROWS = 1000  # rows read ahead by open_rows to settle the width (and xlsx detection)
HEADER_ROWS = 200  # rows compared with row 1 to guess whether it is a header
FIELD_LIMIT = 10 * 1024 * 1024

OLE2_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
CP1252_UNDEFINED = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")

CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
DATE = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")
BLANK_TEXT = " \t\r\n,;|\"'"  # a sample made of only these characters has no data yet

EMPTY_FILE = "The file is empty."
HEADER_ONLY = "The file has a header row but no data rows."
NOT_A_LIST = (
    "This file isn't a CSV/TSV text file or an .xlsx workbook. Export the list as CSV "
    "(or save it from Excel as .xlsx) and upload that."
)
XLS_FILE = (
    "Excel 97–2003 (.xls) files can't be read: save the sheet as .xlsx or CSV and upload that."
)
BAD_WORKBOOK = (
    "This Excel workbook can't be opened: it may be damaged or password-protected. Open it in "
    "Excel, save it again as .xlsx (or CSV) and upload that."
)


@dataclass(frozen=True)
class FileFormat:
    """How to read one uploaded file; ``detect_format`` guesses it and staff may correct it."""

    kind: str  # "csv" (any delimited text) or "xlsx"
    encoding: str = ""  # Python codec used to read ("" for xlsx)
    delimiter: str = ""  # one of DELIMITERS ("" for xlsx)
    has_header: bool = True  # a guess; staff may override it
    sheet: str = ""  # xlsx: name of the sheet read (the first sheet with data)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> FileFormat:
        if not isinstance(data, dict):
            raise ListFileError("The file settings are missing; upload the file again.")
        values = {field.name: data[field.name] for field in fields(cls) if field.name in data}
        fmt = cls(**values) if "kind" in values else cls(kind="")
        fmt.validate()
        return fmt

    def validate(self) -> None:
        """Raise ListFileError unless these settings can be used to read a file."""
        if self.kind not in KINDS:
            raise ListFileError(f"Unknown file type {self.kind!r}: choose CSV or Excel.")
        if not isinstance(self.has_header, bool):
            raise ListFileError("Say whether the first row is a header row (yes or no).")
        if not isinstance(self.sheet, str):
            raise ListFileError("The sheet name must be text.")
        if self.kind == "xlsx":
            if self.encoding or self.delimiter:
                raise ListFileError("Excel workbooks have no text encoding or delimiter.")
            return
        if self.encoding not in ENCODINGS:
            raise ListFileError(f"Unknown text encoding {self.encoding!r}.")
        if self.delimiter not in DELIMITERS:
            raise ListFileError(
                f"Unknown delimiter {self.delimiter!r}: use comma, tab, semicolon or pipe."
            )

    def describe(self) -> str:
        header = "header row" if self.has_header else "no header row"
        if self.kind == "xlsx":
            return f"Excel workbook, sheet “{self.sheet}”, {header}"
        kind = DELIMITER_NAMES.get(self.delimiter, f"Text separated by {self.delimiter!r}")
        encoding = ENCODING_NAMES.get(self.encoding, self.encoding)
        return f"{kind}, {encoding}, {header}"


# --- detection -----------------------------------------------------------------------------


def detect_format(path: str | os.PathLike) -> FileFormat:
    """Look at the file and decide kind, encoding, delimiter and whether row 1 is a header."""
    path = os.fspath(path)
    with open(path, "rb") as file:
        head = file.read(HEAD_BYTES)
    if not head:
        raise ListFileError(EMPTY_FILE)
    if head.startswith(OLE2_SIGNATURE):
        raise ListFileError(XLS_FILE)
    if head.startswith(ZIP_SIGNATURES):
        return _detect_xlsx(path)

    encoding = _detect_encoding(path, head)
    text, complete = _read_sample(path, encoding)
    if len(CONTROL_CHARS.findall(text)) > len(text) / 10:
        raise ListFileError(NOT_A_LIST)
    delimiter, rows = _detect_delimiter(text, complete)
    if not rows:
        if complete:
            raise ListFileError(EMPTY_FILE)
        raise ListFileError(
            "The first 4 MB of the file have no data: delete the blank lines at the top of the "
            "file and upload it again."
        )
    has_header = _guess_header(rows[:HEADER_ROWS])
    if has_header and len(rows) == 1 and complete:
        raise ListFileError(HEADER_ONLY)
    return FileFormat("csv", encoding=encoding, delimiter=delimiter, has_header=has_header)


def _detect_encoding(path: str, head: bytes) -> str:
    """The codec that reads the whole file, or ListFileError when it is not text."""
    if head.startswith(codecs.BOM_UTF8):
        _require_utf8(path)
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = _utf16_without_bom(head[:4096])
    if encoding:
        if _first_decode_error(path, encoding) is not None:
            raise ListFileError(NOT_A_LIST)
        return encoding
    if b"\0" in head:
        raise ListFileError(NOT_A_LIST)
    return _eight_bit_encoding(path)


def _utf16_without_bom(head: bytes) -> str:
    """UTF-16 text without a BOM shows as NUL high bytes in every other position."""
    even, odd = head[0::2], head[1::2]
    if len(odd) < 2:
        return ""
    even_nuls, odd_nuls = even.count(0) / len(even), odd.count(0) / len(odd)
    if odd_nuls > 0.4 and even_nuls < 0.05:
        return "utf-16-le"
    if even_nuls > 0.4 and odd_nuls < 0.05:
        return "utf-16-be"
    return ""


def _eight_bit_encoding(path: str) -> str:
    """UTF-8 when every byte of the file decodes as UTF-8, else cp1252 when it can, else latin-1.

    Also refuses a NUL byte anywhere: the database can't store one, so an import would fail on it.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8 = cp1252 = True
    lines = 0
    with open(path, "rb") as file:
        while block := file.read(SCAN_BLOCK):
            if b"\0" in block:
                line = lines + _line_breaks(block[: block.index(b"\0")]) + 1
                raise ListFileError(
                    f"Line {line} has a NUL character (a zero byte), so this isn't a plain text "
                    "file. Open it in a spreadsheet, save it again as CSV and upload that."
                )
            lines += _line_breaks(block)
            if cp1252 and any(byte in block for byte in CP1252_UNDEFINED):
                cp1252 = False
            if utf8:
                try:
                    decoder.decode(block)
                except UnicodeDecodeError:
                    utf8 = False
        if utf8:
            try:
                decoder.decode(b"", final=True)  # a multi-byte character cut off at the end
            except UnicodeDecodeError:
                utf8 = False
    if utf8:
        return "utf-8"
    return "cp1252" if cp1252 else "latin-1"


def _first_decode_error(path: str, encoding: str) -> int | None:
    """The line (1-based, roughly) of the first bytes that don't decode, or None."""
    decoder = codecs.getincrementaldecoder(encoding)()
    lines = 0
    with open(path, "rb") as file:
        while True:
            block = file.read(SCAN_BLOCK)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                return lines + _line_breaks(block[: max(exc.start, 0)]) + 1
            if not block:
                return None
            lines += _line_breaks(block)


def _line_breaks(data: bytes) -> int:
    return data.count(b"\n") or data.count(b"\r")  # CR-only files have no LF at all


def _require_utf8(path: str) -> None:
    line = _first_decode_error(path, "utf-8")  # not -sig: error offsets must count the BOM
    if line is not None:
        raise ListFileError(
            f"The file is marked as UTF-8 but has characters near line {line} that aren't UTF-8. "
            "Open it in Excel or Google Sheets, save it again as “CSV UTF-8” and upload that."
        )


def _read_sample(path: str, encoding: str) -> tuple[str, bool]:
    """The start of the file as text, and whether that is the whole file.

    Grown past SAMPLE_CHARS when it holds too few lines (very wide records) or nothing but blank
    lines, so detection always sees some records.
    """
    with open(path, encoding=encoding, newline="") as file:
        text = file.read(SAMPLE_CHARS)
        if len(text) < SAMPLE_CHARS:
            return text, True
        while len(text) < MAX_SAMPLE_CHARS and (
            text.count("\n") + text.count("\r") < SAMPLE_MIN_LINES or not text.strip(BLANK_TEXT)
        ):
            wanted = len(text)
            more = file.read(wanted)
            text += more
            if len(more) < wanted:
                return text, True
        return text, not file.read(1)


def _sample_rows(text: str, delimiter: str, complete: bool) -> list[list[str]]:
    """The non-blank records of the sample; the last one is dropped when it may be cut off."""
    rows = []
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            rows.append(row)
    except csv.Error:
        complete = False  # keep the records read before the bad one
    if not complete and rows:
        rows.pop()
    return [row for row in rows if not _blank(row)]


def _detect_delimiter(text: str, complete: bool) -> tuple[str, list[list[str]]]:
    """The delimiter giving the most consistent column count > 1, and the sample rows it gives.

    Ties go to more columns (a tab file whose name column holds "Smith, John" splits into fewer
    columns on commas), then to the order of DELIMITERS. No such delimiter means one column.
    """
    best: tuple[float, int, int] | None = None
    chosen, chosen_rows = ",", None
    for preference, delimiter in enumerate(DELIMITERS):
        rows = _sample_rows(text, delimiter, complete)
        if not rows:
            return ",", rows
        width, count = Counter(len(row) for row in rows).most_common(1)[0]
        score = (count / len(rows), width, -preference)
        if width > 1 and (best is None or score > best):
            best, chosen, chosen_rows = score, delimiter, rows
    if chosen_rows is None:
        chosen_rows = _sample_rows(text, ",", complete)
    return chosen, chosen_rows


def _blank(cells: list[str]) -> bool:
    return not "".join(cells).strip()


# --- header guess --------------------------------------------------------------------------


def _looks_like_data(cell: str) -> bool:
    """A phone or id (7+ digits), an email address or a date: never a column name."""
    return sum(ch.isdigit() for ch in cell) >= 7 or bool(EMAIL.search(cell) or DATE.search(cell))


def _cell_class(cell: str) -> str:
    """The kind of a cell: blank "", "at" (an email-ish cell), "num" (mostly digits) or "word"."""
    cell = cell.strip()
    if not cell:
        return ""
    if "@" in cell:
        return "at"
    digits = sum(ch.isdigit() for ch in cell)
    letters = sum(ch.isalpha() for ch in cell)
    return "num" if digits and digits >= letters else "word"


def _guess_header(rows: list[list[str]]) -> bool:
    """Whether the first of these (non-blank) rows is a header row.

    Not when any of its cells looks like data. Otherwise compare it column by column with the
    rows below: a column where row 1 is of a different kind than most of the data (a word over
    numbers, say) is a vote for a header; one where row 1 has numbers or addresses like the data
    is a vote against. Without votes, as in a names-only file, assume a header.
    """
    first, others = rows[0], rows[1:]
    if any(_looks_like_data(cell) for cell in first):
        return False
    header_votes = data_votes = 0
    for column, cell in enumerate(first):
        mine = _cell_class(cell)
        below = Counter(_cell_class(row[column]) for row in others if column < len(row))
        below.pop("", None)
        if not mine or not below:
            continue
        kind, count = below.most_common(1)[0]
        if kind != mine and count >= 0.7 * sum(below.values()):
            header_votes += 1
        elif kind == mine and kind != "word":
            data_votes += 1
    return header_votes >= data_votes


# --- xlsx ----------------------------------------------------------------------------------


class _Workbook:
    """An openpyxl read-only workbook opened from content (any file name), closed on exit."""

    def __init__(self, path: str) -> None:
        self._file: BinaryIO = open(path, "rb")
        try:
            with zipfile.ZipFile(self._file) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            self._file.close()
            raise ListFileError(
                "The file looks like a ZIP archive or Excel workbook but is damaged or "
                "incomplete. Save it again as .xlsx or CSV and upload that."
            ) from exc
        if "xl/workbook.xml" not in names:
            self._file.close()
            raise ListFileError(_zip_message(names))
        try:
            self._file.seek(0)
            # Real-world workbooks make openpyxl warn about styles and extensions it skips.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.book = openpyxl.load_workbook(self._file, read_only=True, data_only=True)
        except Exception as exc:
            self._file.close()
            raise ListFileError(BAD_WORKBOOK) from exc

    def close(self) -> None:
        self.book.close()
        self._file.close()

    def __enter__(self) -> _Workbook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _zip_message(names: set[str]) -> str:
    if "xl/workbook.bin" in names:
        return "Excel binary (.xlsb) workbooks can't be read: save the sheet as .xlsx or CSV."
    if "content.xml" in names:
        return "OpenDocument (.ods) spreadsheets can't be read: save the sheet as .xlsx or CSV."
    return (
        "This is a ZIP archive, not an Excel workbook. Unzip it and upload the CSV or .xlsx "
        "file inside."
    )


def _cell_text(value: Any) -> str:
    """An xlsx cell value as the text staff see in Excel (phones stored as numbers stay digits)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        if value.time() == time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value)


def _xlsx_records(sheet: Any, seen: list[int] | None = None) -> Records:
    """(row number, cells) for every non-blank row; trailing empty cells are dropped.

    ``seen[0]`` follows the number of the last row read, for progress.
    """
    seen = [0] if seen is None else seen
    number = 0
    try:
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            seen[0] = number
            cells = [_cell_text(value) for value in values]
            while cells and not cells[-1].strip():
                cells.pop()
            if cells:
                yield number, cells
    except Exception as exc:
        raise ListFileError(
            f"Row {number + 1} of the workbook can't be read: the file may be damaged. Open it "
            "in Excel, save it again as .xlsx or CSV and upload that."
        ) from exc


def _first_rows(records: Records, limit: int) -> list[list[str]]:
    rows = []
    for _, cells in records:
        rows.append(cells)
        if len(rows) >= limit:
            break
    return rows


def _detect_xlsx(path: str) -> FileFormat:
    with _Workbook(path) as workbook:
        for sheet in workbook.book.worksheets:
            rows = _sheet_rows(sheet, HEADER_ROWS)
            if rows:
                break
        else:
            raise ListFileError("The workbook is empty: none of its sheets has any data.")
    has_header = _guess_header(rows)
    if has_header and len(rows) == 1:
        raise ListFileError(HEADER_ONLY)
    return FileFormat("xlsx", has_header=has_header, sheet=sheet.title)


# --- streaming rows ------------------------------------------------------------------------


class RowStream:
    """The data rows of one file, streamed; use as a context manager and iterate once.

    ``open_rows`` reads the header and up to SAMPLE_ROWS records ahead to settle ``width``; rows
    narrower than that are padded with "".
    """

    header: list[str] | None  # the header cells, stripped, when the format has a header row
    width: int  # columns: the widest of the header and the rows read ahead (at least 1)
    bytes_total: int  # file size

    def __init__(
        self,
        records: Records,
        has_header: bool,
        bytes_total: int,
        position: Callable[[], float],
        close: Callable[[], None],
    ) -> None:
        self.bytes_total = bytes_total
        self._position = position
        self._close = close
        self._progress = 0.0
        self._live = False
        self._done = False
        try:
            self.header = None
            if has_header:
                first = next(records, None)
                self.header = [cell.strip() for cell in first[1]] if first else []
            self._ahead = [(number, cells, position()) for number, cells in _take(records)]
        except BaseException:
            records.close()
            close()
            raise
        widths = [len(cells) for _, cells, _ in self._ahead]
        self.width = max([len(self.header or ()), *widths, 1])
        self._records = records
        self._rows = self._generate()

    def _generate(self) -> Records:
        width, pad = self.width, [""] * self.width
        for number, cells, position in self._ahead:
            self._progress = position
            if len(cells) < width:
                cells.extend(pad[len(cells) :])
            yield number, cells
        self._ahead = []
        self._live = True
        for number, cells in self._records:
            if len(cells) < width:
                cells.extend(pad[len(cells) :])
            yield number, cells
        self._done = True

    def progress(self) -> float:
        """Fraction 0..1 of the file consumed so far (bytes for text, rows for workbooks)."""
        if self._done:
            return 1.0
        if self._live:
            try:
                self._progress = self._position()
            except ValueError:  # closed
                pass
        return min(max(self._progress, 0.0), 1.0)

    def __iter__(self) -> Records:
        return self._rows

    def __next__(self) -> tuple[int, list[str]]:
        return next(self._rows)

    def close(self) -> None:
        self._rows.close()
        self._records.close()
        self._close()

    def __enter__(self) -> RowStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _take(records: Records) -> Records:
    """The first records of a stream: SAMPLE_ROWS of them or about SAMPLE_CHARS of text."""
    chars = 0
    for count, (number, cells) in enumerate(records, start=1):
        yield number, cells
        chars += sum(map(len, cells))
        if count >= SAMPLE_ROWS or chars >= SAMPLE_CHARS:
            return


def _allow_big_fields() -> None:
    # Only ever raise the process-wide limit, so other csv users never see it shrink.
    if csv.field_size_limit() < FIELD_LIMIT:
        csv.field_size_limit(FIELD_LIMIT)


def _csv_records(file: io.TextIOWrapper, delimiter: str) -> Records:
    """(record number, cells) for every non-blank record; blank ones still count."""
    record = 0
    try:
        for cells in csv.reader(file, delimiter=delimiter):
            record += 1
            if cells and "".join(cells).strip():
                yield record, cells
    except csv.Error as exc:
        if "field limit" in str(exc):
            raise ListFileError(
                f"Record {record + 1} has a field longer than {csv.field_size_limit() // 2**20} "
                "MB, which usually means a quote mark that is never closed. Fix that record and "
                "upload the file again."
            ) from exc
        raise ListFileError(
            f"Record {record + 1} can't be read ({exc}). Fix that record and upload the file again."
        ) from exc
    except UnicodeDecodeError as exc:
        # Text is decoded a block ahead of the records, so find the line by scanning the bytes.
        line = _first_decode_error(file.name, file.encoding) or record + 1
        name = ENCODING_NAMES.get(file.encoding, file.encoding)
        raise ListFileError(
            f"Line {line} has characters that can't be read as {name}: choose another encoding "
            "or upload the file again."
        ) from exc


def _open_csv(path: str, fmt: FileFormat, size: int) -> RowStream:
    _allow_big_fields()
    file = open(path, encoding=fmt.encoding, newline="")
    raw = file.buffer

    def position() -> float:
        return raw.tell() / size if size else 1.0

    records = _csv_records(file, fmt.delimiter)
    return RowStream(records, fmt.has_header, size, position, file.close)


def _open_xlsx(path: str, fmt: FileFormat, size: int) -> RowStream:
    workbook = _Workbook(path)
    # The sizes the sheets declare, before they are reset; used only for progress.
    declared = {sheet.title: sheet.max_row or 0 for sheet in workbook.book.worksheets}
    try:
        sheet = _choose_sheet(workbook.book, fmt.sheet)
    except BaseException:
        workbook.close()
        raise
    rows_total = declared[sheet.title]
    sheet.reset_dimensions()
    seen = [0]

    def position() -> float:
        return seen[0] / rows_total if rows_total else 0.0

    records = _xlsx_records(sheet, seen)
    return RowStream(records, fmt.has_header, size, position, workbook.close)


def _choose_sheet(book: Any, name: str) -> Any:
    """The sheet called ``name``, or without a name the first sheet with data."""
    sheets = {sheet.title: sheet for sheet in book.worksheets}
    if name:
        if name not in sheets:
            raise ListFileError(f"The workbook has no sheet called “{name}”.")
        return sheets[name]
    for sheet in book.worksheets:
        if _sheet_rows(sheet, 1):
            return sheet
    raise ListFileError("The workbook is empty: none of its sheets has any data.")


def _sheet_rows(sheet: Any, limit: int) -> list[list[str]]:
    """The first non-blank rows of a sheet."""
    sheet.reset_dimensions()  # exporters often declare a wrong size; read what is there
    return _first_rows(_xlsx_records(sheet), limit)


def open_rows(path: str | os.PathLike, fmt: FileFormat) -> RowStream:
    """Stream the data rows of a file read as ``fmt`` (see RowStream); close it when done."""
    fmt.validate()
    path = os.fspath(path)
    size = os.path.getsize(path)
    if fmt.kind == "xlsx":
        return _open_xlsx(path, fmt, size)
    return _open_csv(path, fmt, size)


def preview(
    path: str | os.PathLike, fmt: FileFormat, rows: int = 10
) -> tuple[list[str] | None, list[list[str]]]:
    """The header (or None) and the first `rows` data rows, for the mapping page."""
    with open_rows(path, fmt) as stream:
        first = [cells for _, cells in islice(stream, max(rows, 0))]
        return stream.header, first
