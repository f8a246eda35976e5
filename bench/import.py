"""The list-import benchmark: a million-row VAN-style file into PostgreSQL, end to end.

Generates a deterministic NGP VAN-style CSV export (three phone columns, ~35 % of the phone
cells unusable, ~5 % of the rows repeating an earlier person), re-creates a PostgreSQL
database, migrates it with ``flask db upgrade``, creates a campaign, and imports the file
through the real code path, as a subprocess::

    flask --app phonebank.wsgi lists import FILE --campaign ID --region US --json

While the import runs, the RSS of the import process (and its children, recursively) and of
every PostgreSQL backend serving the bench database is sampled every 0.1 s. At the end it
prints rows per second, peak memory per process, CPU seconds, the import's report and counts
queried from the database. See bench/README.md.

    .venv/bin/python bench/import.py                                  # 1,000,000 rows
    .venv/bin/python bench/import.py --rows 100000                    # smaller
    .venv/bin/python bench/import.py --generate-only --rows 100000    # just write the file

The file (``bench/out/van-1m.csv`` for the default size) is reused when it exists with the
same rows and seed (a ``.json`` sidecar holds the parameters) unless ``--regenerate``. The
database (``phonebank_bench`` by default) is dropped and re-created at the start of every run
and left in place afterwards for inspection.
"""

from __future__ import annotations

import argparse
import csv
import ctypes
import json
import os
import random
import re
import resource
import secrets
import signal
import subprocess
import sys
import threading
import time
import unicodedata
from collections import Counter, deque
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = REPO_ROOT / "bench" / "out"
UPLOAD_DIR = OUT_DIR / "uploads"  # PHONEBANK_UPLOAD_DIR of the import
DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/phonebank_bench"
TARGET_ROWS_PER_S = 30_000
TARGET_PEAK_MB = 300
MB = 1024 * 1024
GENERATOR_VERSION = 3  # bump when the generated file changes for the same rows and seed

HEADER = [
    "VanID", "FirstName", "LastName", "Address", "City", "State", "ZipOrPostal", "Email",
    "HomePhone", "CellPhone", "WorkPhone", "IsHomePhoneACellExchange", "Party",
]  # fmt: skip
PHONE_COLUMNS = ("HomePhone", "CellPhone", "WorkPhone")
PHONE_FILL = (0.85, 0.60, 0.20)  # share of rows with a HomePhone, CellPhone, WorkPhone
UNUSABLE_SHARE = 0.35  # of the non-empty phone cells (what the file ends up with)
# Per freshly drawn cell a little more: repeat rows prefer to keep a usable number and some
# CellPhones repeat a usable HomePhone, which would pull the share down to ~34 %.
CELL_UNUSABLE = 0.36
REPEAT_SHARE = 0.05  # of the rows: an earlier person again, later in the file
EMAIL_SHARE = 0.40
SAME_NUMBER_SHARE = 0.05  # of rows with both: CellPhone is the HomePhone again, another format
CHECK_EVERY = 25  # check every 25th phone cell with phonenumbers while generating
STATES = set(
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH "
    "NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY".split()
)

