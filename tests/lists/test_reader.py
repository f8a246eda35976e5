"""The target-list file reader: format detection, streaming rows and the files it refuses."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import json
import os
import zipfile
from pathlib import Path

import openpyxl
import pytest

from phonebank.lists.reader import (
    FileFormat,
    ListFileError,
    detect_format,
    open_rows,
    preview,
)

HEADER = ["first_name", "last_name", "phone", "email"]
PEOPLE = [
    ["Ann", "Lee", "(555) 768-3292", "ann@example.org"],
    ["Bob", "Muñoz", "555-201-4477", "bob@example.org"],
    ["Cy", "O'Neil", "5553019988", "cy@example.org"],
]


def write(tmp_path, data: bytes | str, name: str = "upload") -> str:
    path = tmp_path / name
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return str(path)


def table(rows: list[list[str]], delimiter: str = ",", newline: str = "\n") -> str:
    return "".join(delimiter.join(row) + newline for row in rows)


def read_all(path: str, fmt: FileFormat | None = None) -> tuple[list[str] | None, list]:
    fmt = fmt or detect_format(path)
    with open_rows(path, fmt) as stream:
        return stream.header, list(stream)


def refused(path: str) -> str:
    with pytest.raises(ListFileError) as caught:
        detect_format(path)
    return str(caught.value)


# --- delimiters and layout -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("delimiter", "name"),
    [(",", "list.csv"), ("\t", "list.tsv"), (";", "list.txt"), ("|", "no_extension")],
)
def test_each_delimiter_is_detected_from_content(tmp_path, delimiter, name):
    path = write(tmp_path, table([HEADER, *PEOPLE], delimiter), name)

    fmt = detect_format(path)

    assert fmt == FileFormat("csv", "utf-8", delimiter, has_header=True)
    header, rows = read_all(path, fmt)
    assert header == HEADER
    assert rows == [(2, PEOPLE[0]), (3, PEOPLE[1]), (4, PEOPLE[2])]


def test_a_comma_named_file_that_is_really_tab_separated(tmp_path):
    path = write(tmp_path, table([HEADER, *PEOPLE], "\t"), "list.csv")
    assert detect_format(path).delimiter == "\t"


def test_tab_file_with_commas_inside_names_stays_tab_separated(tmp_path):
    rows = [["Lee, Ann", "5557683292", "FL"], ["Muñoz, Bob", "5552014477", "GA"]] * 5
    path = write(tmp_path, table([["name", "phone", "state"], *rows], "\t"))
    assert detect_format(path).delimiter == "\t"


def test_semicolon_file_with_decimal_commas(tmp_path):
    rows = [["name", "gift", "fee"], ["Ann", "12,50", "1,00"], ["Bob", "7,25", "0,50"]]
    path = write(tmp_path, table(rows, ";"))
    fmt = detect_format(path)
    assert fmt.delimiter == ";"
    assert read_all(path, fmt)[1][0] == (2, ["Ann", "12,50", "1,00"])


def test_crlf_line_endings(tmp_path):
    path = write(tmp_path, table([HEADER, *PEOPLE], newline="\r\n"))
    header, rows = read_all(path)
    assert header == HEADER
    assert rows[-1] == (4, PEOPLE[2])


def test_cr_only_line_endings(tmp_path):
    path = write(tmp_path, table([HEADER, *PEOPLE], newline="\r"))
    header, rows = read_all(path)
    assert header == HEADER
    assert [number for number, _ in rows] == [2, 3, 4]
    assert rows[0][1] == PEOPLE[0]


def test_quoted_delimiters_quotes_and_newlines_keep_record_numbers(tmp_path):
    text = (
        "name,phone,notes\r\n"
        'Ann,5557683292,"likes calls, evenings"\r\n'
        'Bob,5552014477,"line one\r\nline two\nline three"\r\n'
        'Cy,5553019988,"said ""call back"""\r\n'
    )
    path = write(tmp_path, text)

    header, rows = read_all(path)

    assert header == ["name", "phone", "notes"]
    assert rows == [
        (2, ["Ann", "5557683292", "likes calls, evenings"]),
        (3, ["Bob", "5552014477", "line one\r\nline two\nline three"]),
        (4, ["Cy", "5553019988", 'said "call back"']),
    ]


