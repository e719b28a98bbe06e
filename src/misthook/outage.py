"""Log lines for a background task whose store calls fail for a while.

During an outage of the database every loop of every process fails at each try; a
traceback per try (several a second) buried the one thing to know. A task says once that
it is failing, and why, then once that it works again.
"""

from __future__ import annotations

import logging


class OutageLog:
    def __init__(self, logger: logging.Logger, what: str) -> None:
        self._logger = logger
        self._what = what
        self.failures = 0  # in a row, since the last success

    def failed(self, exc: BaseException) -> None:
        """One more failed try; logged when it is the first of a run."""
        self.failures += 1
        if self.failures == 1:
            self._logger.warning(
                "%s failed (%s); trying again, and saying so when it works", self._what, exc
            )

    def worked(self) -> None:
        """A try that succeeded; logged when it ends a run of failures."""
        if self.failures:
            self._logger.info("%s works again after %d failed tries", self._what, self.failures)
            self.failures = 0
