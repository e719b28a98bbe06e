"""The recorder keeps attempt records and cursor moves through a store that fails."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import cast

import pytest

from misthook.delivery.recorder import Recorder
from misthook.errors import StoreError
from misthook.store.base import CommitResult, Op, Put, SaveStream, Store


class FlakyStore:
    """Takes commits (only what the recorder calls) unless ``down``, or they hold a record
    with the id ``refused``."""

    def __init__(self, down: bool = False) -> None:
        self.down = down
        self.committed: list[list[Op]] = []

    async def commit(self, ops: Sequence[Op]) -> CommitResult:
        if self.down:
            raise StoreError("PostgreSQL: [Errno 111] Connection refused")
        if any(isinstance(op, Put) and op.doc["id"] == "refused" for op in ops):
            raise StoreError("PostgreSQL: invalid input")
        self.committed.append(list(ops))
        return CommitResult(event_seqs=[])

    def record_ids(self) -> list[str]:
        return [op.doc["id"] for ops in self.committed for op in ops if isinstance(op, Put)]


def save(cursor: int) -> SaveStream:
    return SaveStream("w1", "audits", "me", cursor, 0, 0.0, None, False)


async def test_records_outlive_an_outage_in_order(caplog: pytest.LogCaptureFixture) -> None:
    store = FlakyStore(down=True)
    recorder = Recorder(cast(Store, store))
    for n in range(5):
        recorder.record("deliveries", {"id": f"r{n}"})
    recorder.save(save(5))
    for n in range(5, 8):
        with pytest.raises(StoreError):
            await recorder.flush()
        recorder.record("deliveries", {"id": f"r{n}"})
    recorder.save(save(9))
    assert store.committed == []
    store.down = False
    with caplog.at_level(logging.INFO, logger="misthook.delivery.recorder"):
        await recorder.flush()
    assert store.record_ids() == [f"r{n}" for n in range(8)]
    [ops] = store.committed
    assert [op for op in ops if isinstance(op, SaveStream)] == [save(9)]  # the newest wins
    assert recorder.pending == 0
    assert "written again" in caplog.text


async def test_a_long_outage_keeps_only_the_newest_records(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FlakyStore(down=True)
    recorder = Recorder(cast(Store, store), max_kept=3)
    for n in range(5):
        recorder.record("deliveries", {"id": f"r{n}"})
    with caplog.at_level(logging.ERROR), pytest.raises(StoreError):
        await recorder.flush()
    assert "dropped the 2 oldest delivery records" in caplog.text
    store.down = False
    await recorder.flush()
    assert store.record_ids() == ["r2", "r3", "r4"]


async def test_a_refused_record_is_dropped_and_the_cursor_moves_still_land() -> None:
    store = FlakyStore()
    recorder = Recorder(cast(Store, store))
    recorder.record("deliveries", {"id": "refused"})
    recorder.record("deliveries", {"id": "fine"})
    recorder.save(save(3))
    await recorder.flush()  # no error: the saves went through alone
    assert store.committed == [[save(3)]]  # and "fine" with "refused", tried once more
    assert recorder.pending == 0
    recorder.record("deliveries", {"id": "after"})
    await recorder.flush()
    assert store.record_ids() == ["after"]
