"""The Store contract: one suite, run against memory, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from misthook.errors import StoreError
from misthook.store import open_store, sql
from misthook.store.base import (
    AppendEvents,
    CloseStreams,
    Delete,
    DeleteWhere,
    Filter,
    NewEvent,
    OpenStream,
    PruneEvents,
    Put,
    Query,
    SaveStream,
    Store,
    StoredEvent,
    where,
)

ORG = "org-1"
SITE = "site-1"
TOPIC = "audits"


def event(n: int, *, org: str = ORG, site: str | None = SITE, topic: str = TOPIC) -> NewEvent:
    return NewEvent(f"ev-{n}", org, site, topic, 1_700_000_000.0 + n, b'{"n":%d}' % n)


async def put_deliveries(store: Store) -> list[dict[str, Any]]:
    docs = [
        {
            "id": "d1",
            "org_id": ORG,
            "webhook_id": "w1",
            "status": "ok",
            "timestamp": 30,
            "url": "http://Example.com/a",
            "code": 200,
            "tags": ["x"],
            "ok": True,
        },
        {
            "id": "d2",
            "org_id": ORG,
            "webhook_id": "w1",
            "status": "failed",
            "timestamp": 10,
            "url": "http://other.net/b",
            "code": 500,
            "ok": False,
            "error": None,
        },
        {
            "id": "d3",
            "org_id": ORG,
            "site_id": SITE,
            "webhook_id": "w2",
            "status": "ok",
            "timestamp": 20,
            "url": "https://EXAMPLE.org/c",
            "code": 204,
            "score": 2.5,
        },
        {
            "id": "d4",
            "org_id": "org-2",
            "webhook_id": "w3",
            "status": "failed",
            "timestamp": 20,
            "code": "n/a",
        },
    ]
    await store.commit([Put("deliveries", d) for d in docs])
    return docs


async def ids(store: Store, *filters: Filter, sort: str = "id") -> list[str]:
    docs = await store.query("deliveries", Query(filters=filters, sort=sort))
    return [d["id"] for d in docs]


# --- documents -----------------------------------------------------------------------


async def test_documents_round_trip_exactly(store: Store) -> None:
    """A put document comes back equal, with its JSON types, and a Put replaces by id."""
    doc = {
        "id": "o1",
        "name": "Acme ünïcode",
        "n": 3,
        "f": 1.5,
        "big": 2**53 + 1,
        "flag": False,
        "none": None,
        "list": [1, "a", {"b": [True]}],
        "nested": {"x": {}},
        "created_time": 1_700_000_000,
    }
    await store.commit([Put("orgs", doc)])
    assert await store.get("orgs", "o1") == doc
    await store.commit([Put("orgs", {**doc, "name": "Renamed"})])
    got = await store.get("orgs", "o1")
    assert got is not None and got["name"] == "Renamed"
    assert await store.count("orgs", ()) == 1
    assert await store.get("orgs", "missing") is None


async def test_returned_documents_are_copies(store: Store) -> None:
    """Changing a document after put, or a returned one, does not change the stored one."""
    doc: dict[str, Any] = {"id": "o1", "name": "A", "list": [1]}
    await store.commit([Put("orgs", doc)])
    doc["list"].append(2)
    got = await store.get("orgs", "o1")
    assert got == {"id": "o1", "name": "A", "list": [1]}
    assert got is not None
    got["name"] = "changed"
    assert (await store.get("orgs", "o1")) == {"id": "o1", "name": "A", "list": [1]}


async def test_delete_removes_one_document(store: Store) -> None:
    """Delete removes the document with that id only; deleting a missing id is a no-op."""
    await put_deliveries(store)
    await store.commit([Delete("deliveries", "d2"), Delete("deliveries", "nope")])
    assert await ids(store) == ["d1", "d3", "d4"]


async def test_delete_where_removes_matches(store: Store) -> None:
    """DeleteWhere removes every document matching all its filters, and nothing else."""
    await put_deliveries(store)
    await store.commit(
        [DeleteWhere("deliveries", (*where(org_id=ORG), Filter("code", "gte", 204)))]
    )
    assert await ids(store) == ["d1", "d4"]


async def test_unknown_collection_is_a_store_error(store: Store) -> None:
    """A collection outside COLLECTIONS is refused."""
    with pytest.raises(StoreError):
        await store.get("nope", "x")
    with pytest.raises(StoreError):
        await store.commit([Put("nope", {"id": "x"})])


async def test_puts_of_one_id_in_one_commit_leave_the_last(store: Store) -> None:
    """Several puts of the same id in one commit (one bulk statement on PostgreSQL) end
    as the last of them, beside the other documents of the batch."""
    await store.commit(
        [
            Put("bins", {"id": "b1", "v": 1}),
            Put("bins", {"id": "b2", "v": 1}),
            Put("bins", {"id": "b1", "v": 2}),
        ]
    )
    assert (await store.get("bins", "b1"), await store.get("bins", "b2")) == (
        {"id": "b1", "v": 2},
        {"id": "b2", "v": 1},
    )


async def test_a_put_replaces_a_document_of_an_append_only_collection(store: Store) -> None:
    """Delivery records are written once (the PostgreSQL store inserts them without
    ON CONFLICT); a put of one that exists still replaces it, and the rest of its commit
    is applied exactly once."""
    assert sql.spec_of("deliveries").append_only
    await store.commit([Put("deliveries", {"id": "d1", "webhook_id": "w1", "v": 1})])
    result = await store.commit(
        [
            Put("deliveries", {"id": "d2", "webhook_id": "w1", "v": 1}),
            Put("deliveries", {"id": "d1", "webhook_id": "w1", "v": 2}),
            AppendEvents([event(1)]),
        ]
    )
    assert (await store.get("deliveries", "d1"), await store.get("deliveries", "d2")) == (
        {"id": "d1", "webhook_id": "w1", "v": 2},
        {"id": "d2", "webhook_id": "w1", "v": 1},
    )
    read = await store.read_events(TOPIC, ORG, SITE, 0, 10)
    assert [e.seq for e in read] == result.event_seqs and len(read) == 1


async def test_put_without_string_id_is_refused(store: Store) -> None:
    """A document needs a string id; the commit fails as a whole."""
    with pytest.raises(StoreError):
        await store.commit([Put("orgs", {"id": "ok"}), Put("orgs", {"name": "no id"})])
    assert await store.count("orgs", ()) == 0


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ((Filter("status", "eq", "ok"),), ["d1", "d3"]),  # lookup column
        ((Filter("webhook_id", "eq", "w1"),), ["d1", "d2"]),  # owner column
        ((Filter("org_id", "eq", "org-2"),), ["d4"]),
        ((Filter("code", "eq", 200),), ["d1"]),  # JSON number
        ((Filter("code", "eq", "n/a"),), ["d4"]),  # JSON string
        ((Filter("ok", "eq", True),), ["d1"]),  # JSON boolean
        ((Filter("ok", "eq", False),), ["d2"]),
        ((Filter("timestamp", "eq", 20),), ["d3", "d4"]),  # time column
        ((Filter("status", "ne", "ok"),), ["d2", "d4"]),
        ((Filter("site_id", "ne", SITE),), ["d1", "d2", "d4"]),  # absent counts as different
        ((Filter("code", "ne", 200),), ["d2", "d3", "d4"]),
        ((Filter("score", "ne", 2.5),), ["d1", "d2", "d4"]),
        ((Filter("webhook_id", "in", ["w1", "w3"]),), ["d1", "d2", "d4"]),
        ((Filter("code", "in", [204, 500, "n/a"]),), ["d2", "d3", "d4"]),
        ((Filter("status", "in", []),), []),
        ((Filter("url", "contains", "example"),), ["d1", "d3"]),  # case-insensitive
        ((Filter("status", "contains", "AIL"),), ["d2", "d4"]),
        ((Filter("code", "contains", "2"),), []),  # numbers are not strings
        ((Filter("code", "gt", 200),), ["d2", "d3"]),  # strings are not numbers
        ((Filter("code", "gte", 200),), ["d1", "d2", "d3"]),
        ((Filter("code", "lt", 500),), ["d1", "d3"]),
        ((Filter("code", "lte", 500),), ["d1", "d2", "d3"]),
        ((Filter("timestamp", "gt", 10),), ["d1", "d3", "d4"]),
        ((Filter("timestamp", "lte", 20.0),), ["d2", "d3", "d4"]),
        ((Filter("score", "gte", 2.5),), ["d3"]),
        ((Filter("site_id", "is_null", True),), ["d1", "d2", "d4"]),
        ((Filter("site_id", "is_null", False),), ["d3"]),
        ((Filter("error", "is_null", True),), ["d1", "d2", "d3", "d4"]),  # null or absent
        ((Filter("tags", "is_null", False),), ["d1"]),
        ((Filter("url", "is_null", True),), ["d4"]),
        (where(org_id=ORG, site_id=None), ["d1", "d2"]),
        ((Filter("status", "eq", "ok"), Filter("code", "lt", 204)), ["d1"]),
    ],
)
async def test_filter_ops(store: Store, filters: tuple[Filter, ...], expected: list[str]) -> None:
    """Every filter op, on column fields and on document fields, selects the same docs."""
    await put_deliveries(store)
    assert await ids(store, *filters) == expected
    assert await store.count("deliveries", filters) == len(expected)


@pytest.mark.parametrize(
    "bad",
    [
        Filter("code", "gt", "200"),
        Filter("url", "contains", 3),
        Filter("code", "in", "abc"),
        Filter("site_id", "is_null", "yes"),
        Filter("bad field'", "eq", 1),
        Filter("code", "like", 1),  # type: ignore[arg-type]
    ],
)
async def test_invalid_filters_are_store_errors(store: Store, bad: Filter) -> None:
    """A filter with a wrong value type, op or field name is refused, not guessed."""
    await put_deliveries(store)
    with pytest.raises(StoreError):
        await store.query("deliveries", Query(filters=(bad,)))


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("timestamp", ["d2", "d3", "d4", "d1"]),  # ties by id
        ("-timestamp", ["d1", "d4", "d3", "d2"]),  # ties by id, same direction
        ("status", ["d2", "d4", "d1", "d3"]),
        ("-status", ["d3", "d1", "d4", "d2"]),
        ("code", ["d1", "d3", "d2", "d4"]),  # numbers before strings
        ("-code", ["d4", "d2", "d3", "d1"]),
        ("score", ["d3", "d1", "d2", "d4"]),  # missing last
        ("-score", ["d3", "d4", "d2", "d1"]),  # missing last, ties by id descending
        ("site_id", ["d3", "d1", "d2", "d4"]),
        ("-id", ["d4", "d3", "d2", "d1"]),
    ],
)
async def test_sorting(store: Store, sort: str, expected: list[str]) -> None:
    """Sort ascending and descending, on columns and document fields; missing values last."""
    await put_deliveries(store)
    assert await ids(store, sort=sort) == expected


async def test_paging(store: Store) -> None:
    """limit and offset page through the sorted results."""
    await put_deliveries(store)
    pages = [
        [
            d["id"]
            for d in await store.query("deliveries", Query(sort="-timestamp", limit=2, offset=o))
        ]
        for o in (0, 2, 4)
    ]
    assert pages == [["d1", "d4"], ["d3", "d2"], []]
    rest = await store.query("deliveries", Query(sort="-timestamp", offset=3))
    assert [d["id"] for d in rest] == ["d2"]


async def test_find_one(store: Store) -> None:
    """find_one returns a matching document or None."""
    await put_deliveries(store)
    found = await store.find_one("deliveries", where(webhook_id="w2"))
    assert found is not None and found["id"] == "d3"
    assert await store.find_one("deliveries", where(webhook_id="nope")) is None


async def test_count_distinct(store: Store) -> None:
    """(value, count) per value, most frequent first, ties by value, nulls left out."""
    await put_deliveries(store)
    await store.commit(
        [Put("deliveries", {"id": "d5", "org_id": ORG, "status": "ok", "code": 200, "ok": True})]
    )
    assert await store.count_distinct("deliveries", (), "status", 10) == [("ok", 3), ("failed", 2)]
    assert await store.count_distinct("deliveries", (), "code", 10) == [
        (200, 2),
        (204, 1),
        (500, 1),
        ("n/a", 1),
    ]
    assert await store.count_distinct("deliveries", (), "ok", 10) == [(True, 2), (False, 1)]
    assert await store.count_distinct("deliveries", where(org_id=ORG), "code", 1) == [(200, 2)]
    assert await store.count_distinct("deliveries", (), "site_id", 10) == [(SITE, 1)]


async def test_commit_is_atomic(store: Store) -> None:
    """A failing op in the middle of a commit leaves nothing of the commit applied."""
    await store.commit(
        [Put("orgs", {"id": "o1", "name": "before"}), OpenStream("w1", TOPIC, ORG, None)]
    )
    with pytest.raises(StoreError):
        await store.commit(
            [
                Put("orgs", {"id": "o1", "name": "after"}),
                Put("sites", {"id": "s1", "org_id": "o1"}),
                Delete("orgs", "o1"),
                AppendEvents([event(1)]),
                OpenStream("w2", TOPIC, ORG, None),
                CloseStreams("w1"),
                Put("orgs", {"id": "o2", "bad": {1, 2}}),  # not JSON: fails here
                Put("orgs", {"id": "o3"}),
            ]
        )
    assert await store.get("orgs", "o1") == {"id": "o1", "name": "before"}
    assert await store.get("sites", "s1") is None
    assert await store.count("orgs", ()) == 1
    assert await store.max_seq() == 0
    assert [s.webhook_id for s in await store.list_streams("w1")] == ["w1"]
    assert await store.list_streams("w2") == []


async def test_many_puts_in_one_commit_keep_the_last_write(store: Store) -> None:
    """Batched puts apply in order: the last put of an id wins."""
    ops = [Put("deliveries", {"id": f"d{i % 300}", "n": i, "timestamp": i}) for i in range(900)]
    await store.commit(ops)
    assert await store.count("deliveries", ()) == 300
    got = await store.get("deliveries", "d7")
    assert got is not None and got["n"] == 607


# --- event log -----------------------------------------------------------------------


async def test_append_events_returns_seqs_in_order(store: Store) -> None:
    """Appended events get growing seqs, returned in input order, across commits."""
    first = await store.commit([AppendEvents([event(1), event(2), event(3)])])
    second = await store.commit([AppendEvents([event(4)]), AppendEvents([event(5)])])
    seqs = first.event_seqs + second.event_seqs
    assert seqs == sorted(seqs) and len(set(seqs)) == 5
    assert await store.max_seq() == seqs[-1]
    assert await store.oldest_seq() == seqs[0]
    read = await store.read_events(TOPIC, ORG, SITE, 0, 100)
    assert [(e.seq, e.id, e.body) for e in read] == [
        (s, f"ev-{n}", b'{"n":%d}' % n) for s, n in zip(seqs, range(1, 6), strict=True)
    ]
    assert read[0].timestamp == 1_700_000_001.0 and read[0].org_id == ORG


async def test_empty_log(store: Store) -> None:
    """An empty log: max_seq and oldest_seq are 0, nothing to read."""
    assert await store.max_seq() == 0
    assert await store.oldest_seq() == 0
    assert await store.read_events(TOPIC, ORG, None, 0, 10) == []
    assert (await store.commit([AppendEvents([])])).event_seqs == []


async def test_read_events_matching_rules(store: Store) -> None:
    """Site streams see their site; org streams see the whole org; other orgs and topics
    never; after_seq and limit bound the read."""
    result = await store.commit(
        [
            AppendEvents(
                [
                    event(1),  # org-1 / site-1
                    event(2, site="site-2"),  # org-1 / site-2
                    event(3, site=None),  # org-1, no site
                    event(4, org="org-2", site=SITE),  # another org, same site id
                    event(5, topic="alarms"),  # another topic
                    event(6),  # org-1 / site-1
                ]
            )
        ]
    )
    s = result.event_seqs
    site = await store.read_events(TOPIC, ORG, SITE, 0, 100)
    assert [e.id for e in site] == ["ev-1", "ev-6"]
    org = await store.read_events(TOPIC, ORG, None, 0, 100)
    assert [e.id for e in org] == ["ev-1", "ev-2", "ev-3", "ev-6"]
    assert [e.id for e in await store.read_events(TOPIC, ORG, None, s[1], 100)] == ["ev-3", "ev-6"]
    assert [e.id for e in await store.read_events(TOPIC, ORG, None, 0, 2)] == ["ev-1", "ev-2"]
    assert [e.id for e in await store.read_events("alarms", ORG, None, 0, 9)] == ["ev-5"]
    assert await store.read_events(TOPIC, ORG, SITE, s[5], 100) == []


@pytest.mark.parametrize("newline_in", ["nothing", "an id", "a body"])
async def test_events_read_back_exactly_whatever_their_bytes(store: Store, newline_in: str) -> None:
    """Every field of every event reads back as appended, through site and org reads,
    with a newline inside an id or a body (the PostgreSQL store splits joined ids and
    bodies on newlines), an empty body and bytes that are not UTF-8."""
    bodies = [b'{"n":1}', b"", b"\xff\xfe not utf-8", b'{"s":"caf\xc3\xa9"}', b"{}"]
    ids = ["ev-a", "ev-b", "ev-\u00e9", "ev-d", "ev-e"]
    if newline_in == "an id":
        ids[2] = "ev-\nc"
    elif newline_in == "a body":
        bodies[3] = b'{"a":\n1}\n'
    sites = [SITE, SITE, None, SITE, "site-2"]
    appended = [
        NewEvent(i, ORG, s, TOPIC, 1_700_000_000.5 + n, b)
        for n, (i, s, b) in enumerate(zip(ids, sites, bodies, strict=True))
    ]
    seqs = (await store.commit([AppendEvents(appended)])).event_seqs
    expected = [
        StoredEvent(seq, e.id, e.org_id, e.site_id, e.topic, e.timestamp, e.body)
        for seq, e in zip(seqs, appended, strict=True)
    ]
    assert await store.read_events(TOPIC, ORG, None, 0, 100) == expected
    assert await store.read_events(TOPIC, ORG, SITE, 0, 100) == [
        e for e in expected if e.site_id == SITE
    ]
    assert await store.read_events(TOPIC, ORG, None, seqs[0], 2) == expected[1:3]


async def test_prune_events_by_timestamp(store: Store) -> None:
    """PruneEvents deletes events older than the bound; seqs are not reused afterwards."""
    seqs = (await store.commit([AppendEvents([event(n) for n in range(1, 6)])])).event_seqs
    await store.commit([PruneEvents(before=1_700_000_004.0)])
    assert [e.id for e in await store.read_events(TOPIC, ORG, None, 0, 10)] == ["ev-4", "ev-5"]
    assert await store.oldest_seq() == seqs[3]
    await store.commit([PruneEvents(before=2e9)])
    assert await store.oldest_seq() == 0
    later = (await store.commit([AppendEvents([event(9)])])).event_seqs
    assert later[0] > seqs[-1]


async def test_ten_thousand_events_in_one_commit(store: Store) -> None:
    """10,000 events append in one commit and read back complete and in order."""
    events = [event(n) for n in range(10_000)]
    seqs = (await store.commit([AppendEvents(events)])).event_seqs
    assert len(seqs) == 10_000 and seqs == sorted(seqs)
    read, after = [], 0
    for _ in range(20):  # bounded: pages of 1000
        page = await store.read_events(TOPIC, ORG, None, after, 1000)
        if not page:
            break
        read.extend(page)
        after = page[-1].seq
    assert [e.id for e in read] == [e.id for e in events]
    assert [e.seq for e in read] == seqs


# --- streams -------------------------------------------------------------------------


async def test_open_stream_starts_at_newest_and_keeps_existing(store: Store) -> None:
    """A new stream's cursor is the newest seq; opening an existing one changes nothing."""
    await store.commit([AppendEvents([event(1), event(2)])])
    newest = await store.max_seq()
    await store.commit([OpenStream("w1", TOPIC, ORG, SITE)])
    [stream] = await store.list_streams("w1")
    assert (stream.cursor, stream.org_id, stream.site_id) == (newest, ORG, SITE)
    assert (stream.attempt, stream.lease_owner, stream.failing_since) == (0, None, None)
    assert await store.lease_streams("me", 100.0, 30.0, 10) == []  # no history
    await store.commit([AppendEvents([event(3)])])
    [leased] = await store.lease_streams("me", 100.0, 30.0, 10)
    assert leased.webhook_id == "w1"
    await store.commit([SaveStream("w1", TOPIC, "me", 7, 2, 50.0, 40.0)])
    await store.commit([OpenStream("w1", TOPIC, "other-org", None)])
    [again] = await store.list_streams("w1")
    assert (again.cursor, again.attempt, again.org_id, again.site_id) == (7, 2, ORG, SITE)


