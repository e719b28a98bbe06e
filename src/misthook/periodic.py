"""One loop for the background tasks that do a step every N seconds until told to stop.

Retention, the connectivity monitor and the API call counts each had their own copy of
this loop, and only one of them survived an unexpected error: a bug in a pruning pass
would have ended pruning for the life of the process, and storage would have grown
without bound, silently. Here a store failure is an outage (``OutageLog``: a line when it
starts, one when it ends) and anything else is logged with its traceback; either way the
next step comes at its time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from misthook.errors import StoreError
from misthook.outage import OutageLog


async def every(
    seconds: float,
    stop: asyncio.Event,
    step: Callable[[], Awaitable[object]],
    logger: logging.Logger,
    what: str,
    *,
    wait_first: bool = False,
) -> None:
    """Run ``step`` every ``seconds`` until ``stop`` is set: first at once, or with
    ``wait_first`` after the first wait (and then once more when ``stop`` is set, so
    that what the last interval gathered is not lost)."""
    outage = OutageLog(logger, what)
    while not stop.is_set():
        if wait_first:
            await _wait(stop, seconds)
        try:
            await step()
            outage.worked()
        except StoreError as exc:
            outage.failed(exc)
        except Exception:
            logger.exception("%s failed; trying again in %g s", what, seconds)
        if not wait_first:
            await _wait(stop, seconds)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
