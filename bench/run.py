"""``make bench``: misthook's delivery engine measured beside a bare aiohttp client.

Starts the fast receiver (bench/receiver.py, its own process) and, per case, a fresh
``misthook serve`` on SQLite (or PostgreSQL with ``misthook worker`` processes), publishes
through the publish API and reads what the receiver counted. The bare ceiling is an aiohttp
client POSTing single-event messages to the same receiver in the same run; the ratios are
what to compare between machines, not the absolute numbers.

Every case is bounded in events and time. ``--backlog 1000000`` runs the full drain case
(the default is smaller so that the whole bench stays within a few minutes).

    python -m bench.run [--events N] [--single-events N] [--backlog N] [--seconds S]
                        [--cases batched,single,...] [--no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from misthook.testing.client import ApiClient
from misthook.testing.server import ServerProcess, free_port, init_database, misthook_cmd

TOPIC = "device-events"
ENV = {
    "MISTHOOK_EGRESS_ALLOW": "127.0.0.0/8",
    "MISTHOOK_RATE_LIMIT_PER_HOUR": "1000000000",
    "MISTHOOK_LEASE_S": "10",
}
PAD = "x" * 120  # events of about 200 bytes
CASES = ("bare", "batched", "single", "fanout", "blackhole", "latency", "backlog", "postgres")


# --- the receiver ------------------------------------------------------------------------


@dataclasses.dataclass
class ReceiverProcess:
    port: int = dataclasses.field(default_factory=free_port)
    blackhole_port: int = dataclasses.field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def blackhole_url(self) -> str:
        return f"http://127.0.0.1:{self.blackhole_port}/hook"

    def start(self) -> ReceiverProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.receiver", str(self.port), str(self.blackhole_port)],
            cwd=Path(__file__).resolve().parent.parent,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                ApiClient(f"http://127.0.0.1:{self.port}").get("/stats")
                return self
            time.sleep(0.05)
        raise RuntimeError("the bench receiver did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def stats(self) -> dict[str, Any]:
        answer: dict[str, Any] = ApiClient(f"http://127.0.0.1:{self.port}").get("/stats").json()
        return answer

    def reset(self) -> None:
        ApiClient(f"http://127.0.0.1:{self.port}").post("/reset", {})

    def wait_events(self, count: int, timeout_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            stats = self.stats()
            if stats["events"] >= count or time.monotonic() > deadline:
                return stats
            time.sleep(0.05)


# --- misthook under test -----------------------------------------------------------------


@dataclasses.dataclass
class Misthook:
    server: ServerProcess
    api: ApiClient
    org_id: str
    site_id: str
    token: str

    def webhook(self, url: str, **fields: Any) -> str:
        body = {"name": "bench", "url": url, "topics": [TOPIC], **fields}
        answer = self.api.post(f"/api/v1/sites/{self.site_id}/webhooks", body)
        if answer.status != 200:
            raise RuntimeError(f"webhook create failed: {answer.body!r}")
        webhook_id: str = answer.json()["id"]
        return webhook_id

    @property
    def publish_url(self) -> str:
        return f"{self.server.base_url}/api/v1/sites/{self.site_id}/events/{TOPIC}"


@contextlib.contextmanager
def misthook(
    workdir: Path, database: str | None = None, *extra: str, env: dict[str, str] | None = None
) -> Iterator[Misthook]:
    database = database or str(workdir / f"bench-{time.monotonic_ns()}.db")
    full_env = {**ENV, **(env or {})}
    ids = init_database(database, full_env)
    server = ServerProcess(database, workdir, extra_args=extra, env=full_env).start()
    try:
        yield Misthook(
            server, server.client(ids["token"]), ids["org_id"], ids["site_id"], ids["token"]
        )
    finally:
        server.stop()


def events(start: int, count: int) -> list[dict[str, Any]]:
    now = time.time()
    return [
        {"type": "AP_RESTARTED", "n": n, "t": now, "pad": PAD} for n in range(start, start + count)
    ]


async def publish_all(mh: Misthook, total: int, *, chunk: int = 5000, parallel: int = 4) -> None:
    """Publish ``total`` events as fast as the publish API takes them."""
    headers = {"Authorization": f"Token {mh.token}", "Content-Type": "application/json"}
    starts = list(range(0, total, chunk))

    async def publisher(session: aiohttp.ClientSession) -> None:
        while starts:
            start = starts.pop(0)
            body = orjson.dumps({"events": events(start, min(chunk, total - start))})
            async with session.post(mh.publish_url, data=body, headers=headers) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"publish failed: {resp.status} {await resp.text()}")

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(publisher(session) for _ in range(parallel)))


async def publish_paced(mh: Misthook, rate_per_s: int, seconds: float) -> int:
    """Publish ``rate_per_s`` events per second for ``seconds``, every 10 ms; returns the count."""
    headers = {"Authorization": f"Token {mh.token}", "Content-Type": "application/json"}
    per_tick = max(1, rate_per_s // 100)
    sent = 0
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        tick = 0
        while time.monotonic() - started < seconds:
            body = orjson.dumps({"events": events(sent, per_tick)})
            async with session.post(mh.publish_url, data=body, headers=headers) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"publish failed: {resp.status}")
            sent += per_tick
            tick += 1
            delay = started + tick * 0.01 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
    return sent


# --- measurements ---------------------------------------------------------------------------


def percentiles(latencies: list[float]) -> tuple[float, float]:
    if len(latencies) < 2:
        return (latencies[0] if latencies else float("nan"),) * 2
    q = statistics.quantiles(latencies, n=100)
    return q[49] * 1000, q[98] * 1000


def row(
    case: str, stats: dict[str, Any], started: float, expected: int, **extra: Any
) -> dict[str, Any]:
    elapsed = max(stats["last_at"] - started, 1e-9)
    p50, p99 = percentiles(stats["latencies"])
    return {
        "case": case,
        "events": stats["events"],
        "expected": expected,
        "events_per_s": stats["events"] / elapsed,
        "messages_per_s": stats["messages"] / elapsed,
        "p50_ms": p50,
        "p99_ms": p99,
        **extra,
    }


async def bare_ceiling(
    rx: ReceiverProcess, seconds: float, concurrency: int = 64
) -> dict[str, Any]:
    """A bare aiohttp client POSTing single-event messages to the same receiver."""
    rx.reset()
    body = orjson.dumps({"topic": TOPIC, "events": [{"n": 0, "t": time.time(), "pad": PAD}]})
    deadline = time.monotonic() + seconds
    done = 0

    async def loop(session: aiohttp.ClientSession) -> None:
        nonlocal done
        while time.monotonic() < deadline:
            async with session.post(rx.url, data=body) as resp:
                await resp.read()
                done += resp.status == 200

    connector = aiohttp.TCPConnector(limit=concurrency)
    started = time.monotonic()
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(loop(session) for _ in range(concurrency)))
    elapsed = time.monotonic() - started
    return {
        "case": "bare aiohttp ceiling",
        "events": done,
        "expected": done,
        "events_per_s": done / elapsed,
        "messages_per_s": done / elapsed,
        "p50_ms": float("nan"),
        "p99_ms": float("nan"),
    }


def case_batched(rx: ReceiverProcess, workdir: Path, total: int) -> dict[str, Any]:
    with misthook(workdir) as mh:
        mh.webhook(rx.url)
        rx.reset()
        started = time.time()
        asyncio.run(publish_all(mh, total))
        stats = rx.wait_events(total, timeout_s=120)
    return row("one batched webhook", stats, started, total)


def case_single(rx: ReceiverProcess, workdir: Path, total: int) -> dict[str, Any]:
    with misthook(workdir) as mh:
        mh.webhook(rx.url, single_event_per_message=True)
        rx.reset()
        started = time.time()
        asyncio.run(publish_all(mh, total))
        stats = rx.wait_events(total, timeout_s=120)
    return row("single_event_per_message", stats, started, total)


def case_fanout(rx: ReceiverProcess, workdir: Path, seconds: float) -> dict[str, Any]:
    with misthook(workdir) as mh:
        for _ in range(100):
            mh.webhook(rx.url)
        rx.reset()
        started = time.time()
        sent = asyncio.run(publish_paced(mh, 5000, seconds))
        stats = rx.wait_events(sent * 100, timeout_s=60)
    return row(
        "100 webhooks, 5k events/s", stats, started, sent * 100, published_per_s=sent / seconds
    )


def case_blackhole(rx: ReceiverProcess, workdir: Path, seconds: float) -> dict[str, Any]:
    with misthook(workdir) as mh:
        mh.webhook(rx.blackhole_url)
        for _ in range(10):
            mh.webhook(rx.url)
        rx.reset()
        started = time.time()
        sent = asyncio.run(publish_paced(mh, 5000, seconds))
        stats = rx.wait_events(sent * 10, timeout_s=60)
    return row(
        "10 healthy + 1 black-holed, 5k/s",
        stats,
        started,
        sent * 10,
        published_per_s=sent / seconds,
    )


def case_latency(rx: ReceiverProcess, workdir: Path, seconds: float) -> dict[str, Any]:
    with misthook(workdir) as mh:
        mh.webhook(rx.url)
        rx.reset()
        started = time.time()
        sent = asyncio.run(publish_paced(mh, 1000, seconds))
        stats = rx.wait_events(sent, timeout_s=30)
    return row(
        "publish->receipt at 1k events/s", stats, started, sent, published_per_s=sent / seconds
    )


def peak_rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def case_backlog(rx: ReceiverProcess, workdir: Path, total: int) -> dict[str, Any]:
    database = str(workdir / "backlog.db")
    with misthook(workdir, database, "--no-workers") as mh:
        mh.webhook(rx.url)
        asyncio.run(publish_all(mh, total, chunk=10000))
    rx.reset()
    server = ServerProcess(database, workdir, env=ENV).start()
    started = time.time()
    try:
        assert server.proc is not None
        stats = rx.wait_events(total, timeout_s=600)
        rss = peak_rss_mb(server.proc.pid)
    finally:
        server.stop()
    return row(f"backlog drain of {total} events", stats, started, total, peak_rss_mb=rss)


def case_postgres(rx: ReceiverProcess, workdir: Path, per_hook: int) -> list[dict[str, Any]]:
    from misthook.testing.pg_server import PostgresServer

    pg = PostgresServer().start()
    rows = []
    try:
        for workers in (1, 2):
            database = pg.new_database("bench")
            with misthook(workdir, database, "--no-workers") as mh:
                for _ in range(10):
                    mh.webhook(rx.url, single_event_per_message=True)
                asyncio.run(publish_all(mh, per_hook))
                rx.reset()
                started = time.time()
                procs = [
                    subprocess.Popen(
                        misthook_cmd("worker", "--database", database),
                        env={**os.environ, **ENV},
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                    for _ in range(workers)
                ]
                try:
                    stats = rx.wait_events(per_hook * 10, timeout_s=180)
                finally:
                    for proc in procs:
                        proc.terminate()
                    for proc in procs:
                        proc.wait(timeout=20)
            rows.append(
                row(
                    f"PostgreSQL, {workers} worker(s), 10 single-event hooks",
                    stats,
                    started,
                    per_hook * 10,
                )
            )
    finally:
        pg.stop()
    return rows


# --- report ---------------------------------------------------------------------------------


def print_table(rows: list[dict[str, Any]], ceiling: float) -> None:
    print(
        f"\n{'case':44} {'events':>9} {'events/s':>10} {'msgs/s':>9} {'msgs/ceiling':>12} "
        f"{'p50 ms':>8} {'p99 ms':>8}  notes"
    )
    for r in rows:
        ratio = r["messages_per_s"] / ceiling if ceiling else float("nan")
        notes = []
        if r["events"] < r["expected"]:
            notes.append(f"INCOMPLETE {r['events']}/{r['expected']}")
        if "published_per_s" in r:
            notes.append(f"published {r['published_per_s']:.0f}/s")
        if "peak_rss_mb" in r:
            notes.append(f"peak RSS {r['peak_rss_mb']:.0f} MB")
        print(
            f"{r['case']:44} {r['events']:>9} {r['events_per_s']:>10.0f} "
            f"{r['messages_per_s']:>9.0f} {ratio:>12.2f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f}"
            f"  {' '.join(notes)}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000, help="batched case size")
    parser.add_argument("--single-events", type=int, default=20_000, help="single-event case size")
    parser.add_argument(
        "--backlog", type=int, default=200_000, help="backlog drain size (1000000: full)"
    )
    parser.add_argument(
        "--pg-events", type=int, default=5000, help="events per hook, PostgreSQL case"
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the paced cases")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated subset")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL case")
    args = parser.parse_args(argv)
    chosen = [c for c in args.cases.split(",") if c]
    rx = ReceiverProcess().start()
    rows: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="misthook-bench-") as tmp:
            workdir = Path(tmp)
            bare = asyncio.run(bare_ceiling(rx, 3.0))
            rows.append(bare)
            if "batched" in chosen:
                rows.append(case_batched(rx, workdir, args.events))
            if "single" in chosen:
                rows.append(case_single(rx, workdir, args.single_events))
            if "fanout" in chosen:
                rows.append(case_fanout(rx, workdir, args.seconds))
            if "blackhole" in chosen:
                rows.append(case_blackhole(rx, workdir, args.seconds))
            if "latency" in chosen:
                rows.append(case_latency(rx, workdir, args.seconds))
            if "backlog" in chosen:
                rows.append(case_backlog(rx, workdir, args.backlog))
            if "postgres" in chosen and not args.no_postgres:
                rows.extend(case_postgres(rx, workdir, args.pg_events))
    finally:
        rx.stop()
    print_table(rows, bare["messages_per_s"])
    print(
        "\nmsgs/ceiling: messages per second relative to the bare aiohttp client measured "
        "above (targets: one batched webhook >= 50k events/s; single-event >= 0.5)."
    )


if __name__ == "__main__":
    main()