async def test_open_stream_in_the_commit_that_appends(store: Store) -> None:
    """Ops apply in order: a stream opened after an append starts past those events."""
    result = await store.commit(
        [
            AppendEvents([event(1)]),
            OpenStream("w1", TOPIC, ORG, None),
            OpenStream("w2", TOPIC, ORG, None),
        ]
    )
    [s1] = await store.list_streams("w1")
    assert s1.cursor == result.event_seqs[0]


async def test_close_streams_keeps_listed_topics(store: Store) -> None:
    """CloseStreams deletes a webhook's streams except keep_topics, and no other webhook's."""
    await store.commit(
        [OpenStream("w1", t, ORG, None) for t in ("a", "b", "c")]
        + [OpenStream("w2", "a", ORG, None)]
    )
    await store.commit([CloseStreams("w1", keep_topics=("b",))])
    assert [s.topic for s in await store.list_streams("w1")] == ["b"]
    await store.commit([CloseStreams("w1")])
    assert await store.list_streams("w1") == []
    assert [s.topic for s in await store.list_streams("w2")] == ["a"]


async def test_lease_takes_only_due_streams_with_events(store: Store) -> None:
    """Only streams that are due, unleased and have matching events after the cursor."""
    await store.commit(
        [
            OpenStream("site-hook", TOPIC, ORG, SITE),
            OpenStream("org-hook", TOPIC, ORG, None),
            OpenStream("other-site", TOPIC, ORG, "site-9"),
            OpenStream("other-topic", "alarms", ORG, None),
            OpenStream("other-org", TOPIC, "org-2", None),
            OpenStream("later", TOPIC, ORG, None),
        ]
    )
    assert await store.lease_streams("me", 100.0, 30.0, 10) == []
    await store.commit([AppendEvents([event(1)])])
    first = await store.lease_streams("x", 100.0, 30.0, 10)
    assert sorted(s.webhook_id for s in first) == ["later", "org-hook", "site-hook"]
    # "later" fails and waits for its retry time; the others are released as they were.
    await store.commit(
        [
            SaveStream(s.webhook_id, TOPIC, "x", s.cursor, 1, 500.0, 90.0)
            if s.webhook_id == "later"
            else SaveStream(s.webhook_id, TOPIC, "x", s.cursor, 0, 0.0, None)
            for s in first
        ]
    )
    leased = await store.lease_streams("me", 200.0, 30.0, 10)
    assert sorted(s.webhook_id for s in leased) == ["org-hook", "site-hook"]
    assert all(s.lease_owner == "me" and s.lease_until == 230.0 for s in leased)
    assert await store.lease_streams("you", 200.0, 30.0, 10) == []  # held by a live owner
    later_leased = await store.lease_streams("you", 600.0, 30.0, 10)
    assert sorted(s.webhook_id for s in later_leased) == ["later", "org-hook", "site-hook"]


