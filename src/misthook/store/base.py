"""The Store protocol: the one seam between misthook and its databases.

Two kinds of data live in a store:

* **Documents**: JSON objects in named collections (orgs, sites, webhooks, audit
  logs, delivery records ...). Every collection has the same shape: ``id``,
  ``org_id``, ``site_id``, an ``owner`` key (e.g. the webhook of a delivery), a
  ``lookup`` key (e.g. the hash of a token) and a ``time`` key, all indexed, plus the
  whole document. ``COLLECTIONS`` names which document field fills each column.
  Queries filter on any field; filters on columns use indexes.
* **The event log and its streams** (the delivery hot path): events get a growing
  sequence number; a stream is one webhook x one topic with a cursor (the last
  sequence delivered), a retry state and a lease.

All writes go through ``commit(ops)``: the list of operations is applied in ONE
transaction, so an API change, its audit entry and the audit event are stored
together or not at all. Reads are plain calls.

Implementations: ``memory`` (tests), ``sqlite`` (the embedded default),
``postgres`` (many workers). They pass the same contract suite
(tests/integration/test_store_contract.py).
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, NamedTuple, Protocol

Doc = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class CollectionSpec:
    """Which document fields fill the indexed columns of a collection, and which of those
    columns get an index (each costs every insert a B-tree update)."""

    owner_field: str | None = None
    lookup_field: str | None = None
    time_field: str = "created_time"
    indexes: tuple[str, ...] = ("org_id", "site_id", "owner", "lookup", "time")
    # PostgreSQL keeps the document as JSONB (parsed once when written, quick to query) or,
    # False, as plain text: neither parsed nor checked when written (misthook wrote it
    # with orjson), and parsed by each query that reads a field of it, as SQLite does.
    binary_json: bool = True
    # Its documents are written once and almost never again (a delivery record): the
    # PostgreSQL store inserts them without ON CONFLICT (a sixth of the CPU of an insert)
    # and, on the rare put of an existing id, commits again with upserts. Puts replace
    # documents either way.
    append_only: bool = False


COLLECTIONS: dict[str, CollectionSpec] = {
    "orgs": CollectionSpec(),
    "sites": CollectionSpec(),
    "admins": CollectionSpec(lookup_field="email"),
    "tokens": CollectionSpec(owner_field="admin_id", lookup_field="key_hash"),
    "webhooks": CollectionSpec(),
    "audit_logs": CollectionSpec(owner_field="admin_id", time_field="timestamp"),
    # The hot path writes one record per message and searches read few: every read of the
    # log is per webhook (owner + time), retention deletes by time (no index by org, site
    # or status), and the document is JSON text.
    "deliveries": CollectionSpec(
        owner_field="webhook_id",
        lookup_field="status",
        time_field="timestamp",
        indexes=("owner", "time"),
        binary_json=False,
        append_only=True,
    ),
    "parked": CollectionSpec(owner_field="webhook_id", time_field="timestamp"),
    "bins": CollectionSpec(),
    "bin_requests": CollectionSpec(owner_field="bin_id", time_field="timestamp"),
    "devices": CollectionSpec(lookup_field="mac"),
    "device_events": CollectionSpec(owner_field="mac", lookup_field="type", time_field="timestamp"),
    "alarms": CollectionSpec(owner_field="type", lookup_field="group", time_field="timestamp"),
    "maps": CollectionSpec(),
    "zones": CollectionSpec(owner_field="map_id"),
}

# Document fields stored in their own indexed column, whatever the collection.
COLUMN_FIELDS = ("id", "org_id", "site_id")

FilterOp = Literal["eq", "ne", "in", "contains", "gt", "gte", "lt", "lte", "is_null"]


@dataclasses.dataclass(frozen=True)
class Filter:
    """One condition on a document field (a top-level key: letters, digits, ``_``, ``-``).

    ``eq`` / ``ne`` / ``in`` compare JSON values (``ne`` also matches an absent field;
    ``eq None`` means ``is_null True``); ``contains`` is a case-insensitive substring
    test on a string field; ``in`` takes a sequence (no None); ``gt`` / ``gte`` / ``lt`` /
    ``lte`` take a number and match only number fields; ``is_null`` takes a bool (True:
    field absent or null). A malformed filter raises StoreError.
    """

    field: str
    op: FilterOp
    value: Any = None


@dataclasses.dataclass(frozen=True)
class Query:
    """Filters (all must hold), a sort key ("-field" for descending), and a page.

    Missing values sort last in both directions, numbers before strings; ties are broken
    by ``id`` in the same direction.
    """

    filters: tuple[Filter, ...] = ()
    sort: str = "created_time"
    limit: int | None = None
    offset: int = 0


def where(**equals: Any) -> tuple[Filter, ...]:
    """Shorthand: ``where(org_id=x, site_id=None)`` -> equality filters (None: is null)."""
    return tuple(
        Filter(k, "is_null", True) if v is None else Filter(k, "eq", v) for k, v in equals.items()
    )


# --- event log and streams -----------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append. ``body`` is the event's JSON object, serialized (orjson);
    ``timestamp`` is when it entered the log (retention prunes by it)."""

    id: str
    org_id: str
    site_id: str | None
    topic: str
    timestamp: float
    body: bytes


