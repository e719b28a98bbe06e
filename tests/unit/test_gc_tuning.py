"""The collector settings of the delivering processes."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from misthook import gc_tuning


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
def test_tune_collects_less_often_and_freezes_what_start_up_made() -> None:
    gc.unfreeze()
    start_up = object(), [object()]  # a container the collector tracks
    assert gc.is_tracked(start_up)
    gc_tuning.tune()
    assert gc.get_threshold() == (
        gc_tuning.YOUNG_THRESHOLD,
        gc_tuning.OLDER_THRESHOLD,
        gc_tuning.OLDER_THRESHOLD,
    )
    assert gc.get_threshold()[0] > 700  # CPython's default, which cost the reads a fifth
    frozen = gc.get_freeze_count()
    assert frozen > 0
    assert not any(start_up is o for o in gc.get_objects())  # out of every generation