async def test_lease_respects_limit(store: Store) -> None:
    """At most ``limit`` streams per call; the next call takes the rest."""
    await store.commit([OpenStream(f"w{i}", TOPIC, ORG, None) for i in range(5)])
    await store.commit([AppendEvents([event(1)])])
    first = await store.lease_streams("me", 100.0, 30.0, 3)
    second = await store.lease_streams("me", 100.0, 30.0, 3)
    assert len(first) == 3 and len(second) == 2
    assert {s.webhook_id for s in first} | {s.webhook_id for s in second} == {
        f"w{i}" for i in range(5)
    }


async def test_leases_are_exclusive_under_concurrency(store: Store, store_twin: Store) -> None:
    """Four owners leasing at once, through two store instances, never share a stream."""
    await store.commit([OpenStream(f"w{i}", TOPIC, ORG, None) for i in range(60)])
    await store.commit([AppendEvents([event(1)])])
    owners = {"a": store, "b": store_twin, "c": store, "d": store_twin}
    taken: dict[str, list[str]] = {owner: [] for owner in owners}

    async def lease_all(s: Store, owner: str) -> None:
        for _ in range(30):  # bounded
            leased = await s.lease_streams(owner, 100.0, 30.0, 3)
            assert all(x.lease_owner == owner for x in leased)
            taken[owner].extend(x.webhook_id for x in leased)
            await asyncio.sleep(0)

    await asyncio.gather(*(lease_all(s, owner) for owner, s in owners.items()))
    everyone = [w for ws in taken.values() for w in ws]
    assert len(everyone) == len(set(everyone)) == 60
    held = {
        s.webhook_id: s.lease_owner for i in range(60) for s in await store.list_streams(f"w{i}")
    }
    assert all(w in taken[owner] for w, owner in held.items() if owner is not None)