class StoredEvent(NamedTuple):
    """An event of the log. A tuple, not a frozen dataclass: a read builds one per event
    (a thousand at a time on the delivery path), a frozen dataclass cost more than twice
    as much to build, and a tuple can be built from its columns in C (``tuple.__new__``,
    see ``sql.events_of_columns``)."""

    seq: int
    id: str
    org_id: str
    site_id: str | None
    topic: str
    timestamp: float
    body: bytes


# An event's fields by getters in C, for code that goes over thousands of events at a
# time (``map`` with these runs no Python code per event; a generator expression does).
event_seq = operator.itemgetter(StoredEvent._fields.index("seq"))
event_body = operator.itemgetter(StoredEvent._fields.index("body"))


@dataclasses.dataclass(frozen=True, slots=True)
class Stream:
    """One webhook x one topic: what it has delivered and when it may try again.

    A stream of a site webhook matches the events of its site; one of an org webhook
    (``site_id`` None) matches every event of its org.
    """

    webhook_id: str
    topic: str
    org_id: str
    site_id: str | None
    cursor: int = 0
    attempt: int = 0
    next_attempt_at: float = 0.0
    failing_since: float | None = None
    lease_owner: str | None = None
    lease_until: float = 0.0


# --- operations of commit() ----------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Put:
    """Insert the document, or replace the one with the same id."""

    collection: str
    doc: Doc


@dataclasses.dataclass(frozen=True, slots=True)
class Delete:
    collection: str
    id: str


