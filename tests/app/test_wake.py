"""The daemon's waits: the first of several events, and jittered retry delays."""

from __future__ import annotations

import asyncio
import random
import time

from gateway.wake import first_of, jittered


async def test_first_of_returns_at_the_first_event_or_the_time_limit() -> None:
    first, second = asyncio.Event(), asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, second.set)
    started = time.monotonic()
    await first_of(first, second, seconds=5)
    assert second.is_set() and not first.is_set() and time.monotonic() - started < 1
    started = time.monotonic()
    await first_of(first, seconds=0.05)
    assert 0.04 <= time.monotonic() - started < 1


def test_retry_delays_are_spread_between_half_and_all_of_the_delay() -> None:
    rng = random.Random(7)
    delays = [jittered(60.0, rng) for _ in range(1000)]
    assert all(30.0 <= d <= 60.0 for d in delays)
    assert max(delays) - min(delays) > 25, "a fleet of gateways does not retry in lockstep"
