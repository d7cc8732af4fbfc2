"""Waiting for the first of several events, with a time limit: how every loop of the gateway
sleeps until there is something to do; and retry delays with jitter."""

from __future__ import annotations

import asyncio
import random


async def first_of(*events: asyncio.Event, seconds: float | None) -> None:
    """Wait until one of `events` is set or `seconds` have passed (None: no limit)."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


_RANDOM = random.Random()


def jittered(seconds: float, rng: random.Random = _RANDOM) -> float:
    """A retry delay between half of `seconds` and `seconds`, drawn at random: gateways that lost
    the cloud together (an outage) do not come back to it in lockstep."""
    return seconds * rng.uniform(0.5, 1.0)
