"""Background tasks always stop: a task that loses a cancellation (as `asyncio.wait_for` can on
Python 3.11) is cancelled again, and one that refuses to stop is left behind after the bound
instead of hanging shutdown."""

from __future__ import annotations

import asyncio

from services.runtime.tasks import cancel_and_wait


async def test_a_lost_cancellation_is_sent_again() -> None:
    lost = 0

    async def loses_the_first_cancel() -> None:
        nonlocal lost
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if lost == 0:
                    lost += 1
                    continue  # what a swallowed cancellation looks like from outside
                raise

    task = asyncio.create_task(loses_the_first_cancel(), name="stubborn")
    await asyncio.sleep(0)
    await cancel_and_wait([task], timeout_s=5.0)
    assert task.cancelled() and lost == 1


async def test_a_task_that_never_stops_does_not_hang_the_caller() -> None:
    release = asyncio.Event()

    async def refuses() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(refuses(), name="refuses")
    await asyncio.sleep(0)
    await cancel_and_wait([task], timeout_s=0.3, retry_s=0.05)
    assert not task.done()  # left behind, and the caller went on
    release.set()
    task.cancel()
    await asyncio.wait({task}, timeout=1.0)
    assert task.done()


async def test_failures_are_consumed_and_finished_tasks_are_fine() -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    async def finishes() -> None:
        return None

    failed = asyncio.create_task(fails())
    finished = asyncio.create_task(finishes())
    await asyncio.sleep(0.01)
    await cancel_and_wait([failed, finished])
    assert isinstance(failed.exception(), RuntimeError) and finished.result() is None