async def test_expired_lease_is_taken_over(store: Store) -> None:
    """Once its lease_until passes, another owner takes the stream; the old owner's save
    is then ignored."""
    await store.commit([OpenStream("w1", TOPIC, ORG, None), AppendEvents([event(1)])])
    await store.commit([AppendEvents([event(2)])])
    [first] = await store.lease_streams("old", 100.0, 30.0, 10)
    assert await store.lease_streams("new", 129.0, 30.0, 10) == []
    [taken] = await store.lease_streams("new", 131.0, 30.0, 10)
    assert (taken.lease_owner, taken.lease_until) == ("new", 161.0)
    await store.commit([SaveStream("w1", TOPIC, "old", first.cursor + 99, 3, 0.0, 1.0)])
    [now] = await store.list_streams("w1")
    assert (now.cursor, now.attempt, now.lease_owner) == (first.cursor, 0, "new")


async def test_save_stream_by_owner(store: Store) -> None:
    """The owner's save writes cursor and retry state; release ends the lease, or not."""
    await store.commit([OpenStream("w1", TOPIC, ORG, None), AppendEvents([event(1)])])
    await store.commit([AppendEvents([event(2)])])
    [leased] = await store.lease_streams("me", 100.0, 30.0, 10)
    await store.commit(
        [SaveStream("w1", TOPIC, "me", leased.cursor, 2, 150.0, 90.0, release=False)]
    )
    [kept] = await store.list_streams("w1")
    assert (kept.attempt, kept.next_attempt_at, kept.failing_since) == (2, 150.0, 90.0)
    assert (kept.lease_owner, kept.lease_until) == ("me", 130.0)
    seq = await store.max_seq()
    await store.commit([SaveStream("w1", TOPIC, "me", seq, 0, 0.0, None)])
    [done] = await store.list_streams("w1")
    assert (done.cursor, done.attempt, done.failing_since) == (seq, 0, None)
    assert (done.lease_owner, done.lease_until) == (None, 0.0)
    assert await store.lease_streams("me", 200.0, 30.0, 10) == []  # nothing after the cursor
    await store.commit([SaveStream("w1", TOPIC, "me", 0, 5, 0.0, None)])  # no lease: ignored
    [same] = await store.list_streams("w1")
    assert (same.cursor, same.attempt) == (seq, 0)


