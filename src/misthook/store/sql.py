"""SQL shared by the SQLite and PostgreSQL stores, and the rules all backends share.

Column rules (the in-memory store mirrors them exactly):

* ``id``, ``org_id``, ``site_id``, the owner and the lookup field live in TEXT columns
  that hold the document's value when it is a string, NULL otherwise; the time field
  lives in a number column that holds it when it is a number.
* A filter uses a column when its value fits the column (strings, or numbers for the
  time column), otherwise it reads the document (JSON extraction).
* Sorting puts missing values last in both directions; numbers sort before strings;
  ties are broken by ``id`` in the same direction.

The two dialects differ only in placeholders and in how they reach into JSON, so each
``Dialect`` method returns one SQL fragment and the builders below are shared.
"""

from __future__ import annotations

import functools
import importlib.resources
import itertools
import re
from collections.abc import Iterable, Sequence
from itertools import repeat
from typing import Any, cast

from misthook.errors import StoreError
from misthook.store.base import (
    COLLECTIONS,
    COLUMN_FIELDS,
    CollectionSpec,
    Doc,
    Filter,
    Query,
    StoredEvent,
    event_seq,
)

_FIELD_NAME = re.compile(r"^[A-Za-z0-9_\-]+$")
_OPS = frozenset({"eq", "ne", "in", "contains", "gt", "gte", "lt", "lte", "is_null"})
_COMPARISONS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}

ColumnRow = tuple[str, str | None, str | None, str | None, str | None, float | None]


# --- rules shared with the in-memory store ------------------------------------------


def spec_of(collection: str) -> CollectionSpec:
    try:
        return COLLECTIONS[collection]
    except KeyError:
        raise StoreError(f"Unknown collection {collection!r}.") from None


def check_field(field: str) -> str:
    # Field names end up inside SQL text (JSON paths), so only plain names are allowed.
    if not _FIELD_NAME.match(field):
        raise StoreError(f"Invalid field name {field!r}.")
    return field


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def text_column(spec: CollectionSpec, field: str) -> str | None:
    """The TEXT column holding ``field``, if any."""
    if field in COLUMN_FIELDS:
        return field
    if field == spec.owner_field:
        return "owner"
    if field == spec.lookup_field:
        return "lookup"
    return None


def column_values(spec: CollectionSpec, doc: Doc) -> ColumnRow:
    """(id, org_id, site_id, owner, lookup, time) of a document."""
    doc_id = doc.get("id")
    if not isinstance(doc_id, str) or not doc_id:
        raise StoreError("A document needs a non-empty string id.")

    def text(field: str | None) -> str | None:
        value = doc.get(field) if field else None
        return value if isinstance(value, str) else None

    time = doc.get(spec.time_field)
    return (
        doc_id,
        text("org_id"),
        text("site_id"),
        text(spec.owner_field),
        text(spec.lookup_field),
        float(cast(float, time)) if is_number(time) else None,
    )


def normalize_filter(f: Filter) -> Filter:
    """Check a filter and turn ``eq None`` / ``ne None`` into ``is_null``."""
    check_field(f.field)
    if f.op not in _OPS:
        raise StoreError(f"Unknown filter op {f.op!r}.")
    if f.op == "eq" and f.value is None:
        return Filter(f.field, "is_null", True)
    if f.op == "ne" and f.value is None:
        return Filter(f.field, "is_null", False)
    if f.op == "in":
        if isinstance(f.value, str | bytes) or not isinstance(f.value, Sequence | set | frozenset):
            raise StoreError(f"Filter 'in' on {f.field!r} needs a sequence of values.")
        if any(v is None for v in f.value):
            raise StoreError(f"Filter 'in' on {f.field!r}: use is_null for None.")
        return Filter(f.field, "in", tuple(f.value))
    if f.op == "contains" and not isinstance(f.value, str):
        raise StoreError(f"Filter 'contains' on {f.field!r} needs a string.")
    if f.op in _COMPARISONS and not is_number(f.value):
        raise StoreError(f"Filter {f.op!r} on {f.field!r} needs a number.")
    if f.op == "is_null" and not isinstance(f.value, bool):
        raise StoreError(f"Filter 'is_null' on {f.field!r} needs True or False.")
    return f


def filter_values(f: Filter) -> tuple[Any, ...]:
    return tuple(f.value) if f.op == "in" else (f.value,)


def filter_column(spec: CollectionSpec, f: Filter) -> str | None:
    """The column a (normalized) filter reads, or None to read the document."""
    column = text_column(spec, f.field)
    is_time = f.field == spec.time_field
    if f.op == "is_null":
        return column or ("time" if is_time else None)
    values = filter_values(f)
    if column is not None:
        if f.op in ("eq", "ne", "in", "contains") and all(isinstance(v, str) for v in values):
            return column
        return None
    if is_time and f.op != "contains" and all(is_number(v) for v in values):
        return "time"
    return None


