"""How much slower this machine runs worker-like code when both of its cores are busy.

Two processes on two virtual cores need not each run as fast as one alone: the host may
place the cores on one physical core's hyperthreads, or share its caches and memory with
other machines. The PostgreSQL case measures this, before each pair of drains, with no
I/O at all: the CPU one loop of a batched worker's own steps takes (split a read's joined
bodies, make an event of each, build five 1,000-event messages), first in one process,
then in two at once. The ratio (two / alone) bounds what a second worker process can add.

    python -m bench.contention            # the slowdown, measured now
    python -m bench.contention --loop 1   # one process: CPU µs per loop, for 1 s
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import orjson

from misthook.delivery import message
from misthook.store.base import StoredEvent

_EVENTS = 1000
_HOOKS = 5  # messages built from each read: five streams per worker, as with two of them


def _joined_bodies() -> bytes:
    """A read's worth of bodies of the bench's delivered events (about 330 bytes each)."""
    return b"\n".join(
        orjson.dumps(
            {
                "type": "AP_RESTARTED",
                "n": n,
                "t": 1.8e9 + n / 7,
                "pad": "x" * 120,
                "org_id": "6748cfa6-4e12-11e6-9188-0242ac110007",
                "site_id": "978c48e6-6ef6-11e6-8bbf-02e208b2d34f",
                "timestamp": 1.8e9 + n / 7,
                "id": f"01930000-0000-7000-8000-{n:012d}",
            }
        )
        for n in range(_EVENTS)
    )


def loop_cost_us(seconds: float) -> float:
    """CPU µs per loop of worker-like steps, looping for ``seconds`` of wall time."""
    joined = _joined_bodies()
    loops = 0
    cpu0, deadline = time.process_time(), time.monotonic() + seconds
    while time.monotonic() < deadline:
        bodies = joined.split(b"\n")
        events = [StoredEvent(seq, "", "", None, "t", 0.0, b) for seq, b in enumerate(bodies)]
        for _ in range(_HOOKS):
            message.build_body("device-events", [e.body for e in events])
        loops += 1
    return (time.process_time() - cpu0) / max(loops, 1) * 1e6


def _costs(processes: int, seconds: float) -> list[float]:
    cmd = [sys.executable, "-m", "bench.contention", "--loop", str(seconds)]
    root = Path(__file__).resolve().parent.parent
    procs = [
        subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, text=True) for _ in range(processes)
    ]
    out = [p.communicate(timeout=seconds + 30)[0] for p in procs]
    return [float(line) for line in out]


def slowdown(seconds: float = 1.0) -> float:
    """CPU per loop of two processes at once over one alone (1.0: no contention)."""
    alone = _costs(1, seconds)[0]
    both = _costs(2, seconds)
    return sum(both) / len(both) / alone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loop", type=float, help="loop alone for this many seconds")
    args = parser.parse_args()
    if args.loop is not None:
        print(f"{loop_cost_us(args.loop):.1f}")
        return
    print(f"two busy processes run {slowdown():.3f} times the CPU per loop of one")


if __name__ == "__main__":
    main()