async def test_saves_in_one_commit_apply_in_order(store: Store) -> None:
    """Saves of many streams in one commit each land (with or without a release); two saves
    of one stream apply in order, so one after a release is ignored."""
    await store.commit([OpenStream(f"w{i}", TOPIC, ORG, None) for i in range(3)])
    await store.commit([AppendEvents([event(1)])])
    leased = await store.lease_streams("me", 100.0, 30.0, 10)
    assert len(leased) == 3
    seq = await store.max_seq()
    await store.commit(
        [
            SaveStream("w0", TOPIC, "me", seq, 0, 0.0, None),
            SaveStream("w1", TOPIC, "me", seq, 1, 150.0, 90.0, release=False),
            SaveStream("w2", TOPIC, "me", seq, 0, 0.0, None),
            SaveStream("w2", TOPIC, "me", 0, 4, 0.0, 1.0),  # no longer leased: ignored
        ]
    )
    found = {s.webhook_id: s for w in ("w0", "w1", "w2") for s in await store.list_streams(w)}
    assert (found["w0"].cursor, found["w0"].lease_owner) == (seq, None)
    assert (found["w1"].cursor, found["w1"].attempt, found["w1"].lease_owner) == (seq, 1, "me")
    assert (found["w2"].cursor, found["w2"].attempt, found["w2"].lease_owner) == (seq, 0, None)