def test_blank_rows_are_skipped_but_counted(tmp_path):
    text = "\n\nname,phone\n5551230001,x\n\n ,  \n,\nBea,5551230002\n"
    path = write(tmp_path, text.replace("5551230001,x", "Ann,5551230001"))

    header, rows = read_all(path)

    assert header == ["name", "phone"]
    assert rows == [(4, ["Ann", "5551230001"]), (8, ["Bea", "5551230002"])]


def test_ragged_rows_are_padded_never_truncated(tmp_path):
    text = "first,last,phone\nAnn,Lee,5557683292\nBob\nCy,Ng,5553019988,extra,more\n"
    path = write(tmp_path, text)

    with open_rows(path, detect_format(path)) as stream:
        assert stream.width == 5  # the widest row in the sample
        rows = list(stream)

    assert rows == [
        (2, ["Ann", "Lee", "5557683292", "", ""]),
        (3, ["Bob", "", "", "", ""]),
        (4, ["Cy", "Ng", "5553019988", "extra", "more"]),
    ]


def test_cells_are_not_stripped_but_header_names_are(tmp_path):
    path = write(tmp_path, " first , phone \n Ann ,5557683292\n")
    header, rows = read_all(path)
    assert header == ["first", "phone"]
    assert rows == [(2, [" Ann ", "5557683292"])]


# --- header guess --------------------------------------------------------------------------


def test_florida_style_voter_file_without_header(tmp_path):
    rows = [
        ["DAD", "112233445", "Smith", "", "John", "A", "305", "5551234", "REP"],
        ["DAD", "112233446", "Garcia", "Jr", "Maria", "", "786", "5559876", "DEM"],
        ["BRO", "112233447", "Nguyen", "", "Linh", "T", "954", "5550001", "NPA"],
    ]
    path = write(tmp_path, table(rows, "\t", "\r\n"), "voters.txt")

    fmt = detect_format(path)

    assert fmt == FileFormat("csv", "utf-8", "\t", has_header=False)
    header, read = read_all(path, fmt)
    assert header is None
    assert read[0] == (1, rows[0])
    assert len(read) == 3


def test_header_less_file_without_phones_in_row_one(tmp_path):
    rows = [["Ann", "Lee", "12 Oak St", "33101"], ["Bob", "Ng", "9 Elm Ave", "33139"]] * 3
    path = write(tmp_path, table(rows))
    assert detect_format(path).has_header is False


def test_header_with_digits_in_names_is_still_a_header(tmp_path):
    rows = [["Name", "Phone 1", "Phone 2", "Address Line 1"]]
    rows += [["Ann", "5557683292", "5551112222", "12 Oak St"]] * 3
    path = write(tmp_path, table(rows))
    assert detect_format(path).has_header is True


def test_names_only_file_assumes_a_header(tmp_path):
    path = write(tmp_path, table([["first", "last"], ["Ann", "Lee"], ["Bob", "Muñoz"]]))
    fmt = detect_format(path)
    assert fmt.has_header is True
    assert fmt.delimiter == ","


def test_one_column_of_phones(tmp_path):
    path = write(tmp_path, "phone\n(555) 768-3292\n555-201-4477\n+1 555 301 9988\n")

    fmt = detect_format(path)

    assert fmt == FileFormat("csv", "utf-8", ",", has_header=True)
    with open_rows(path, fmt) as stream:
        assert stream.width == 1
        assert stream.header == ["phone"]
        assert list(stream)[0] == (2, ["(555) 768-3292"])


def test_one_column_of_phones_without_header(tmp_path):
    path = write(tmp_path, "5557683292\n5552014477\n")
    fmt = detect_format(path)
    assert fmt.has_header is False
    assert read_all(path, fmt)[1] == [(1, ["5557683292"]), (2, ["5552014477"])]


def test_staff_can_override_the_header_guess(tmp_path):
    path = write(tmp_path, table([HEADER, *PEOPLE]))
    fmt = FileFormat("csv", "utf-8", ",", has_header=False)
    header, rows = read_all(path, fmt)
    assert header is None
    assert rows[0] == (1, HEADER)