FIRST_NAMES = """
James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David Barbara Richard
Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty
Anthony Margaret Mark Sandra Donald Ashley Steven Kimberly Paul Emily Andrew Donna Joshua
Michelle Kenneth Carol Kevin Amanda Brian Dorothy George Melissa Timothy Deborah Ronald
Stephanie Edward Rebecca Jason Sharon Jeffrey Laura Ryan Cynthia Jacob Kathleen Gary Amy
Nicholas Angela Eric Shirley Jonathan Anna Stephen Brenda Larry Pamela Justin Emma Scott Nicole
Brandon Helen Benjamin Samantha Samuel Katherine Gregory Christine Alexander Debra Frank Rachel
Patrick Carolyn Raymond Janet Jack Catherine Dennis Maria Jerry Heather Tyler Diane Aaron Ruth
Jose Julie Adam Olivia Nathan Joyce Henry Virginia Douglas Victoria Zachary Kelly Peter Lauren
Kyle Christina Noah Joan Ethan Evelyn Jeremy Judith Walter Megan Christian Andrea Keith Cheryl
Roger Hannah Terry Jacqueline Austin Martha Sean Gloria Gerald Teresa Carl Ann Harold Sara
Dylan Madison Arthur Frances Lawrence Kathryn Jordan Janice Jesse Jean Bryan Abigail Billy
Alice Bruce Judy Gabriel Sophia Joe Grace Logan Denise Alan Amber Juan Doris Albert Marilyn
Willie Danielle Elijah Beverly Wayne Isabella Randy Theresa Vincent Diana Mason Natalie Roy
Brittany Ralph Charlotte Bobby Marie Russell Kayla Bradley Alexis Philip Lori Eugene Tamika
DeShawn Latoya Jamal Keisha Tyrone Ebony Darnell Aaliyah Malik Imani Andre Jasmine Terrell
José María Sofía Lucía Zoë Renée André Chloé Inés Jesús Ramón Héctor Raúl Óscar Adrián Joaquín
Martín Nicolás Sebastián Valentín Germán Rubén Iván Tomás Mónica Verónica Beatriz Araceli
Guadalupe Ximena Itzel Ángel Efraín Noé Darío Fabián Julián Citlali Dolores Consuelo Maribel
Hoa Minh Thu Linh Wei Jing Hiroshi Yuki Aiko Kenji Priya Arjun Rohan Anika Deepa Sanjay Fatima
Aisha Omar Yusuf Amara Kwame Chidi Ngozi Oluwaseun Tariq Layla Mariam Hana Jae-won Min-jun
Seo-yeon Dmitri Olga Anastasia Björn Søren Zoltán Łukasz Ewa François Hélène Gaël Noël Anaïs
Mary-Kate Jean-Luc Ana Luis Carlos Miguel Jorge Pedro Rosa Carmen Elena Isabel Teresa Alejandro
""".split()
LAST_NAMES = """
Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez
Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris
Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill
Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips
Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers
Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson
Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders
Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell Coleman Butler
Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan Patterson Alexander Hamilton
Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant Herrera Gibson Ellis Tran Medina
Aguilar Stevens Murray Ford Castro Marshall Owens Harrison Fernandez McDonald Woods Washington
Kennedy Wells Vargas Henry Chen Freeman Webb Tucker Guzman Burns Crawford Olson Simpson Porter
Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon Hunt Hicks Holmes Palmer Wagner Black
Robertson Boyd Rose Stone Salazar Fox Warren Mills Meyer Rice Schmidt Garza Daniels Ferguson
Nichols Stephens Soto Weaver Ryan Gardner Payne Grant Dunn Kelley Spencer Hawkins Arnold Pierce
Hansen Peters Santos Hart Bradley Knight Elliott Cunningham Duncan Armstrong Hudson Carroll Lane
Riley Andrews Alvarado Ray Delgado Berry Perkins Hoffman Johnston Matthews Richards Contreras
Willis Carpenter Lawrence Sandoval Muñoz Peña Núñez Gómez Hernández Rodríguez Martínez González
Pérez Sánchez Ramírez Díaz Gutiérrez Jiménez Vásquez Álvarez Fernández Méndez Domínguez Ibáñez
Castañeda Ordóñez Briceño Muñiz Müller Schröder Šimić Nováková Øvergaard Lefèvre Côté Gagné
Bélanger Pelletier O'Brien O'Connor D'Angelo McAllister Smith-Jones García-López Nguyễn Trần
Phạm Wang Li Zhang Liu Yamamoto Tanaka Sato Okafor Adeyemi Mensah Khan Ahmed Hussain Singh
Sharma Gupta Kaur Kowalski Wiśniewski Ivanov Petrov Rossi Russo Esposito Byrne Walsh Doyle
""".split()
STREETS = (
    """
Oak Maple Pine Cedar Elm Main Park Washington Lake Hill Walnut Spring North Ridge Church Willow
Mill Sunset Highland Jackson Cherry Lincoln River Forest Meadow Chestnut Franklin Center Broad
Market Union Adams Jefferson Madison Dogwood Birch Spruce Magnolia Hickory Sycamore Valley
Lakeview Orchard Prospect School Water Bridge Front Railroad Depot Poplar Laurel Aspen Juniper
""".split()
    + ["Martin Luther King Jr", "Old Mill", "Country Club", "Cottonwood Creek"]
)
SUFFIXES = "St St St Ave Ave Rd Dr Ln Blvd Ct Way Pl Ter Cir Pkwy Hwy".split()
UNITS = ["Apt {n}", "Apt {n}B", "Unit {n}", "#{n}", "Ste {n}"]
PARTIES = ("D", "R", "U", "G", "L")
PARTY_WEIGHTS = (40, 35, 20, 3, 2)
TEXT_JUNK = [
    "n/a", "N/A", "unknown", "Unknown", "none", "refused", "no phone", "?", "-", "555-CALL-NOW",
    "1-800-FLOWERS-NOW", "wrong number", "xxx-xxx-xxxx", "000-000-0000", "0", "see notes",
    "(000) 000-0000", "TBD",
]  # fmt: skip
# Kinds of unusable cells, by weight (every one is checked with phonenumbers on a sample).
JUNK_KINDS = [
    ("too short (7 digits)", 22),
    ("too long", 14),
    ("letters / placeholder", 20),
    ("area code starting 0 or 1", 14),
    ("area code 555", 10),
    ("area code not in service", 10),
    ("exchange starting 0 or 1", 10),
]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM if this process dies (Linux), so nothing is left."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


# --- the file ------------------------------------------------------------------------------


def default_file(rows: int) -> Path:
    label = (
        f"{rows // 1_000_000}m"
        if rows % 1_000_000 == 0
        else f"{rows // 1000}k"
        if rows % 1000 == 0
        else str(rows)
    )
    return OUT_DIR / f"van-{label}.csv"


def sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def ascii_fold(name: str) -> str:
    """Lower-case ASCII letters of a name, for e-mail addresses ("Muñoz" -> "munoz")."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]", "", text.lower().replace("ø", "o").replace("ł", "l"))


def fmt_phone(style: int, d: str) -> str:
    """Ten digits in one of six ways: 5557683292, (555) 768-3292, 555-768-3292, 555.768.3292,
    +1 555 768 3292, 1-555-768-3292."""
    if style == 0:
        return d
    if style == 1:
        return f"({d[:3]}) {d[3:6]}-{d[6:]}"
    if style == 2:
        return f"{d[:3]}-{d[3:6]}-{d[6:]}"
    if style == 3:
        return f"{d[:3]}.{d[3:6]}.{d[6:]}"
    if style == 4:
        return f"+1 {d[:3]} {d[3:6]} {d[6:]}"
    return f"1-{d[:3]}-{d[3:6]}-{d[6:]}"


def nanp_area_codes(candidates: set[str]) -> tuple[set[str], list[str]]:
    """(the candidates where every number with a 2-9 exchange not ending in 11 is valid for
    region US, area codes that are valid nowhere in the North American plan).

    Checked with phonenumbers' own metadata patterns, exhaustively over the exchanges (a few
    line numbers each), which takes well under a second where parsing would take minutes.
    """
    from phonenumbers import PhoneMetadata
    from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

    def pattern(region: str) -> str:
        meta = PhoneMetadata.metadata_for_region(region)
        kinds = [
            desc.national_number_pattern
            for desc in (meta.fixed_line, meta.mobile, meta.toll_free, meta.premium_rate,
                         meta.shared_cost, meta.personal_number, meta.voip, meta.pager,
                         meta.uan, meta.voicemail)
            if desc is not None and desc.national_number_pattern
        ]  # fmt: skip
        return f"(?=(?:{meta.general_desc.national_number_pattern})$)(?:{'|'.join(kinds)})"

    us = re.compile(pattern("US")).fullmatch
    anywhere = re.compile("|".join(f"(?:{pattern(r)})" for r in COUNTRY_CODE_TO_REGION_CODE[1]))
    lines = ("0000", "5555", "9999")
    exchanges = [str(e) for e in range(200, 1000) if e % 100 != 11]
    us_ok = {a for a in candidates if all(us(f"{a}{e}{x}") for e in exchanges for x in lines)}
    # NANPA never assigns N11, 37X and 96X; 950, 958, 976, 999 and 555 are not in service.
    reserved = [f"{d}11" for d in range(2, 10)] + [f"37{d}" for d in range(10)]
    reserved += [f"96{d}" for d in range(10)] + ["950", "958", "976", "999", "555"]
    all_lines = ("0000", "1000", "2000", "3000", "4000", "5000", "6000", "7000", "8000", "9000",
                 "0999", "5555", "9999")  # fmt: skip
    unused = [
        a
        for a in reserved
        if not any(anywhere.fullmatch(f"{a}{e:03d}{x}") for e in range(1000) for x in all_lines)
    ]
    return us_ok, unused


def load_zips() -> tuple[list[tuple[str, str, str, tuple[str, ...]]], list[str]]:
    """(zip, city, state, local area codes) of active STANDARD ZIP codes in the 50 states + DC,
    keeping the area codes valid for US numbers (border ZIPs list Canadian ones too); and the
    area codes not in service anywhere in the North American plan."""
    import zipcodes

    zips = [
        z
        for z in zipcodes.list_all()
        if z["active"] and z["zip_code_type"] == "STANDARD" and z["state"] in STATES
    ]
    us_ok, unused = nanp_area_codes({a for z in zips for a in z["area_codes"]})
    out = []
    for z in zips:
        codes = tuple(a for a in z["area_codes"] if a in us_ok)
        if codes:
            out.append((z["zip_code"], z["city"], z["state"], codes))
    return out, unused


class Generator:
    """Writes the file row by row; everything comes from one seeded random.Random."""

    def __init__(self, rows: int, seed: int):
        import phonenumbers

        self.pn = phonenumbers
        self.rows, self.seed = rows, seed
        self.rng = random.Random(seed)
        self.zips, unused = load_zips()
        self.unused_areas = [a for a in unused if a != "555"]
        self.firsts = [(n, ascii_fold(n) or "x") for n in FIRST_NAMES]
        self.lasts = [(n, ascii_fold(n) or "x") for n in LAST_NAMES]
        self.exchanges = [str(e) for e in range(200, 1000) if e % 100 != 11]
        self.junk_kinds = [k for k, _ in JUNK_KINDS]
        self.junk_weights = [w for _, w in JUNK_KINDS]
        self.stats: Counter = Counter()
        self.check: Counter = Counter()  # the phonenumbers sample
        self.mistakes: list[str] = []
        self.cells_seen = 0

    # phone cells: (text, 10 national digits when usable else "")
    def valid_number(self, areas: tuple[str, ...]) -> str:
        r = self.rng
        return f"{r.choice(areas)}{r.choice(self.exchanges)}{r.randrange(10_000):04d}"

    def junk(self, areas: tuple[str, ...]) -> str:
        r = self.rng
        kind = r.choices(self.junk_kinds, self.junk_weights)[0]
        self.stats[f"unusable: {kind}"] += 1
        ex, line = r.choice(self.exchanges), f"{r.randrange(10_000):04d}"
        if kind == "too short (7 digits)":
            if ex[0] == "3":  # 3XX-XXXX is a valid 7-digit US number to phonenumbers
                ex = str(int(ex) + 100)
            return f"{ex}-{line}" if r.random() < 0.6 else f"{ex}{line}"
        if kind == "too long":
            extra = "".join(r.choices("0123456789", k=r.randint(1, 4)))
            d = f"{r.choice(areas)}{ex}{line}{extra}"
            return d if r.random() < 0.5 else f"{d[:3]}-{d[3:6]}-{d[6:]}"
        if kind == "letters / placeholder":
            return r.choice(TEXT_JUNK)
        if kind == "area code starting 0 or 1":
            area = f"{r.randrange(2)}{r.randrange(100):02d}"
            if area == "011":  # the international prefix: 011 352... is a valid foreign number
                area = "010"
        elif kind == "area code 555":
            area = "555"
        elif kind == "area code not in service":
            area = r.choice(self.unused_areas)
        else:  # exchange starting 0 or 1
            area, ex = r.choice(areas), f"{r.randrange(2)}{r.randrange(100):02d}"
        return fmt_phone(r.randrange(4), f"{area}{ex}{line}")

    def cell(self, areas: tuple[str, ...]) -> tuple[str, str]:
        if self.rng.random() < CELL_UNUSABLE:
            return self.junk(areas), ""
        d = self.valid_number(areas)
        return fmt_phone(self.rng.randrange(6), d), d

    def checked(self, text: str, digits: str) -> None:
        """Every CHECK_EVERY-th non-empty cell: does phonenumbers agree with what we meant?"""
        self.cells_seen += 1
        if digits:
            self.stats["usable cells"] += 1
        else:
            self.stats["unusable cells"] += 1
        if self.cells_seen % CHECK_EVERY:
            return
        pn = self.pn
        try:
            n = pn.parse(text, "US")
            valid_us = pn.is_valid_number_for_region(n, "US")
            valid_any = pn.is_valid_number(n)
        except pn.NumberParseException:
            valid_us = valid_any = False
        self.check["checked"] += 1
        if not valid_any:
            self.check["invalid"] += 1
        if digits and not valid_us:
            self.check["meant valid, phonenumbers says not valid in US"] += 1
            self.mistakes.append(text)
        if not digits and valid_any:
            self.check["meant unusable, phonenumbers says valid"] += 1
            self.mistakes.append(text)

    def plan_repeats(self) -> dict[int, int]:
        """Row index -> index of the earlier person (among unique people) it repeats."""
        r = random.Random(self.seed * 1_000_003 + 7)
        plan, unique = {}, 0
        for i in range(self.rows):
            if unique >= 10 and r.random() < REPEAT_SHARE:
                plan[i] = r.randrange(unique)
            else:
                unique += 1
        return plan

    def write(self, path: Path) -> dict:
        r = self.rng
        plan = self.plan_repeats()
        wanted = set(plan.values())
        kept: dict[int, tuple] = {}  # person index -> (row, phones) for those repeated later
        firsts, lasts, zips, streets = self.firsts, self.lasts, self.zips, STREETS
        person, vanid = 0, 100_000 + r.randrange(900_000)
        pending: set[int] = set()  # repeated people whose first row has no usable phone
        stats = self.stats
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            out = csv.writer(f, lineterminator="\r\n")
            out.writerow(HEADER)
            batch = []
            for i in range(self.rows):
                source = plan.get(i)
                if source is not None:
                    row, usable = self.repeat_row(*kept[source])
                    stats["repeat rows"] += 1
                    if usable and source in pending:
                        pending.discard(source)
                        stats["people with an importable row"] += 1
                else:
                    vanid += r.randint(1, 9)
                    first, fkey = r.choice(firsts)
                    last, lkey = r.choice(lasts)
                    zip5, city, state, areas = r.choice(zips)
                    address = f"{r.randint(1, 9999)} {r.choice(streets)} {r.choice(SUFFIXES)}"
                    if r.random() < 0.08:
                        address += " " + r.choice(UNITS).format(n=r.randint(1, 40))
                    if r.random() < 0.3:
                        zip5 = f"{zip5}-{r.randrange(1, 10_000):04d}"
                    email = ""
                    if r.random() < EMAIL_SHARE:
                        # unique per person: the importer matches people by e-mail too
                        email = f"{fkey}.{lkey}{person}@example.org"
                    phones = []
                    for fill in PHONE_FILL:
                        phones.append(self.cell(areas) if r.random() < fill else ("", ""))
                    home, cell = phones[0], phones[1]
                    if home[1] and cell[0] and r.random() < SAME_NUMBER_SHARE:
                        phones[1] = (fmt_phone(r.randrange(6), home[1]), home[1])
                        stats["rows with CellPhone = HomePhone"] += 1
                    is_cell = ""
                    if phones[0][0]:
                        x = r.random()
                        is_cell = "1" if x < 0.2 else "0" if x < 0.9 else ""
                    party = r.choices(PARTIES, PARTY_WEIGHTS)[0]
                    row = [str(vanid), first, last, address, city, state, zip5, email,
                           phones[0][0], phones[1][0], phones[2][0], is_cell, party]  # fmt: skip
                    if person in wanted:
                        kept[person] = (row, phones, areas)
                    stats["people"] += 1
                    if self.count_row(phones):
                        stats["people with an importable row"] += 1
                    elif person in wanted:
                        pending.add(person)
                    person += 1
                    if row[7]:
                        stats["rows with email"] += 1
                batch.append(row)
                if len(batch) >= 10_000:
                    out.writerows(batch)
                    batch = []
            out.writerows(batch)
        tmp.replace(path)
        return dict(stats)

    def count_row(self, phones: list[tuple[str, str]]) -> bool:
        """Count the row's cells; True when it has a usable number (so it is importable)."""
        stats = self.stats
        usable = set()
        for name, (text, digits) in zip(PHONE_COLUMNS, phones, strict=True):
            if text:
                stats[f"{name} filled"] += 1
                self.checked(text, digits)
                if digits:
                    if digits in usable:
                        stats["same number twice in a row"] += 1
                    usable.add(digits)
        if not usable:
            stats["rows without a usable phone"] += 1
        stats["distinct usable numbers per row (sum)"] += len(usable)
        return bool(usable)

    def repeat_row(self, row: list[str], phones: list[tuple[str, str]], areas):
        """The same person again: same VanID and names, one same phone (possibly written
        another way), and sometimes a different second phone. (row, has a usable number)"""
        r, stats = self.rng, self.stats
        new = list(row)
        filled = [i for i, (text, _) in enumerate(phones) if text]
        usable = [i for i in filled if phones[i][1]]
        out: list[tuple[str, str]] = [("", ""), ("", ""), ("", "")]
        if filled:
            keep = r.choice(usable) if usable else r.choice(filled)
            text, digits = phones[keep]
            if digits and r.random() < 0.5:
                text = fmt_phone(r.randrange(6), digits)
            out[keep] = (text, digits)
            if digits:
                stats[K_REPEAT_KEPT] += 1
            others = [i for i in range(3) if i != keep]
        else:
            others = [0, 1, 2]
        if r.random() < 0.5 or not filled:
            slot = r.choice(others)
            out[slot] = self.cell(areas)
            stats["repeat rows: with a different phone"] += 1
        for i in range(3):
            new[8 + i] = out[i][0]
        if not out[0][0]:
            new[11] = ""
        if r.random() < 0.5:
            new[7] = ""  # e-mail left out this time
        return new, self.count_row(out)