def parse_sort(sort: str) -> tuple[str, bool]:
    """(field, descending) of a sort key like ``"-timestamp"``."""
    descending = sort.startswith("-")
    return check_field(sort[1:] if descending else sort), descending


def sort_column(spec: CollectionSpec, field: str) -> str | None:
    return text_column(spec, field) or ("time" if field == spec.time_field else None)


# --- dialects ------------------------------------------------------------------------


class Dialect:
    """Placeholders and JSON access of one SQL dialect (SQLite here)."""

    name = "sqlite"
    ne = "IS NOT"
    number_type = "REAL"
    doc_type = "TEXT"

    def __init__(self) -> None:
        self.params: list[Any] = []

    def bind(self, spec: CollectionSpec) -> None:
        """Read the documents of the collection of ``spec`` (its storage may differ)."""

    def doc_type_of(self, spec: CollectionSpec) -> str:
        return self.doc_type

    def param(self, value: Any) -> str:
        self.params.append(value)
        return "?"

    def json_param(self, value: Any) -> str:
        """A placeholder comparable to ``json_value``."""
        return self.param(value)

    def text(self, column: str) -> str:
        """A text column as it sorts and groups (byte order everywhere)."""
        return column

    def json_value(self, field: str) -> str:
        """The field's value, comparable with ``json_param`` (NULL when absent)."""
        return f"json_extract(doc, '$.\"{field}\"')"

    def json_text(self, field: str) -> str:
        """The field as SQL text or number; NULL when absent or null."""
        return self.json_value(field)

    def json_number(self, field: str) -> str:
        path = f"'$.\"{field}\"'"
        value = self.json_value(field)
        return f"CASE WHEN json_type(doc, {path}) IN ('integer', 'real') THEN {value} END"

    def json_string(self, field: str) -> str:
        path = f"'$.\"{field}\"'"
        return f"CASE WHEN json_type(doc, {path}) = 'text' THEN {self.json_value(field)} END"

    def contains(self, expr: str, placeholder: str) -> str:
        return f"instr(lower({expr}), lower({placeholder})) > 0"

    def json_order(self, field: str, direction: str) -> str:
        # SQLite already sorts numbers before text.
        return f"{self.json_value(field)} {direction} NULLS LAST"


