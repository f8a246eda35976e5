"""The supporter store's bulk API: match and write thousands of people per statement.

List imports hand batches of cleaned records (phonebank/lists/clean.py) to ``BulkWriter``, which
applies the same rules as ``find_or_create_person`` — external id, then phone with the same name
(or a nameless row and a single holder), then email with the same name — and writes people,
external ids, phones, emails, addresses, tags and custom fields with a few set-based statements
per batch. New rows go in with PostgreSQL's COPY; rows for people who already exist go in with
``ON CONFLICT DO NOTHING``, so writing the same batch twice changes nothing.

It works on a SQLAlchemy Connection inside the caller's transaction and never commits.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from phonebank.models import (
    Activity,
    Address,
    ChangeEvent,
    CustomField,
    DoNotCallNumber,
    Email,
    ExternalId,
    Person,
    PersonTag,
    Phone,
    Tag,
)

LOOKUP_BATCH = 5000  # values per IN (...) on SQLite; PostgreSQL takes one array


@dataclass
class BulkCounts:
    people_created: int = 0
    people_updated: int = 0  # matched someone already in the store
    people_merged: int = 0  # rows folded into a person an earlier row of this batch run made
    phones_added: int = 0
    emails_added: int = 0
    flagged_do_not_call: int = 0


@dataclass
class Resolved:
    """One person a batch resolved to, and what a call list needs to know about them."""

    person_id: int
    row_number: int  # the first row that named them
    new: bool
    callable: bool = True
    do_not_call: bool = False
    zone_key: str = ""
    records: list[Any] = field(default_factory=list)


def _name_key(first: str, last: str) -> str:
    first, last = (first or "").casefold(), (last or "").casefold()
    return f"{first}\x1f{last}" if (first or last) else ""


class BulkWriter:
    """Matches and writes batches of records for one import run (one transaction)."""

    def __init__(
        self,
        conn: Connection,
        *,
        id_system: str,
        source: str,
        actor_user_id: int | None = None,
        flag_reason: str = "",
    ):
        self.conn = conn
        self.pg = conn.dialect.name == "postgresql"
        self.system = id_system
        self.source = source
        self.actor_user_id = actor_user_id
        self.flag_reason = flag_reason
        self.counts = BulkCounts()
        self.now = datetime.now(UTC)
        self._created: list[tuple[int, int]] = []  # id ranges this run created, sorted
        self._tag_ids: dict[str, int] = {}
        self._scratch_tables: set[str] = set()
        if not self.pg:
            # Take SQLite's write lock now, so ids read from max(id) stay ours until commit.
            conn.execute(text("UPDATE people SET id = id WHERE 0"))

    # --- entry point -----------------------------------------------------------------------

    def write(self, records: Sequence[Any]) -> list[Resolved]:
        """Match, merge and write one batch; returns one Resolved per distinct person."""
        groups = _group(records)
        lookup = self._lookup(records)
        matched: dict[int, Resolved] = {}
        new_groups: list[list[Any]] = []
        for group in groups:
            person_id = self._match(group, lookup)
            if person_id is None:
                new_groups.append(group)
                continue
            if person_id in matched:  # two groups of this batch matched the same person
                matched[person_id].records.extend(group)
                self.counts.people_merged += len(group)
                continue
            earlier = self.created_here(person_id)
            self.counts.people_merged += len(group) - (0 if earlier else 1)
            self.counts.people_updated += 0 if earlier else 1
            matched[person_id] = Resolved(person_id, group[0].row_number, False, records=group)
        resolved = list(matched.values())
        resolved.extend(self._create(new_groups))
        self._write_details(resolved, lookup)
        self._write_changes(resolved)
        return resolved

    def _write_changes(self, resolved: list[Resolved]) -> None:
        """The change feed's events for this batch (``supporters/changes.py``), in its
        transaction: one ``person.created`` or ``person.updated`` per person; the version of
        every person already in the store goes up."""
        data = {"changes": ["import"], "source": self.source}
        rows = [
            (r.person_id, "person.created" if r.new else "person.updated", self.now, data)
            for r in resolved
        ]
        self.copy(ChangeEvent.__table__, ("person_id", "type", "occurred_at", "data"), rows)
        old = [{"pid": r.person_id} for r in resolved if not r.new]
        if old:
            table = Person.__table__
            self.conn.execute(
                table.update()
                .where(table.c.id == bindparam("pid"))
                .values(version=table.c.version + 1),
                old,
            )

    # --- matching --------------------------------------------------------------------------

    def _lookup(self, records: Sequence[Any]) -> dict[str, Any]:
        ext = [r.external_id for r in records if r.external_id]
        numbers = list({p[0] for r in records for p in r.phones})
        emails = list({r.email for r in records if r.email})
        by_ext = dict(
            self.select_in(
                select(ExternalId.value, ExternalId.person_id).where(
                    ExternalId.system == self.system
                ),
                ExternalId.value,
                ext,
            )
        )
        holders: dict[str, list[int]] = {}
        untyped: set[tuple[int, str]] = set()  # (person, number) stored with type "unknown"
        for number, person_id, kind in self.select_in(
            select(Phone.number, Phone.person_id, Phone.type), Phone.number, numbers
        ):
            holders.setdefault(number, []).append(person_id)
            if kind == "unknown":
                untyped.add((person_id, number))
        email_holders: dict[str, list[int]] = {}
        for address, person_id in self.select_in(
            select(Email.address, Email.person_id), Email.address, emails
        ):
            email_holders.setdefault(address, []).append(person_id)
        ids = set(by_ext.values()) | {i for v in holders.values() for i in v}
        ids |= {i for v in email_holders.values() for i in v}
        people = self._people(ids)
        return {
            "ext": by_ext,
            "phones": holders,
            "untyped": untyped,
            "emails": email_holders,
            "people": people,
        }

    def _people(self, ids: Iterable[int]) -> dict[int, tuple]:
        """id -> (merged into, name key, do_not_call, deceased, moved, do_not_email)."""
        people: dict[int, tuple] = {}
        wanted = set(ids)
        while wanted:
            rows = self.select_in(
                select(
                    Person.id,
                    Person.merged_into_id,
                    Person.first_name,
                    Person.last_name,
                    Person.do_not_call,
                    Person.deceased,
                    Person.moved,
                    Person.do_not_email,
                ),
                Person.id,
                list(wanted),
            )
            wanted = set()
            for pid, merged, first, last, dnc, deceased, moved, dne in rows:
                people[pid] = (merged, _name_key(first, last), dnc, deceased, moved, dne)
                if merged is not None and merged not in people:
                    wanted.add(merged)
        return people

    def _survivor(self, person_id: int, people: dict[int, tuple]) -> int:
        seen = set()
        while person_id in people and people[person_id][0] is not None and person_id not in seen:
            seen.add(person_id)
            person_id = people[person_id][0]
        return person_id

    def _match(self, group: list[Any], lookup: dict[str, Any]) -> int | None:
        people = lookup["people"]
        for record in group:
            if record.external_id and record.external_id in lookup["ext"]:
                return self._survivor(lookup["ext"][record.external_id], people)
        for record in group:
            key = record.name_key
            for number, _, _ in record.phones:
                candidates = {self._survivor(p, people) for p in lookup["phones"].get(number, ())}
                if not candidates:
                    continue
                if not key and len(candidates) == 1:
                    return candidates.pop()
                for candidate in sorted(candidates):
                    if candidate in people and people[candidate][1] == key:
                        return candidate
        for record in group:
            key = record.name_key
            if not (record.email and key):
                continue
            for holder in sorted(lookup["emails"].get(record.email, ())):
                candidate = self._survivor(holder, people)
                if candidate in people and people[candidate][1] == key:
                    return candidate
        return None

    def created_here(self, person_id: int) -> bool:
        index = bisect_right(self._created, (person_id, float("inf"))) - 1
        return index >= 0 and self._created[index][0] <= person_id <= self._created[index][1]

    # --- writing ---------------------------------------------------------------------------

    def _allocate(self, count: int) -> list[int]:
        if self.pg:
            ids = list(
                self.conn.execute(
                    text(
                        "SELECT nextval(pg_get_serial_sequence('people', 'id')) "
                        "FROM generate_series(1, :n)"
                    ),
                    {"n": count},
                ).scalars()
            )
        else:
            top = self.conn.execute(text("SELECT coalesce(max(id), 0) FROM people")).scalar()
            ids = list(range(top + 1, top + 1 + count))
        # Sequences hand out increasing values; contiguous runs keep the range list short.
        start = prev = ids[0]
        for value in ids[1:]:
            if value != prev + 1:
                self._created.append((start, prev))
                start = value
            prev = value
        self._created.append((start, prev))
        self._created.sort()
        return ids

    def _create(self, groups: list[list[Any]]) -> list[Resolved]:
        if not groups:
            return []
        ids = self._allocate(len(groups))
        rows, resolved = [], []
        for person_id, group in zip(ids, groups, strict=True):
            named = next((r for r in group if r.first_name or r.last_name), group[0])
            dnc = any(r.do_not_call or r.do_not_contact for r in group)
            dne = any(r.do_not_contact for r in group)
            rows.append(
                (
                    person_id,
                    named.first_name,
                    named.last_name,
                    dnc,
                    dne,
                    False,
                    False,
                    self.now,
                    self.now,
                )
            )
            self.counts.people_merged += len(group) - 1
            resolved.append(Resolved(person_id, group[0].row_number, True, records=group))
        self.counts.people_created += len(groups)
        self.copy(
            Person.__table__,
            (
                "id",
                "first_name",
                "last_name",
                "do_not_call",
                "do_not_email",
                "deceased",
                "moved",
                "created_at",
                "updated_at",
            ),
            rows,
        )
        return resolved

    def _write_details(self, resolved: list[Resolved], lookup: dict[str, Any]) -> None:
        new = [r for r in resolved if r.new]
        old = [r for r in resolved if not r.new]
        held = {(p, n) for n, ps in lookup["phones"].items() for p in ps}
        held_emails = {(p, e) for e, ps in lookup["emails"].items() for p in ps}
        known_types: dict[tuple[int, str], str] = {}  # a held number's type the file knows
        for batch, fresh in ((new, True), (old, False)):
            ext_rows, phone_rows, email_rows, custom_rows, tag_rows = [], [], [], [], []
            address_rows = []
            for person in batch:
                pid = person.person_id
                seen_ext, seen_phone, seen_email = set(), {}, set()
                custom: dict[str, str] = {}
                for record in person.records:
                    if record.external_id and record.external_id not in seen_ext:
                        seen_ext.add(record.external_id)
                        ext_rows.append((pid, self.system, record.external_id))
                    for number, kind, zones in record.phones:
                        if (pid, number) in held:
                            if kind != "unknown" and (pid, number) in lookup["untyped"]:
                                known_types.setdefault((pid, number), kind)
                            continue
                        if number not in seen_phone or seen_phone[number][0] == "unknown":
                            seen_phone[number] = (kind, zones)
                    if record.email and record.email not in seen_email:
                        seen_email.add(record.email)
                        if (pid, record.email) not in held_emails:
                            email_rows.append(
                                (pid, record.email, "subscribed", self.source, self.now, self.now)
                            )
                    for name, value in record.custom:
                        custom[name] = value
                    for tag in record.tags:
                        tag_rows.append((pid, tag))
                    if record.address is not None:
                        address_rows.append((pid, record))
                for number, (kind, zones) in seen_phone.items():
                    phone_rows.append(
                        (pid, number, kind, "ok", self.source, zones, self.now, self.now)
                    )
                custom_rows.extend((pid, name, value) for name, value in custom.items())
            self.counts.phones_added += len(phone_rows)
            self.counts.emails_added += len(email_rows)
            self.insert_rows(
                ExternalId.__table__,
                ("person_id", "system", "value"),
                ext_rows,
                fresh,
                ("system", "value"),
            )
            self.insert_rows(
                Phone.__table__,
                (
                    "person_id",
                    "number",
                    "type",
                    "status",
                    "source",
                    "time_zones",
                    "created_at",
                    "updated_at",
                ),
                phone_rows,
                fresh,
                ("person_id", "number"),
            )
            self.insert_rows(
                Email.__table__,
                ("person_id", "address", "status", "source", "created_at", "updated_at"),
                email_rows,
                fresh,
                ("person_id", "address"),
            )
            self._write_custom(custom_rows, fresh)
            self._write_tags(tag_rows, fresh)
            self._write_addresses(address_rows, fresh)
        self._refine_phone_types(known_types)
        self._write_flags(new, old, lookup)

    def _refine_phone_types(self, known: dict[tuple[int, str], str]) -> None:
        """A number the store has as type "unknown" takes the type the file gives it."""
        if not known:
            return
        table = Phone.__table__
        self.conn.execute(
            table.update()
            .where(
                table.c.person_id == bindparam("pid"),
                table.c.number == bindparam("num"),
                table.c.type == "unknown",
            )
            .values(type=bindparam("kind")),
            [{"pid": p, "num": n, "kind": k} for (p, n), k in known.items()],
        )

    def _write_custom(self, rows: list[tuple], fresh: bool) -> None:
        if fresh or not rows:
            self.insert_rows(CustomField.__table__, ("person_id", "name", "value"), rows, True)
            return
        columns = ("person_id", "name", "value")
        if self.pg and len(rows) > 50:
            scratch = self._scratch(CustomField.__table__, columns, rows)
            self.conn.execute(
                text(
                    "INSERT INTO custom_fields (person_id, name, value) "
                    f"SELECT person_id, name, value FROM {scratch} "
                    "ON CONFLICT (person_id, name) DO UPDATE SET value = excluded.value "
                    "WHERE custom_fields.value <> excluded.value"
                )
            )
            return
        insert = pg_insert if self.pg else sqlite_insert
        statement = insert(CustomField.__table__)
        statement = statement.on_conflict_do_update(
            index_elements=["person_id", "name"],
            set_={"value": statement.excluded.value},
            where=CustomField.__table__.c.value != statement.excluded.value,
        )
        self.conn.execute(statement, [{"person_id": p, "name": n, "value": v} for p, n, v in rows])

    def _write_tags(self, rows: list[tuple[int, str]], fresh: bool) -> None:
        if not rows:
            return
        names = {name for _, name in rows} - set(self._tag_ids)
        if names:
            insert = pg_insert if self.pg else sqlite_insert
            self.conn.execute(
                insert(Tag.__table__).on_conflict_do_nothing(index_elements=["name"]),
                [{"name": n} for n in sorted(names)],
            )
            for tag_id, name in self.select_in(select(Tag.id, Tag.name), Tag.name, list(names)):
                self._tag_ids[name] = tag_id
        pairs = {(pid, self._tag_ids[name]) for pid, name in rows}
        self.insert_rows(
            PersonTag.__table__,
            ("person_id", "tag_id", "source", "added_at"),
            [(p, t, self.source, self.now) for p, t in sorted(pairs)],
            fresh,
            ("person_id", "tag_id"),
        )

    def _write_addresses(self, rows: list[tuple[int, Any]], fresh: bool) -> None:
        if not rows:
            return
        existing: dict[int, set[tuple[str, str]]] = {}
        if not fresh:
            for pid, line1, postcode in self.select_in(
                select(Address.person_id, Address.line1, Address.postcode),
                Address.person_id,
                list({p for p, _ in rows}),
            ):
                existing.setdefault(pid, set()).add((line1.casefold(), postcode.casefold()))
        out: list[list] = []
        latest: dict[int, int] = {}  # person -> index in out of their last new address
        for pid, record in rows:
            line1, line2, city, region, postcode, country = record.address
            key = (line1.casefold(), postcode.casefold())
            have = existing.setdefault(pid, set())
            if key in have:
                continue
            zone = record.address_zones[0] if len(record.address_zones) == 1 else ""
            latest[pid] = len(out)
            out.append(
                [pid, line1, line2, city, region, postcode, country, zone, False]
                + [self.source, self.now]
            )
            have.add(key)
        # The newest address is the primary one, as add_address has it.
        for index in latest.values():
            out[index][8] = True
        if not fresh and latest:
            table = Address.__table__
            self.conn.execute(
                table.update()
                .where(table.c.person_id == bindparam("pid"), table.c.is_primary.is_(True))
                .values(is_primary=False),
                [{"pid": pid} for pid in latest],
            )
        out = [tuple(row) for row in out]
        self.insert_rows(
            Address.__table__,
            (
                "person_id",
                "line1",
                "line2",
                "city",
                "region",
                "postcode",
                "country",
                "time_zone",
                "is_primary",
                "source",
                "created_at",
            ),
            out,
            True,
        )

    def _write_flags(self, new: list[Resolved], old: list[Resolved], lookup) -> None:
        """Raise do-not-call (and do-not-email for do-not-contact) from the file; never clear."""
        people = lookup["people"]
        activities, changed = [], []
        for person in new + old:
            emails_off = False
            if not person.new:
                _, _, dnc, deceased, moved, dne = people.get(
                    person.person_id, (None, "", False, False, False, False)
                )
                person.callable = not (deceased or moved)
                person.do_not_call, emails_off = bool(dnc), bool(dne)
            flagged = [r for r in person.records if r.do_not_call or r.do_not_contact]
            if not flagged:
                continue
            contact = any(r.do_not_contact for r in flagged)
            flags = [] if person.do_not_call else ["do_not_call"]
            if contact and not emails_off:
                flags.append("do_not_email")
            if not flags:
                continue  # the store has these flags already
            person.do_not_call = True
            if not person.new:
                changed.append({"pid": person.person_id, "dne": contact})
            activities.append(
                (
                    person.person_id,
                    "flag",
                    "lists",
                    self.actor_user_id,
                    self.now,
                    {"flags": flags, "reason": f"{self.flag_reason}, row {flagged[0].row_number}"},
                )
            )
        if changed:
            table = Person.__table__
            self.conn.execute(
                table.update()
                .where(table.c.id == bindparam("pid"))
                .values(do_not_call=True, do_not_email=bindparam("dne") | table.c.do_not_email),
                changed,
            )
        self.counts.flagged_do_not_call += len(activities)
        self.insert_rows(
            Activity.__table__,
            ("person_id", "kind", "module", "actor_user_id", "occurred_at", "payload"),
            activities,
            True,
        )

    def numbers_on_do_not_call(self, numbers: Iterable[str]) -> set[str]:
        return set(
            self.select_in(
                select(DoNotCallNumber.number), DoNotCallNumber.number, list(set(numbers))
            ).scalars()
        )

    def store_phones(self, person_ids: list[int]) -> dict[int, list[tuple[str, str, str]]]:
        """person id -> [(number, status, zones)] for people who were in the store already."""
        phones: dict[int, list[tuple[str, str, str]]] = {}
        for pid, number, status, zones in self.select_in(
            select(Phone.person_id, Phone.number, Phone.status, Phone.time_zones),
            Phone.person_id,
            person_ids,
        ):
            phones.setdefault(pid, []).append((number, str(status), zones))
        return phones

    def primary_addresses(self, person_ids: list[int]) -> dict[int, tuple[str, str, str, str]]:
        """person id -> (time zone, region, postcode, country) of their primary address."""
        return {
            pid: (zone, region, postcode, country)
            for pid, zone, region, postcode, country in self.select_in(
                select(
                    Address.person_id,
                    Address.time_zone,
                    Address.region,
                    Address.postcode,
                    Address.country,
                ).where(Address.is_primary.is_(True)),
                Address.person_id,
                person_ids,
            )
        }

    # --- low level -------------------------------------------------------------------------

    def select_in(self, query, column, values: list):
        """Run ``query`` restricted to ``column IN values``, batching for SQLite's limits."""
        if not values:
            return _Rows()
        if self.pg:
            from sqlalchemy import any_
            from sqlalchemy.dialects.postgresql import ARRAY

            array_type = ARRAY(column.type)
            return _Rows(
                self.conn.execute(
                    query.where(column == any_(bindparam("values", values, type_=array_type)))
                ).all()
            )
        rows = []
        for start in range(0, len(values), LOOKUP_BATCH):
            chunk = values[start : start + LOOKUP_BATCH]
            rows.extend(self.conn.execute(query.where(column.in_(chunk))).all())
        return _Rows(rows)

    def insert_rows(
        self,
        table: Table,
        columns: Sequence[str],
        rows: list[tuple],
        fresh: bool,
        conflict: Sequence[str] = (),
    ) -> None:
        if not rows:
            return
        if fresh:
            self.copy(table, columns, rows)
            return
        names, keys = ", ".join(columns), ", ".join(conflict)
        if self.pg and len(rows) > 50:
            # COPY into a scratch table, then one INSERT … SELECT: far fewer round trips than
            # one INSERT per row when a whole file is imported again.
            scratch = self._scratch(table, columns, rows)
            self.conn.execute(
                text(
                    f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {scratch} "
                    f"ON CONFLICT ({keys}) DO NOTHING"
                )
            )
            return
        insert = pg_insert if self.pg else sqlite_insert
        statement = insert(table).on_conflict_do_nothing(index_elements=list(conflict))
        self.conn.execute(statement, [dict(zip(columns, row, strict=True)) for row in rows])

    def _scratch(self, table: Table, columns: Sequence[str], rows: list[tuple]) -> str:
        """A temporary table (dropped at commit) holding these rows, on PostgreSQL."""
        name = f"import_{table.name}"
        if name not in self._scratch_tables:
            self.conn.execute(
                text(
                    f"CREATE TEMPORARY TABLE {name} ON COMMIT DROP AS "
                    f"SELECT {', '.join(columns)} FROM {table.name} WITH NO DATA"
                )
            )
            self._scratch_tables.add(name)
        else:
            self.conn.execute(text(f"TRUNCATE {name}"))
        self.copy(table, columns, rows, into=name)
        return name

    def copy(self, table: Table, columns: Sequence[str], rows: list[tuple], into: str = "") -> None:
        """Append rows that cannot conflict: COPY on PostgreSQL, executemany on SQLite.

        ``into`` names a scratch table shaped like ``table`` to copy into instead.
        """
        if not rows:
            return
        json_columns = [i for i, c in enumerate(columns) if _is_json(table.c[c])]
        if self.pg:
            raw = self.conn.connection.driver_connection
            names = ", ".join(columns)
            with raw.cursor() as cursor:
                with cursor.copy(f"COPY {into or table.name} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        if json_columns:
                            row = list(row)
                            for i in json_columns:
                                row[i] = json.dumps(row[i])
                        copy.write_row(row)
            return
        self.conn.execute(table.insert(), [dict(zip(columns, row, strict=True)) for row in rows])


def _is_json(column) -> bool:
    return column.type.__class__.__name__ in ("JSON", "JSONB") or "JSON" in repr(column.type)


class _Rows(list):
    def scalars(self):
        return [row[0] for row in self]


def _group(records: Sequence[Any]) -> list[list[Any]]:
    """Rows of one batch that are the same person: same external id, same phone and name (or
    a nameless row and the phone), or same email and name. Keeps file order."""
    parent = list(range(len(records)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    by_ext: dict[str, int] = {}
    by_phone_name: dict[tuple[str, str], int] = {}
    names_by_phone: dict[str, set[str]] = {}
    nameless_with_phone: dict[str, int] = {}
    by_email: dict[tuple[str, str], int] = {}
    first_named: dict[tuple[str, str], int] = {}
    for i, record in enumerate(records):
        if record.name_key:
            for number, _, _ in record.phones:
                names_by_phone.setdefault(number, set()).add(record.name_key)
                first_named.setdefault((number, record.name_key), i)
    for i, record in enumerate(records):
        if record.external_id:
            union(i, by_ext.setdefault(record.external_id, i))
        key = record.name_key
        for number, _, _ in record.phones:
            if key:
                union(i, by_phone_name.setdefault((number, key), i))
                continue
            # A nameless row joins the number's only named holder in this batch, if it has
            # just one: never a bridge between two different names on one landline.
            union(i, nameless_with_phone.setdefault(number, i))
            names = names_by_phone.get(number, ())
            if len(names) == 1:
                union(i, first_named[(number, next(iter(names)))])
        if record.email and key:
            union(i, by_email.setdefault((record.email, key), i))
    groups: dict[int, list[Any]] = {}
    for i, record in enumerate(records):
        groups.setdefault(find(i), []).append(record)
    return list(groups.values())