def generate(path: Path, rows: int, seed: int) -> dict:
    t = time.monotonic()
    log(f"generating {rows:,} rows (seed {seed}) into {path}")
    gen = Generator(rows, seed)
    stats = gen.write(path)
    seconds = time.monotonic() - t
    info = {
        **versions(),
        "rows": rows,
        "seed": seed,
        "bytes": path.stat().st_size,
        "generation_s": round(seconds, 2),
        "stats": stats,
        "phonenumbers_check": dict(gen.check),
        "check_mistakes": gen.mistakes[:20],
    }
    sidecar(path).write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n")
    return info


def versions() -> dict:
    """What the file depends on besides rows and seed; a change means a new file."""
    import phonenumbers
    import zipcodes

    return {
        "generator": GENERATOR_VERSION,
        "phonenumbers": phonenumbers.__version__,
        "zipcodes": getattr(zipcodes, "__version__", "?"),
    }


def reusable(path: Path, rows: int, seed: int) -> dict | None:
    try:
        info = json.loads(sidecar(path).read_text())
    except (OSError, ValueError):
        return None
    wanted = {**versions(), "rows": rows, "seed": seed}
    same = all(info.get(k) == v for k, v in wanted.items())
    if same and path.exists() and path.stat().st_size == info.get("bytes"):
        return info
    return None