@dataclasses.dataclass(frozen=True, slots=True)
class DeleteWhere:
    """Delete every document of a collection matching all filters."""

    collection: str
    filters: tuple[Filter, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class AppendEvents:
    """Append events to the log; ``CommitResult.event_seqs`` gets their numbers."""

    events: Sequence[NewEvent]


@dataclasses.dataclass(frozen=True, slots=True)
class OpenStream:
    """Create a stream if absent, its cursor at the newest event (no history).

    Existing streams are left as they are.
    """

    webhook_id: str
    topic: str
    org_id: str
    site_id: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class CloseStreams:
    """Delete the streams of a webhook, all or only those not in ``keep_topics``."""

    webhook_id: str
    keep_topics: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class SaveStream:
    """Write a stream's cursor and retry state.

    Applied only while ``owner`` still holds the lease (an expired lease taken over by
    another worker makes this a no-op). ``release`` ends the lease.
    """

    webhook_id: str
    topic: str
    owner: str
    cursor: int
    attempt: int
    next_attempt_at: float
    failing_since: float | None
    release: bool = True


@dataclasses.dataclass(frozen=True, slots=True)
class PruneEvents:
    """Delete events older than ``before`` (epoch seconds)."""

    before: float


Op = (
    Put | Delete | DeleteWhere | AppendEvents | OpenStream | CloseStreams | SaveStream | PruneEvents
)


def wakes_workers(ops: Sequence[Op], appended: Sequence[int]) -> bool:
    """Whether a commit of ``ops`` that appended the events ``appended`` wakes the
    workers: new events, or streams given back (another worker may take them now, not at
    its next poll)."""
    return bool(appended) or any(isinstance(op, SaveStream) and op.release for op in ops)


@dataclasses.dataclass(frozen=True, slots=True)
class WorkerLoad:
    """What a worker shares with the others: worker processes alive (itself included) and
    streams in play (leased by a live owner, or due with events waiting)."""

    workers: int
    streams: int


@dataclasses.dataclass(frozen=True, slots=True)
class CommitResult:
    event_seqs: list[int]


class Store(Protocol):
    """What misthook needs from a database. Driver errors surface as StoreError."""

    async def open(self) -> None:
        """Connect and apply pending migrations."""

    async def close(self) -> None: ...

    async def schema_version(self) -> int: ...

    # documents
    async def get(self, collection: str, id: str) -> Doc | None: ...

    async def find_one(self, collection: str, filters: tuple[Filter, ...]) -> Doc | None: ...

    async def query(self, collection: str, query: Query) -> list[Doc]: ...

    async def count(self, collection: str, filters: tuple[Filter, ...]) -> int: ...

    async def count_distinct(
        self, collection: str, filters: tuple[Filter, ...], field: str, limit: int
    ) -> list[tuple[Any, int]]:
        """(value, count) per distinct value of ``field``, most frequent first."""

    async def commit(self, ops: Sequence[Op]) -> CommitResult: ...

    # event log
    async def max_seq(self) -> int: ...

    async def read_events(
        self, topic: str, org_id: str, site_id: str | None, after_seq: int, limit: int
    ) -> list[StoredEvent]:
        """Events of ``topic`` after ``after_seq`` in order; ``site_id`` None: all the org."""

    async def oldest_seq(self) -> int:
        """Sequence of the oldest event kept (0 when the log is empty)."""

    # streams
    async def lease_streams(
        self, owner: str, now: float, lease_s: float, limit: int
    ) -> list[Stream]:
        """Take up to ``limit`` streams that are due, have events after their cursor and
        are not leased by a live owner; no stream is leased by two owners at once."""

    async def renew_leases(
        self, owner: str, keys: Sequence[tuple[str, str]], until: float
    ) -> None: ...

    async def list_streams(self, webhook_id: str) -> list[Stream]: ...

    # worker processes
    async def worker_heartbeat(self, owner: str, now: float, alive_until: float) -> WorkerLoad:
        """Say ``owner`` is alive until ``alive_until``, forget workers whose time is up,
        and answer the load as of ``now``."""

    async def worker_gone(self, owner: str) -> None:
        """``owner`` stopped: the others need not wait for its time to run out."""

    async def ask_rebalance(self) -> None:
        """A worker ran out of streams: the other worker processes work out their share
        now, not at their next heartbeat (one may hold more than its share of what is
        left). A no-op where workers do not share a database across processes."""

    # counters shared by every process of the deployment
    async def add_counts(
        self, counts: Mapping[str, int], expires_at: float, now: float
    ) -> dict[str, int]:
        """Add each of ``counts`` to its counter (a new one starts at 0 and is kept until
        ``expires_at``), drop the counters expired at ``now``, and answer the totals of
        ``counts``' keys, all in one transaction."""

    # wake-ups across processes (PostgreSQL LISTEN/NOTIFY; in-process otherwise)
    async def listen(
        self, on_wake: Callable[[], None], on_workers: Callable[[], None] | None = None
    ) -> None:
        """Call ``on_wake`` whenever another process appended events or gave streams back,
        and ``on_workers`` when a worker process joined or left (PostgreSQL only: the
        others see such changes at their next heartbeat)."""