async def test_renew_extends_only_own_leases(store: Store) -> None:
    """renew_leases moves lease_until of the owner's leases and no one else's."""
    await store.commit([OpenStream("w1", TOPIC, ORG, None), OpenStream("w2", TOPIC, ORG, None)])
    await store.commit([AppendEvents([event(1)])])
    [mine] = await store.lease_streams("me", 100.0, 30.0, 1)
    [theirs] = await store.lease_streams("you", 100.0, 30.0, 1)
    keys = [(mine.webhook_id, TOPIC), (theirs.webhook_id, TOPIC), ("none", TOPIC)]
    await store.renew_leases("me", keys, 500.0)
    await store.renew_leases("me", [], 900.0)
    [m] = await store.list_streams(mine.webhook_id)
    [t] = await store.list_streams(theirs.webhook_id)
    assert (m.lease_owner, m.lease_until) == ("me", 500.0)
    assert (t.lease_owner, t.lease_until) == ("you", 130.0)
    # At 200 the unrenewed lease has expired; the renewed one is still held.
    retaken = await store.lease_streams("you", 200.0, 30.0, 10)
    assert [s.webhook_id for s in retaken] == [theirs.webhook_id]


async def test_worker_heartbeat_counts_live_workers_and_streams_in_play(
    store: Store, store_twin: Store
) -> None:
    """Workers alive (through any store instance) and streams leased or due are counted;
    a worker whose time ran out is forgotten, and one that says it is gone is not counted."""
    await store.commit([OpenStream(f"w{i}", TOPIC, ORG, None) for i in range(4)])
    await store.commit([OpenStream("idle", "alarms", ORG, None)])  # no events: not in play
    load = await store.worker_heartbeat("a", 100.0, 130.0)
    assert (load.workers, load.streams) == (1, 0)
    await store.commit([AppendEvents([event(1)])])
    [leased] = await store.lease_streams("a", 100.0, 30.0, 1)  # one leased, three due
    load = await store_twin.worker_heartbeat("b", 101.0, 131.0)
    assert (load.workers, load.streams) == (2, 4)
    # A stream caught up to the log and released is no longer in play.
    newest = await store.max_seq()
    await store.commit([SaveStream(leased.webhook_id, TOPIC, "a", newest, 0, 0.0, None)])
    load = await store.worker_heartbeat("a", 102.0, 132.0)
    assert (load.workers, load.streams) == (2, 3)
    # Neither beats again: at 140 both times (131, 132) have run out.
    load = await store.worker_heartbeat("c", 140.0, 170.0)
    assert load.workers == 1
    load = await store.worker_heartbeat("a", 141.0, 171.0)
    assert load.workers == 2
    await store.worker_gone("c")
    load = await store.worker_heartbeat("a", 142.0, 172.0)
    assert load.workers == 1