def describe_file(path: Path, info: dict, reused: bool) -> list[str]:
    s, c = info["stats"], info["phonenumbers_check"]
    rows = info["rows"]
    cells = s.get("usable cells", 0) + s.get("unusable cells", 0)
    kinds = {k.split(": ", 1)[1]: v for k, v in s.items() if k.startswith("unusable: ")}

    def pct(n, d):
        return f"{100 * n / d:.1f} %" if d else "n/a"

    phones_expected = expected_counts(info)["phones"]

    when = "reused (generated earlier in" if reused else "generated in"
    lines = [
        f"file: {path} — {rows:,} rows, {info['bytes'] / MB:.1f} MB, "
        f"{when} {info['generation_s']:.1f} s{')' if reused else ''}, seed {info['seed']}",
        f"    people (distinct VanIDs) {s.get('people', 0):,}; repeated-person rows "
        f"{s.get('repeat rows', 0):,} ({pct(s.get('repeat rows', 0), rows)} of the rows)",
        "    phone cells filled: "
        + ", ".join(f"{n} {pct(s.get(f'{n} filled', 0), rows)}" for n in PHONE_COLUMNS)
        + f"; {cells:,} in all",
        f"    unusable phone cells (as generated): {s.get('unusable cells', 0):,} = "
        f"{pct(s.get('unusable cells', 0), cells)} of the non-empty cells (aim "
        f"{UNUSABLE_SHARE:.0%}) — " + ", ".join(f"{k} {v:,}" for k, v in kinds.items()),
        f"    checked with phonenumbers (every {CHECK_EVERY}th cell, parse(text, 'US')): "
        f"{c.get('checked', 0):,} cells, {pct(c.get('invalid', 0), c.get('checked', 0))} not "
        f"valid; meant valid but not valid in US: "
        f"{c.get('meant valid, phonenumbers says not valid in US', 0)}, meant unusable but "
        f"valid: {c.get('meant unusable, phonenumbers says valid', 0)}",
        f"    rows without a usable phone {s.get('rows without a usable phone', 0):,} "
        f"({pct(s.get('rows without a usable phone', 0), rows)}); rows with e-mail "
        f"{pct(s.get('rows with email', 0), s.get('people', 0))} of first appearances; "
        f"CellPhone = HomePhone (another format) {s.get('rows with CellPhone = HomePhone', 0):,}"
        f"; repeat rows keeping a usable number {s.get(K_REPEAT_KEPT, 0):,}",
        f"    so a correct import should find about: {s.get('usable cells', 0):,} valid and "
        f"{s.get('unusable cells', 0):,} invalid phone cells, "
        f"{s.get('same number twice in a row', 0) + s.get(K_REPEAT_KEPT, 0):,} repeated "
        f"numbers of the same person, {s.get('rows without a usable phone', 0):,} rows "
        f"without a usable phone (rejects); and keep {s.get(K_PEOPLE_OK, 0):,} people (a "
        f"row with a usable phone) with {phones_expected:,} phones",
    ]
    if info.get("check_mistakes"):
        lines.append(f"    MISMATCHES (sample): {info['check_mistakes']}")
    return lines


K_REPEAT_KEPT = "repeat rows: kept phone usable (duplicate number)"
K_PEOPLE_OK = "people with an importable row"


# --- the database and the app --------------------------------------------------------------


def conninfo(url: str, database: str | None = None) -> str:
    """A libpq URL (for psycopg) from a SQLAlchemy one, optionally for another database."""
    parts = urlsplit(re.sub(r"^postgres(?:ql)?(?:\+\w+)?://", "postgresql://", url))
    path = f"/{database}" if database is not None else parts.path
    return urlunsplit(parts._replace(path=path))


def database_name(url: str) -> str:
    name = urlsplit(url).path.lstrip("/")
    if not name:
        raise SystemExit(f"--database-url names no database: {url}")
    return name