class PostgresDialect(Dialect):
    name = "postgres"
    ne = "IS DISTINCT FROM"
    number_type = "DOUBLE PRECISION"
    doc_type = "JSONB"
    doc = "doc"  # the document as JSONB

    def bind(self, spec: CollectionSpec) -> None:
        self.doc = "doc" if spec.binary_json else "(doc::jsonb)"

    def doc_type_of(self, spec: CollectionSpec) -> str:
        return "JSONB" if spec.binary_json else "TEXT"

    def param(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"

    def json_param(self, value: Any) -> str:
        return f"{self.param(value)}::jsonb"

    def text(self, column: str) -> str:
        return f'{column} COLLATE "C"'

    def json_value(self, field: str) -> str:
        return f"({self.doc}->'{field}')"

    def json_text(self, field: str) -> str:
        return f"({self.doc}->>'{field}')"

    def json_number(self, field: str) -> str:
        # CASE guards the cast: PostgreSQL does not promise to evaluate AND left to right.
        return (
            f"(CASE WHEN jsonb_typeof({self.doc}->'{field}') = 'number' "
            f"THEN ({self.doc}->>'{field}')::double precision END)"
        )

    def json_string(self, field: str) -> str:
        doc = self.doc
        return f"(CASE WHEN jsonb_typeof({doc}->'{field}') = 'string' THEN {doc}->>'{field}' END)"

    def contains(self, expr: str, placeholder: str) -> str:
        return f"strpos(lower({expr}), lower({placeholder})) > 0"

    def json_order(self, field: str, direction: str) -> str:
        # Missing last, then numbers before strings (as SQLite sorts), in either direction.
        numbers_nulls = "LAST" if direction == "ASC" else "FIRST"
        return (
            f"{self.json_text(field)} IS NULL, "
            f"{self.json_number(field)} {direction} NULLS {numbers_nulls}, "
            f'{self.json_text(field)} COLLATE "C" {direction}'
        )


# --- builders ------------------------------------------------------------------------


def condition(d: Dialect, spec: CollectionSpec, raw: Filter) -> str:
    f = normalize_filter(raw)
    column = filter_column(spec, f)
    if f.op == "is_null":
        expr = column or d.json_text(f.field)
        return f"{expr} IS NULL" if f.value else f"{expr} IS NOT NULL"
    if f.op == "contains":
        return d.contains(column or d.json_string(f.field), d.param(f.value))
    if f.op in _COMPARISONS:
        sign = _COMPARISONS[f.op]
        return f"{column or d.json_number(f.field)} {sign} {d.param(float(f.value))}"
    # eq, ne, in
    values = filter_values(f)
    if column == "time":
        expr, placeholders = "time", [d.param(float(v)) for v in values]
    elif column is not None:
        expr, placeholders = column, [d.param(v) for v in values]
    else:
        expr, placeholders = d.json_value(f.field), [d.json_param(v) for v in values]
    if f.op == "eq":
        return f"{expr} = {placeholders[0]}"
    if f.op == "ne":
        return f"{expr} {d.ne} {placeholders[0]}"
    if not placeholders:
        return "1 = 0"
    return f"{expr} IN ({', '.join(placeholders)})"


def where_clause(d: Dialect, spec: CollectionSpec, filters: Sequence[Filter]) -> str:
    d.bind(spec)
    if not filters:
        return ""
    return " WHERE " + " AND ".join(f"({condition(d, spec, f)})" for f in filters)


def order_clause(d: Dialect, spec: CollectionSpec, sort: str) -> str:
    d.bind(spec)
    field, descending = parse_sort(sort)
    direction = "DESC" if descending else "ASC"
    column = sort_column(spec, field)
    if column == "time":
        key = f"time {direction} NULLS LAST"
    elif column is not None:
        key = f"{d.text(column)} {direction} NULLS LAST"
    else:
        key = d.json_order(field, direction)
    return f" ORDER BY {key}, {d.text('id')} {direction}"


def select_docs(d: Dialect, collection: str, query: Query) -> str:
    spec = spec_of(collection)
    sql = f"SELECT doc FROM {collection}{where_clause(d, spec, query.filters)}"
    sql += order_clause(d, spec, query.sort)
    if query.limit is not None:
        sql += f" LIMIT {d.param(int(query.limit))}"
    elif query.offset:
        sql += " LIMIT -1" if d.name == "sqlite" else " LIMIT ALL"
    if query.offset:
        sql += f" OFFSET {d.param(int(query.offset))}"
    return sql


def select_count(d: Dialect, collection: str, filters: Sequence[Filter]) -> str:
    spec = spec_of(collection)
    return f"SELECT count(*) FROM {collection}{where_clause(d, spec, filters)}"


def select_count_distinct(
    d: Dialect, collection: str, filters: Sequence[Filter], field: str, limit: int
) -> str:
    """Rows (value, count) or, on SQLite's JSON path, (value, json type, count)."""
    spec = spec_of(collection)
    check_field(field)
    where = where_clause(d, spec, filters)
    where += " AND " if where else " WHERE "
    column = text_column(spec, field)
    if column is not None:
        return (
            f"SELECT {column} AS v, count(*) AS n FROM {collection}{where}{column} IS NOT NULL"
            f" GROUP BY {column} ORDER BY n DESC, {d.text(column)} LIMIT {d.param(limit)}"
        )
    if d.name == "sqlite":
        value = d.json_value(field)
        return (
            f"SELECT {value} AS v, min(json_type(doc, '$.\"{field}\"')) AS t, count(*) AS n"
            f" FROM {collection}{where}{value} IS NOT NULL"
            f" GROUP BY v ORDER BY n DESC, v LIMIT {d.param(limit)}"
        )
    return (
        f"SELECT v, n FROM (SELECT {d.json_value(field)} AS v, count(*) AS n FROM {collection}"
        f"{where}{d.json_text(field)} IS NOT NULL GROUP BY 1) AS g"
        " ORDER BY n DESC,"
        " CASE WHEN jsonb_typeof(v) = 'number' THEN (v#>>'{}')::double precision END NULLS LAST,"
        f""" (v#>>'{{}}') COLLATE "C" LIMIT {d.param(limit)}"""
    )


def delete_where(d: Dialect, collection: str, filters: Sequence[Filter]) -> str:
    spec = spec_of(collection)
    return f"DELETE FROM {collection}{where_clause(d, spec, filters)}"


_DOC_UPDATES = ", ".join(
    f"{c} = excluded.{c}" for c in ("org_id", "site_id", "owner", "lookup", "time", "doc")
)


def upsert(collection: str, rows: str, *, replace: bool = True) -> str:
    """Insert the documents that ``rows`` (a VALUES list or a SELECT of the seven columns
    id, org_id, site_id, owner, lookup, time, doc) gives; an existing id is replaced, or
    with ``replace=False`` is an error."""
    spec_of(collection)
    statement = f"INSERT INTO {collection} (id, org_id, site_id, owner, lookup, time, doc) {rows}"
    return f"{statement} ON CONFLICT (id) DO UPDATE SET {_DOC_UPDATES}" if replace else statement


def collection_ddl(d: Dialect, collection: str) -> list[str]:
    """CREATE statements of one collection table (idempotent).

    Collection tables come from ``COLLECTIONS`` rather than from migration files, so a
    new collection needs no migration; the migrations hold everything else.
    """
    spec = spec_of(collection)
    statements = [
        f"CREATE TABLE IF NOT EXISTS {collection} (id TEXT PRIMARY KEY, org_id TEXT,"
        f" site_id TEXT, owner TEXT, lookup TEXT, time {d.number_type},"
        f" doc {d.doc_type_of(spec)} NOT NULL)"
    ]
    for name in spec.indexes:
        columns = _INDEX_COLUMNS[name]
        statements.append(
            f"CREATE INDEX IF NOT EXISTS {collection}_{name} ON {collection} ({columns})"
        )
    return statements


# The columns of each index a collection may have (CollectionSpec.indexes).
_INDEX_COLUMNS = {
    "org_id": "org_id",
    "site_id": "site_id",
    "owner": "owner, time",
    "lookup": "lookup",
    "time": "time",
}


# --- streams -------------------------------------------------------------------------

STREAM_COLUMNS = (
    "webhook_id, topic, org_id, site_id, cursor, attempt, next_attempt_at, failing_since,"
    " lease_owner, lease_until"
)
EVENT_COLUMNS = "seq, id, org_id, site_id, topic, timestamp, body"


def unpack_events(
    topic: str,
    org_id: str,
    seqs: Sequence[int],
    ids: Sequence[str],
    sites: Sequence[str | None],
    times: Sequence[float],
    sizes: Sequence[int],
    bodies: bytes,
) -> list[StoredEvent]:
    """The events of a read answered as one row: a column each, the bodies end to end
    (a row per event costs both databases and the reader far more), in sequence order.

    Built by iterators and ``tuple.__new__``, all in C: a Python loop building each
    event cost the worker more than the database spent answering the read."""
    if not len(seqs) == len(ids) == len(sites) == len(times) == len(sizes):
        raise StoreError("A read answered columns of different lengths.")
    ends = list(itertools.accumulate(sizes))
    parts = map(bodies.__getitem__, map(slice, itertools.chain((0,), ends), ends))
    return events_of_columns(topic, org_id, seqs, ids, sites, times, parts)


def events_of_columns(
    topic: str,
    org_id: str,
    seqs: Sequence[int],
    ids: Iterable[str],
    sites: Iterable[str | None],
    times: Iterable[float],
    bodies: Iterable[bytes],
) -> list[StoredEvent]:
    """Events from one column per field (as long as ``seqs``), in sequence order."""
    columns = zip(seqs, ids, repeat(org_id), sites, repeat(topic), times, bodies)
    events = list(map(new_event, columns))
    if seqs != sorted(seqs):  # in C: a loop over pairs cost a read 60 us per 1000 events
        # Neither database promises that an aggregate sees its subquery's order.
        events.sort(key=event_seq)
    return events


# A StoredEvent from its fields' tuple, in C.
new_event = functools.partial(tuple.__new__, StoredEvent)


# A stream is due when it may try again, no live owner holds it, and an event waits
# after its cursor. One EXISTS per stream kind, so each uses its own index. ``log`` and
# ``seq``: the event log's table and the column that passes the cursor (SQLite: a row
# per event; PostgreSQL: segments, by their last event).
STREAM_IS_DUE = """
s.next_attempt_at <= {now} AND (s.lease_owner IS NULL OR s.lease_until < {now})
AND CASE WHEN s.site_id IS NULL
    THEN EXISTS (SELECT 1 FROM {log} AS e
                 WHERE e.topic = s.topic AND e.org_id = s.org_id AND e.{seq} > s.cursor)
    ELSE EXISTS (SELECT 1 FROM {log} AS e
                 WHERE e.topic = s.topic AND e.site_id = s.site_id AND e.org_id = s.org_id
                   AND e.{seq} > s.cursor)
END
"""

# Streams a worker shares with the others: held by a live owner, or due.
STREAMS_IN_PLAY = (
    "SELECT count(*) FROM streams AS s WHERE (s.lease_owner IS NOT NULL AND s.lease_until >= {now})"
    " OR (" + STREAM_IS_DUE + ")"
)
UPSERT_WORKER = (
    "INSERT INTO workers (owner, alive_until) VALUES ({owner}, {until})"
    " ON CONFLICT (owner) DO UPDATE SET alive_until = excluded.alive_until"
)


# --- migrations ----------------------------------------------------------------------


def load_migrations(dialect: str) -> list[tuple[int, str]]:
    """(version, SQL) of every migration file of a dialect, oldest first."""
    folder = importlib.resources.files("misthook.store") / "migrations" / dialect
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    return sorted(found)


def latest_version(dialect: str) -> int:
    migrations = load_migrations(dialect)
    return migrations[-1][0] if migrations else 0