# --- encodings -----------------------------------------------------------------------------


def test_utf8_without_bom(tmp_path):
    path = write(tmp_path, table([HEADER, *PEOPLE]))
    assert detect_format(path).encoding == "utf-8"
    assert read_all(path)[1][1][1][1] == "Muñoz"


def test_utf8_with_bom_keeps_the_bom_out_of_the_header(tmp_path):
    path = write(tmp_path, codecs.BOM_UTF8 + table([HEADER, *PEOPLE]).encode())

    fmt = detect_format(path)

    assert fmt.encoding == "utf-8-sig"
    header, rows = read_all(path, fmt)
    assert header[0] == "first_name"
    assert rows[1][1][1] == "Muñoz"


@pytest.mark.parametrize(
    ("prefix", "codec", "expected"),
    [
        (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16"),
        (b"", "utf-16-le", "utf-16-le"),
    ],
)
def test_utf16(tmp_path, prefix, codec, expected):
    # Excel's "Unicode text" export: UTF-16, tab-separated, CRLF.
    text = table([HEADER, *PEOPLE], "\t", "\r\n")
    path = write(tmp_path, prefix + text.encode(codec))

    fmt = detect_format(path)

    assert (fmt.encoding, fmt.delimiter, fmt.has_header) == (expected, "\t", True)
    header, rows = read_all(path, fmt)
    assert header == HEADER
    assert rows[1] == (3, PEOPLE[1])


def test_cp1252(tmp_path):
    text = "name,phone,note\r\nMuñoz,5557683292,“call after 6”\r\nLee,5552014477,ok\r\n"
    path = write(tmp_path, text.encode("cp1252"))
    assert b"\x93" in Path(path).read_bytes()

    fmt = detect_format(path)

    assert fmt.encoding == "cp1252"
    assert read_all(path, fmt)[1][0] == (2, ["Muñoz", "5557683292", "“call after 6”"])


def test_bytes_undefined_in_cp1252_fall_back_to_latin1(tmp_path):
    path = write(tmp_path, b"name,phone\r\nMu\xf1oz\x81,5557683292\r\n")
    fmt = detect_format(path)
    assert fmt.encoding == "latin-1"
    assert read_all(path, fmt)[1] == [(2, ["Muñoz\x81", "5557683292"])]


def test_a_latin1_byte_late_in_a_big_file_is_found_up_front(tmp_path):
    row = "Ann,Lee,5557683292,ann@example.org\n"
    rows = (2 * 1024 * 1024) // len(row) + 10
    path = tmp_path / "big.csv"
    with open(path, "wb") as file:
        file.write(b"first,last,phone,email\n")
        file.write(row.encode() * rows)
        file.write("Bob,Muñoz,5552014477,bob@example.org\n".encode("latin-1"))

    fmt = detect_format(path)

    assert fmt.encoding == "cp1252"
    *_, last = read_all(str(path), fmt)[1]
    assert last == (rows + 2, ["Bob", "Muñoz", "5552014477", "bob@example.org"])


def test_utf8_bom_file_with_a_bad_byte_later_is_refused(tmp_path):
    data = codecs.BOM_UTF8 + b"name,phone\nAnn,5557683292\nMu\xf1oz,5552014477\n"
    message = refused(write(tmp_path, data))
    assert "line 3" in message
    assert "UTF-8" in message


def test_reading_with_the_wrong_encoding_names_the_line(tmp_path):
    path = write(tmp_path, "name,phone\nAnn,5557683292\nMuñoz,5552014477\n".encode("cp1252"))
    with pytest.raises(ListFileError, match="Line 3 has characters that can't be read as UTF-8"):
        read_all(path, FileFormat("csv", "utf-8", ","))


# --- xlsx ----------------------------------------------------------------------------------


def make_workbook(path, sheets: dict[str, list[list]]) -> str:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return str(path)


def test_xlsx_first_sheet_with_data_and_cell_values(tmp_path):
    path = make_workbook(
        tmp_path / "upload.bin",  # detected by content, not by name
        {
            "Notes": [],
            "Voters": [
                ["First", "Phone", "Mobile", "Born", "Called", "Active", "Score"],
                ["Ann", 5557683292, 5552014477.0, dt.date(1980, 5, 17), None, True, 2.5],
                [None, None, None, None, None, None, None],
                ["Bob", 5553019988, None, None, dt.datetime(2024, 1, 2, 13, 45), False, 3],
            ],
        },
    )

    fmt = detect_format(path)

    assert fmt == FileFormat("xlsx", has_header=True, sheet="Voters")
    assert fmt.describe() == "Excel workbook, sheet “Voters”, header row"
    with open_rows(path, fmt) as stream:
        assert stream.header == ["First", "Phone", "Mobile", "Born", "Called", "Active", "Score"]
        assert stream.width == 7
        rows = list(stream)
    assert rows == [
        (2, ["Ann", "5557683292", "5552014477", "1980-05-17", "", "TRUE", "2.5"]),
        (4, ["Bob", "5553019988", "", "", "2024-01-02 13:45:00", "FALSE", "3"]),
    ]


def test_xlsx_without_header_and_a_named_sheet(tmp_path):
    path = make_workbook(
        tmp_path / "book.xlsx",
        {"A": [["Ann", 5557683292], ["Bob", 5552014477]], "B": [["name"], ["Cy"]]},
    )
    fmt = detect_format(path)
    assert (fmt.sheet, fmt.has_header) == ("A", False)

    header, rows = preview(path, FileFormat("xlsx", sheet="B"))
    assert header == ["name"]
    assert rows == [["Cy"]]

    with pytest.raises(ListFileError, match="no sheet called"):
        open_rows(path, FileFormat("xlsx", sheet="Missing"))


def test_xlsx_with_only_empty_sheets_is_refused(tmp_path):
    path = make_workbook(tmp_path / "empty.xlsx", {"One": [], "Two": [[None, None]]})
    assert "empty" in refused(path)


def test_xlsx_with_only_a_header_row_is_refused(tmp_path):
    path = make_workbook(tmp_path / "header.xlsx", {"Sheet": [["first", "last", "phone"]]})
    assert refused(path) == "The file has a header row but no data rows."


def test_damaged_xlsx_is_refused(tmp_path):
    good = make_workbook(tmp_path / "good.xlsx", {"Sheet": [["a"], ["b"]]})
    data = Path(good).read_bytes()
    assert "damaged" in refused(write(tmp_path, data[: len(data) // 2], "cut.xlsx"))


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", codecs.BOM_UTF8, codecs.BOM_UTF16_LE, b"\r\n\n  \n\t\n", b",,,\n,,\n"],
    ids=["zero-bytes", "utf8-bom", "utf16-bom", "whitespace", "empty-cells"],
)
def test_empty_files_are_refused(tmp_path, data):
    assert refused(write(tmp_path, data)) == "The file is empty."


def test_header_only_file_is_refused(tmp_path):
    path = write(tmp_path, "first_name,last_name,phone\r\n\r\n")
    assert refused(path) == "The file has a header row but no data rows."


@pytest.mark.parametrize(
    "data",
    [
        os.urandom(4096),
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + bytes(range(256)),
        bytes(range(1, 32)) * 8,  # control characters, no NUL
    ],
    ids=["random", "png", "controls"],
)
def test_binary_files_are_refused(tmp_path, data):
    assert "isn't a CSV/TSV text file or an .xlsx workbook" in refused(write(tmp_path, data))


def test_a_nul_byte_late_in_a_text_file_is_refused_up_front(tmp_path):
    row = b"Ann,Lee,5557683292\r\n"
    data = b"first,last,phone\r\n" + row * 10_000 + b"Bob,N\x00g,5552014477\r\n"
    message = refused(write(tmp_path, data))
    assert message.startswith("Line 10002 has a NUL character")


def test_old_excel_xls_is_refused(tmp_path):
    path = write(tmp_path, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504), "list.xls")
    assert refused(path) == (
        "Excel 97–2003 (.xls) files can't be read: save the sheet as .xlsx or CSV and upload that."
    )


def test_zip_that_is_not_xlsx_is_refused(tmp_path):
    path = tmp_path / "list.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("voters.csv", "name,phone\nAnn,5557683292\n")
    assert "ZIP archive, not an Excel workbook" in refused(str(path))


def test_field_larger_than_the_limit_names_the_record(tmp_path):
    limit = max(csv.field_size_limit(), 10 * 1024 * 1024)
    text = 'name,notes\nAnn,ok\nBob,"never closed\n' + "x" * (limit + 10) + "\n"
    path = write(tmp_path, text)
    with pytest.raises(ListFileError, match="Record 3 has a field longer than"):
        read_all(path, FileFormat("csv", "utf-8", ","))


# --- preview, progress, FileFormat ---------------------------------------------------------


def test_preview_returns_the_header_and_first_rows(tmp_path):
    rows = [[f"Person {n}", f"555{n:07d}"] for n in range(50)]
    path = write(tmp_path, table([["name", "phone"], *rows]))

    header, first = preview(path, detect_format(path), rows=5)

    assert header == ["name", "phone"]
    assert first == rows[:5]
    assert preview(path, detect_format(path))[1] == rows[:10]


def test_progress_goes_from_zero_to_one(tmp_path):
    rows = [[f"Person {n}", f"555{n:07d}", f"p{n}@example.org"] for n in range(20_000)]
    path = write(tmp_path, table([["name", "phone", "email"], *rows]))

    seen = []
    with open_rows(path, detect_format(path)) as stream:
        assert stream.bytes_total == os.path.getsize(path)
        assert stream.progress() == 0.0
        for number, _ in stream:
            if number % 1000 == 0:
                seen.append(stream.progress())
        assert stream.progress() == 1.0

    assert seen == sorted(seen)
    assert 0.0 < seen[0] < 0.5 < seen[-1] <= 1.0


def test_file_format_round_trips_through_json():
    fmt = FileFormat("csv", "utf-8-sig", "\t", has_header=False)
    assert FileFormat.from_dict(json.loads(json.dumps(fmt.to_dict()))) == fmt
    xlsx = FileFormat("xlsx", sheet="Voters")
    assert FileFormat.from_dict(xlsx.to_dict()) == xlsx


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "csv", "encoding": "utf-8", "delimiter": ":"},
        {"kind": "csv", "encoding": "utf-8", "delimiter": ""},
        {"kind": "csv", "encoding": "klingon", "delimiter": ","},
        {"kind": "pdf"},
        {"kind": "csv", "encoding": "utf-8", "delimiter": ",", "has_header": "yes"},
        {"kind": "xlsx", "delimiter": ","},
        {"encoding": "utf-8"},
        "csv",
    ],
)
def test_from_dict_rejects_bad_values(data):
    with pytest.raises(ListFileError):
        FileFormat.from_dict(data)


def test_describe():
    assert (
        FileFormat("csv", "utf-8-sig", ",").describe()
        == "CSV, comma-separated, UTF-8 (with BOM), header row"
    )
    assert (
        FileFormat("csv", "cp1252", "\t", has_header=False).describe()
        == "Text, tab-separated, Windows-1252, no header row"
    )


# --- a big file ----------------------------------------------------------------------------


def test_streams_a_big_file(tmp_path):
    count = 200_000
    path = tmp_path / "big.csv"
    with open(path, "w", encoding="utf-8", newline="") as file:
        file.write("voter_id,first,last,phone,email,city,state,zip\r\n")
        for n in range(count):
            file.write(f'{n},Ann,"Lee, Jr",555{n:07d},a{n}@example.org,Miami,FL,33101\r\n')

    fmt = detect_format(path)
    assert fmt == FileFormat("csv", "utf-8", ",", has_header=True)
    rows, last = 0, None
    with open_rows(path, fmt) as stream:
        for record in stream:
            rows += 1
            last = record
    assert rows == count
    n = count - 1
    assert last == (
        count + 1,
        [str(n), "Ann", "Lee, Jr", f"555{n:07d}", f"a{n}@example.org", "Miami", "FL", "33101"],
    )