def recreate_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    name = database_name(url)
    with psycopg.connect(conninfo(url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def flask_command() -> list[str]:
    for candidate in (Path(sys.executable).parent / "flask", REPO_ROOT / ".venv" / "bin" / "flask"):
        if candidate.exists():
            return [str(candidate)]
    return [sys.executable, "-m", "flask"]


def python_command() -> str:
    venv = REPO_ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def app_env(url: str) -> dict[str, str]:
    """As bench/volunteers.py starts the app: production settings, a random secret; uploaded
    lists go to bench/out/uploads (emptied each run: the database that named them is gone)."""
    UPLOAD_DIR.mkdir(parents=True, exist_ok=True)
    for old in UPLOAD_DIR.iterdir():
        if old.is_file():
            old.unlink()
    return {
        **os.environ,
        "PHONEBANK_ENV": "production",
        "PHONEBANK_SECRET_KEY": secrets.token_urlsafe(48),
        "PHONEBANK_DATABASE_URL": url,
        "PHONEBANK_PUBLIC_URL": "http://127.0.0.1",
        "PHONEBANK_UPLOAD_DIR": str(UPLOAD_DIR),
    }


CREATE_CAMPAIGN = """
import sys
from phonebank import create_app
from phonebank.campaigns.services import create_campaign
from phonebank.extensions import db

app = create_app()
with app.app_context():
    campaign = create_campaign(sys.argv[1])
    db.session.commit()
    print(campaign.id)
"""


def run_step(what: str, cmd: list[str], env: dict[str, str], timeout: float = 300):
    t = time.monotonic()
    done = subprocess.run(
        cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise SystemExit(
            f"{what} failed (exit {done.returncode}): {' '.join(cmd[:6])} ...\n"
            + "\n".join((done.stderr or done.stdout).splitlines()[-30:])
        )
    return done, time.monotonic() - t


# --- watching the import -------------------------------------------------------------------


class Tracked:
    __slots__ = ("label", "proc", "peak_rss", "peak_private", "cpu", "cpu_base", "alive")

    def __init__(self, label: str, proc, cpu_base: float):
        self.label, self.proc, self.cpu_base = label, proc, cpu_base
        self.peak_rss = self.peak_private = 0
        self.cpu = cpu_base
        self.alive = True


class Monitor(threading.Thread):
    """Every ``interval`` s: RSS and CPU of the import process, its children (recursively) and
    the PostgreSQL backends of the bench database (found in pg_stat_activity every second)."""

    def __init__(self, admin_conninfo: str, database: str):
        """Connects (to the 'postgres' database, so this connection is not one of the bench
        database's backends) and notes the backends that exist before the import starts:
        only their CPU from now on counts; backends started later count from birth."""
        super().__init__(name="monitor", daemon=True)
        import psutil
        import psycopg

        self.psutil = psutil
        self.database = database
        self.interval, self.pg_interval = 0.1, 1.0
        self.tracked: dict[int, Tracked] = {}
        self.pg_pids: set[int] = set()
        self.peak_sum = self.peak_sum_import = self.peak_sum_pg = 0
        self.samples = 0
        self.stopping = threading.Event()
        self.error: str | None = None
        self.root = None
        self.root_pid = -1
        self.conn = psycopg.connect(admin_conninfo, autocommit=True)
        self.before = {pid for pid, _ in self.backends()}

    def backends(self) -> list[tuple[int, str]]:
        return self.conn.execute(
            "SELECT pid, backend_type FROM pg_stat_activity WHERE datname = %s",
            (self.database,),
        ).fetchall()

    def watch(self, root_pid: int) -> None:
        """The import process (just started); then start sampling."""
        self.root_pid = root_pid
        try:
            self.root = self.psutil.Process(root_pid)
            self.tracked[root_pid] = Tracked("import (flask lists import)", self.root, 0.0)
        except self.psutil.Error:
            self.root = None
        self.start()

    def run(self) -> None:
        next_pg = 0.0
        try:
            while True:
                now = time.monotonic()
                if now >= next_pg:
                    self.poll_pg()
                    next_pg = now + self.pg_interval
                self.sample()
                if self.stopping.wait(self.interval):
                    break
        except Exception as exc:  # noqa: BLE001 - reported, not fatal
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.conn.close()

    def poll_pg(self) -> None:
        for pid, backend_type in self.backends():
            self.pg_pids.add(pid)
            if pid in self.tracked:
                continue
            kind = "" if backend_type in (None, "client backend") else f" ({backend_type})"
            self.add(pid, f"postgres backend pid {pid}{kind}", pid in self.before)

    def add(self, pid: int, label: str, count_from_now: bool = False) -> None:
        psutil = self.psutil
        try:
            proc = psutil.Process(pid)
            base = 0.0
            if count_from_now:  # CPU it used before the import started is not the import's
                t = proc.cpu_times()
                base = t.user + t.system
        except psutil.Error:
            return
        self.tracked[pid] = Tracked(label, proc, base)

    def sample(self) -> None:
        psutil = self.psutil
        if self.root is not None:
            try:
                children = self.root.children(recursive=True)
            except psutil.Error:
                children = []
            for child in children:
                if child.pid not in self.tracked:
                    try:
                        text = " ".join(child.cmdline())[:50] or child.name()
                    except psutil.Error:
                        text = "?"
                    self.add(child.pid, f"import child: {text} (pid {child.pid})")
        total = total_import = total_pg = 0
        for pid, t in self.tracked.items():
            if not t.alive:
                continue
            try:
                with t.proc.oneshot():
                    mem = t.proc.memory_info()
                    cpu = t.proc.cpu_times()
            except psutil.Error:
                t.alive = False
                continue
            rss = mem.rss
            t.peak_rss = max(t.peak_rss, rss)
            t.peak_private = max(t.peak_private, rss - getattr(mem, "shared", 0))
            t.cpu = cpu.user + cpu.system
            if pid == self.root_pid:
                t.cpu += cpu.children_user + cpu.children_system
            total += rss
            if pid in self.pg_pids:
                total_pg += rss
            else:
                total_import += rss
        self.peak_sum = max(self.peak_sum, total)
        self.peak_sum_import = max(self.peak_sum_import, total_import)
        self.peak_sum_pg = max(self.peak_sum_pg, total_pg)
        self.samples += 1

    def pg_cpu(self) -> float:
        return sum(t.cpu - t.cpu_base for p, t in self.tracked.items() if p in self.pg_pids)


def run_import(args, path: Path, campaign_id: int, env: dict[str, str]) -> dict:
    import psutil

    cmd = [
        *flask_command(), "--app", "phonebank.wsgi", "lists", "import", str(path),
        "--campaign", str(campaign_id), "--region", args.region, "--json",
    ]  # fmt: skip
    log("import: " + " ".join(cmd))
    stdout_lines: list[str] = []
    stderr_tail: deque[str] = deque(maxlen=40)

    def pump(stream, sink, echo: bool) -> None:
        for line in stream:
            sink.append(line.rstrip("\n"))
            if echo:
                print(f"  | {line.rstrip()}", file=sys.stderr, flush=True)

    monitor = Monitor(conninfo(args.database_url, "postgres"), database_name(args.database_url))
    machine0 = psutil.cpu_times()
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
        preexec_fn=_die_with_parent,
    )
    monitor.watch(proc.pid)
    readers = [
        threading.Thread(target=pump, args=(proc.stdout, stdout_lines, False), daemon=True),
        threading.Thread(target=pump, args=(proc.stderr, stderr_tail, True), daemon=True),
    ]
    for reader in readers:
        reader.start()
    timed_out = False
    try:
        proc.wait(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        log(f"import still running after {args.timeout:g} s; stopping it")
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    wall = time.monotonic() - t0
    usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    machine1 = psutil.cpu_times()
    time.sleep(0.2)  # one more sample of the backends as the connection closes
    monitor.stopping.set()
    monitor.join(timeout=5)
    for reader in readers:
        reader.join(timeout=5)

    def busy(t) -> float:
        return t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0.0)

    return {
        "cmd": cmd,
        "returncode": proc.returncode,
        "timed_out": timed_out,
        "wall_s": wall,
        "stdout": stdout_lines,
        "stderr_tail": list(stderr_tail),
        "import_cpu_s": (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime),
        "machine_cpu_s": busy(machine1) - busy(machine0),
        "monitor": monitor,
    }


def parse_report(lines: list[str]) -> dict | None:
    text = "\n".join(lines).strip()
    try:
        value = json.loads(text)
        return value if isinstance(value, dict) else None
    except ValueError:
        pass
    for line in reversed(lines):
        if line.strip().startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return None


def expected_counts(info: dict) -> dict[str, int]:
    """What a correct import of this file leaves in a fresh database (no do-not-call data):
    everyone with a usable phone once, with each distinct usable number once, on the list."""
    s = info["stats"]
    people = s.get(K_PEOPLE_OK, 0)
    return {
        "people": people,
        "phones": s.get("distinct usable numbers per row (sum)", 0) - s.get(K_REPEAT_KEPT, 0),
        "external_ids": people,
        "campaign_targets": people,
        "list_rejects": s.get("rows without a usable phone", 0),
    }


def database_counts(url: str, campaign_id: int, expected: dict) -> list[tuple[str, str]]:
    """Rows in the tables an import writes, beside what the file implies; missing tables are
    noted, not an error."""
    import psycopg

    out = []
    with psycopg.connect(conninfo(url), autocommit=True) as conn:

        def exists(table: str) -> bool:
            return conn.execute("SELECT to_regclass(%s)", (f"public.{table}",)).fetchone()[0]

        queries = [
            ("people", "SELECT count(*) FROM people"),
            ("phones", "SELECT count(*) FROM phones"),
            ("external_ids", "SELECT count(*) FROM external_ids"),
            ("campaign_targets", "SELECT count(*) FROM campaign_targets WHERE campaign_id = %s"),
            ("list_rejects", "SELECT count(*) FROM list_rejects"),
        ]
        others = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "AND table_name LIKE 'list%%' AND table_name <> 'list_rejects' ORDER BY 1"
        ).fetchall()
        queries += [(t, f'SELECT count(*) FROM "{t}"') for (t,) in others]
        for table, query in queries:
            if not exists(table):
                out.append((table, "(no such table; skipped)"))
                continue
            params = (campaign_id,) if "%s" in query else ()
            n = conn.execute(query, params).fetchone()[0]
            label = f"{table} (campaign {campaign_id})" if table == "campaign_targets" else table
            text = f"{n:>12,}"
            if table in expected:
                same = "same" if n == expected[table] else "DIFFERENT"
                text = f"{text}   file implies {expected[table]:,}: {same}"
            out.append((label, text))
        if exists("phones"):
            by = conn.execute("SELECT type::text, count(*) FROM phones GROUP BY 1 ORDER BY 1")
            out.append(("phones by type", ", ".join(f"{t} {n:,}" for t, n in by) or "-"))
        if exists("lists"):
            for lid, status, error in conn.execute(
                "SELECT id, status::text, left(error, 200) FROM lists ORDER BY id"
            ):
                out.append((f"list {lid}", status + (f" — {error}" if error else "")))
    return out


# --- main ----------------------------------------------------------------------------------


def met(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def run(args, path: Path, info: dict) -> int:
    url = args.database_url
    name = database_name(url)
    t = time.monotonic()
    recreate_database(url)
    log(f"database {name} re-created; migrating (flask db upgrade)")
    env = app_env(url)
    _, migrate_s = run_step("flask db upgrade", [*flask_command(), "--app", "phonebank.wsgi",
                            "db", "upgrade"], env)  # fmt: skip
    created, campaign_s = run_step(
        "creating the campaign",
        [python_command(), "-c", CREATE_CAMPAIGN, f"List import bench ({path.name})"],
        env,
    )
    campaign_id = int(created.stdout.strip().splitlines()[-1])
    setup_s = time.monotonic() - t
    log(f"campaign {campaign_id} created; set-up {setup_s:.1f} s (migrations {migrate_s:.1f} s)")

    result = run_import(args, path, campaign_id, env)
    mon: Monitor = result["monitor"]
    rows, wall = info["rows"], result["wall_s"]
    lines = ["", "=" * 78, f"phonebank list-import benchmark — {time.strftime('%Y-%m-%d %H:%M')}",
             "=" * 78]  # fmt: skip
    lines += describe_file(path, info, info.get("_reused", False))
    lines.append(f"database: {conninfo(url)} (re-created; set-up {setup_s:.1f} s, campaign "
                 f"{campaign_id}); command: {' '.join(result['cmd'])}")  # fmt: skip
    if result["returncode"] != 0 or result["timed_out"]:
        tail = result["stderr_tail"][-25:] or result["stdout"][-10:]
        why = "timed out" if result["timed_out"] else f"exited with {result['returncode']}"
        hint = ""
        if any("No such command 'lists'" in line or "No such command" in line for line in tail):
            hint = ("\nThe `flask lists import` command does not exist (yet): the list importer "
                    "is not in this checkout.")  # fmt: skip
        lines += ["", f"IMPORT FAILED: the import command {why} after {wall:.1f} s.{hint}",
                  "Last lines of its stderr:", *(f"    {x}" for x in tail)]  # fmt: skip
        print("\n".join(lines))
        return 1
    report = parse_report(result["stdout"])
    rate = rows / wall if wall else 0.0
    pg_cpu = mon.pg_cpu()
    lines += [
        "",
        f"import wall time: {wall:.1f} s (launching the subprocess to its exit)",
        f"rows/s end to end: {rate:,.0f} (file rows {rows:,} / wall time); target "
        f">= {TARGET_ROWS_PER_S:,} rows/s: {met(rate >= TARGET_ROWS_PER_S)}",
        "",
        f"peak RSS (sampled every {mon.interval:g} s, {mon.samples} samples; target < "
        f"{TARGET_PEAK_MB} MB per process):",
    ]
    tracked = sorted(mon.tracked.values(), key=lambda t: (t.label.startswith("postgres"), t.label))
    width = max((len(t.label) for t in tracked), default=0)
    for t in tracked:
        lines.append(
            f"    {t.label:<{width}} {t.peak_rss / MB:7.1f} MB  (private "
            f"{t.peak_private / MB:6.1f} MB)  {met(t.peak_rss < TARGET_PEAK_MB * MB)}"
        )
    lines += [
        f"    sum of all at the same sample: {mon.peak_sum / MB:.1f} MB (import processes "
        f"{mon.peak_sum_import / MB:.1f} MB, PostgreSQL backends {mon.peak_sum_pg / MB:.1f} MB)",
        "    (a backend's RSS counts the shared-buffer pages it touched; 'private' = RSS − "
        "shared; backends living under 1 s may be missed)",
        f"    per-process target: {met(all(t.peak_rss < TARGET_PEAK_MB * MB for t in mon.tracked.values()))}",  # noqa: E501
        f"    this benchmark process (generator + sampler, not part of the import): "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB max RSS",
        "",
        f"CPU seconds (user+sys): import process with its children "
        f"{result['import_cpu_s']:.1f} s, PostgreSQL backends {pg_cpu:.1f} s "
        f"({(result['import_cpu_s'] + pg_cpu) / wall:.2f} cores over the import)",
        f"    whole machine busy {result['machine_cpu_s']:.1f} s of {os.cpu_count()} × "
        f"{wall:.1f} s, of which other processes "
        f"{max(0.0, result['machine_cpu_s'] - result['import_cpu_s'] - pg_cpu):.1f} s",
    ]
    if mon.error:
        lines.append(f"monitor stopped early: {mon.error}")
    lines.append("")
    if report is None:
        lines.append("report: no JSON object on the import's stdout; its last lines:")
        lines += [f"    {x}" for x in result["stdout"][-10:]]
    else:
        lines.append("report (the import's --json output):")
        for key, value in report.items():
            text = (
                f"{value:,}" if isinstance(value, int) and not isinstance(value, bool)
                else json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list)
                else str(value)
            )  # fmt: skip
            lines.append(f"    {key:<24} {text}")
    lines += ["", "database after the import:"]
    try:
        counts = database_counts(url, campaign_id, expected_counts(info))
        lines += [f"    {k:<30} {v}" for k, v in counts]
    except Exception as exc:  # noqa: BLE001 - the figures above still stand
        lines.append(f"    could not count: {type(exc).__name__}: {exc}")
    lines.append(f"(database {name} left in place for inspection)")
    lines.append("=" * 78)
    print("\n".join(lines))
    return 0


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Generate a VAN-style list and import it through the real code path "
        "(see bench/README.md)."
    )
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--file", default=None, help="the CSV to write or reuse (default "
                   "bench/out/van-1m.csv for 1,000,000 rows, van-100k.csv, ...)")  # fmt: skip
    p.add_argument("--regenerate", action="store_true", help="write the file even if one with "
                   "the same rows and seed exists")  # fmt: skip
    p.add_argument("--generate-only", action="store_true", help="write (or check) the file and "
                   "stop")  # fmt: skip
    p.add_argument("--database-url", default=os.environ.get("PHONEBANK_BENCH_IMPORT_URL",
                   DEFAULT_DATABASE_URL), help="the bench database; dropped and re-created "
                   "at the start (via the 'postgres' database on the same server)")  # fmt: skip
    p.add_argument("--keep-db", action="store_true", help="accepted for symmetry with "
                   "volunteers.py --keep; the database is never dropped after a run")  # fmt: skip
    p.add_argument("--region", default="US", help="default phone region for the import")
    p.add_argument("--timeout", type=float, default=1800.0, help="stop the import after this "
                   "many seconds")  # fmt: skip
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.rows < 100:
        raise SystemExit("--rows must be at least 100")
    path = Path(args.file).resolve() if args.file else default_file(args.rows)
    info = None if args.regenerate else reusable(path, args.rows, args.seed)
    reused = info is not None
    if info is None:
        info = generate(path, args.rows, args.seed)
    else:
        log(f"reusing {path} ({args.rows:,} rows, seed {args.seed}; --regenerate to rewrite)")
    info["_reused"] = reused
    if args.generate_only:
        print("\n".join(describe_file(path, info, reused)))
        return 0

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        return run(args, path, info)
    except KeyboardInterrupt:
        log("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