# --- counters --------------------------------------------------------------------------


async def test_counters_add_up_and_expire(store: Store) -> None:
    """Adds accumulate per key and answer the totals of the keys given; a counter is
    dropped once expired, and a later add starts it again from 0."""
    assert await store.add_counts({"a": 2, "b": 1}, expires_at=100.0, now=10.0) == {"a": 2, "b": 1}
    assert await store.add_counts({"a": 3}, expires_at=100.0, now=20.0) == {"a": 5}
    assert await store.add_counts({"b": 0}, expires_at=100.0, now=30.0) == {"b": 1}
    assert await store.add_counts({"a": 1}, expires_at=300.0, now=150.0) == {"a": 1}
    assert await store.add_counts({}, expires_at=300.0, now=160.0) == {}


async def test_concurrent_adds_lose_nothing(store: Store, store_twin: Store) -> None:
    """Two store instances (two processes) adding to one key at once: the total is the
    sum of every add."""

    async def add_many(s: Store) -> list[int]:
        return [(await s.add_counts({"k": 1}, 1e12, 0.0))["k"] for _ in range(40)]

    seen = await asyncio.gather(add_many(store), add_many(store_twin))
    assert (await store.add_counts({"k": 0}, 1e12, 0.0))["k"] == 80
    # every total was answered once: no two adds saw the same count
    assert sorted(seen[0] + seen[1]) == list(range(1, 81))


async def test_listen_wakes_after_append(store: Store) -> None:
    """A commit that appends events calls the listen callback; one without events doesn't."""
    woke = asyncio.Event()
    calls: list[int] = []

    def on_wake() -> None:
        calls.append(1)
        woke.set()

    await store.listen(on_wake)
    await store.commit([Put("orgs", {"id": "o1"})])
    await asyncio.sleep(0.2)
    assert calls == []
    await store.commit([AppendEvents([event(1)])])
    await asyncio.wait_for(woke.wait(), timeout=5)
    assert calls


@pytest.mark.postgres
async def test_postgres_notify_wakes_another_instance(fresh_postgres_url: str) -> None:
    """On PostgreSQL, an append through one store wakes the listener of another."""
    writer, reader = open_store(fresh_postgres_url), open_store(fresh_postgres_url)
    await writer.open()
    await reader.open()
    try:
        woke = asyncio.Event()
        await reader.listen(woke.set)
        await writer.commit([AppendEvents([event(1)])])
        await asyncio.wait_for(woke.wait(), timeout=5)
    finally:
        await writer.close()
        await reader.close()
