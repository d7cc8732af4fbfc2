"""`read_printer` runs its walks and the GET of the vendor's objects at once with one task more
(`printer._together`): both finish, and the GET never outlives walks that failed or were
cancelled (the reading's deadline)."""

from __future__ import annotations

import asyncio

import pytest

from protocols.snmp.printer import _together


async def test_the_walks_and_the_get_both_finish() -> None:
    done: list[str] = []

    async def walks() -> None:
        await asyncio.sleep(0.01)
        done.append("walks")

    async def gets() -> None:
        done.append("get sent")
        await asyncio.sleep(0.02)
        done.append("get")

    await _together(walks(), gets())
    assert done == ["get sent", "walks", "get"]
    await _together(walks(), None)
    assert done[-1] == "walks"


@pytest.mark.parametrize("ending", ["fails", "cancelled"])
async def test_the_get_does_not_outlive_the_walks(ending: str) -> None:
    started = asyncio.Event()
    get_cancelled = asyncio.Event()

    async def gets() -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            get_cancelled.set()
            raise

    async def walks() -> None:
        await started.wait()
        if ending == "fails":
            raise RuntimeError("the walks failed")
        await asyncio.sleep(30)

    reading = asyncio.ensure_future(_together(walks(), gets()))
    await started.wait()
    if ending == "cancelled":
        reading.cancel()
    with pytest.raises(RuntimeError if ending == "fails" else asyncio.CancelledError):
        await reading
    await asyncio.wait_for(get_cancelled.wait(), 5)
