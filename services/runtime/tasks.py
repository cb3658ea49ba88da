"""Stopping background tasks so that shutdown always ends.

Cancelling a task once is not always enough on Python 3.11: `asyncio.wait_for` can swallow a
cancellation that arrives just as the awaited thing completes (gh-86296), and the task then runs
on and a plain `await task` waits forever. `cancel_and_wait` cancels again until the tasks have
ended, within a bound, and says which ones did not."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from services.runtime.logs import get_logger

__all__ = ["cancel_and_wait"]

_log = get_logger("tasks")


async def cancel_and_wait(
    tasks: Iterable[asyncio.Task[None]], *, timeout_s: float = 10.0, retry_s: float = 0.1
) -> None:
    """Cancel `tasks` and wait until they end, cancelling again every `retry_s`; after
    `timeout_s` the ones still running are logged and left behind. Their results and errors are
    consumed (a task's own failure was logged where it happened)."""
    pending = {t for t in tasks if not t.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while pending:
        for task in pending:
            task.cancel()
        left = deadline - loop.time()
        if left <= 0:
            _log.warning("tasks.not_stopped", tasks=sorted(t.get_name() for t in pending))
            return
        _, pending = await asyncio.wait(pending, timeout=min(retry_s, left))
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: no "exception was never retrieved" at exit
