"""`cloud.wake_bus`: a signal committed through one `Database` reaches the `WakeBus` of another
(another worker's) over PostgreSQL LISTEN/NOTIFY, only on commit, and again after the listening
connection was killed by the server; on SQLite it is dispatched in-process after the commit."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from cloud.db import Database
from cloud.wake_bus import WakeBus
from tests.support.cloud_helpers import sqlite_url

pytest_plugins = ("tests.support.cloud_helpers",)

pytestmark = pytest.mark.timeout(60)

WITHIN = 1.0
"""Seconds a committed signal may take to reach another worker (the issue's bound)."""


class Oops(Exception):
    pass


@contextlib.asynccontextmanager
async def listening(url: str, *topics: str) -> AsyncIterator[tuple[WakeBus, asyncio.Queue]]:
    """A started bus on its own `Database` whose callbacks put (topic, key) on the queue."""
    db = Database(url)
    bus = WakeBus(db)
    received: asyncio.Queue[tuple[str, str | None]] = asyncio.Queue()
    for topic in topics:
        bus.on(topic, lambda key, topic=topic: received.put_nowait((topic, key)))
    try:
        await bus.start()
        yield bus, received
    finally:
        await bus.close()
        await db.close()


async def signal(db: Database, bus: WakeBus, topic: str, key: str) -> None:
    async with db.write() as session:
        await bus.signal(session, topic, key)


async def test_a_committed_signal_reaches_another_database_s_bus_once(postgres_url: str) -> None:
    sender = Database(postgres_url)
    try:
        async with listening(postgres_url, "changes", "outbox:orders") as (bus, received):
            assert bus.connected
            sending_bus = WakeBus(sender)  # never started: signalling needs no listener
            async with sender.write() as session:
                await sending_bus.signal(session, "changes", "gw-1")
                await sending_bus.signal(session, "changes", "gw-1")  # folded into one
                await sending_bus.signal(session, "outbox:orders", "")
            got = {await asyncio.wait_for(received.get(), WITHIN) for _ in range(2)}
            assert got == {("changes", "gw-1"), ("outbox:orders", "")}
            await signal(sender, sending_bus, "changes", "gw-2")
            assert await asyncio.wait_for(received.get(), WITHIN) == ("changes", "gw-2")
            assert received.empty()
    finally:
        await sender.close()


async def test_a_rolled_back_signal_is_not_delivered(postgres_url: str) -> None:
    sender = Database(postgres_url)
    try:
        async with listening(postgres_url, "changes") as (_bus, received):
            sending_bus = WakeBus(sender)
            with pytest.raises(Oops):
                async with sender.write() as session:
                    await sending_bus.signal(session, "changes", "rolled-back")
                    raise Oops
            await signal(sender, sending_bus, "changes", "committed")
            # NOTIFYs arrive in commit order: the first one delivered is the committed one
            assert await asyncio.wait_for(received.get(), WITHIN) == ("changes", "committed")
    finally:
        await sender.close()


async def test_after_the_listener_is_killed_it_reconnects_and_wakes_everyone(
        postgres_url: str) -> None:
    sender = Database(postgres_url)
    try:
        async with listening(postgres_url, "changes", "engine") as (bus, received):
            async with sender.write() as session:
                killed = (await session.execute(text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND query LIKE 'LISTEN%'"))).scalar_one()
            assert killed == 1
            woken = {await asyncio.wait_for(received.get(), 10) for _ in range(2)}
            assert woken == {("changes", None), ("engine", None)}
            assert bus.connected
            await signal(sender, WakeBus(sender), "engine", "again")
            assert await asyncio.wait_for(received.get(), WITHIN) == ("engine", "again")
    finally:
        await sender.close()


async def test_sqlite_dispatches_in_process_after_commit_only(tmp_path: Path) -> None:
    async with listening(sqlite_url(tmp_path), "changes") as (bus, received):
        assert bus.connected
        with pytest.raises(Oops):
            async with bus.db.write() as session:
                await bus.signal(session, "changes", "rolled-back")
                raise Oops
        assert received.empty()
        async with bus.db.write() as session:
            await bus.signal(session, "changes", "gw-1")
            assert received.empty()  # not before the commit
        assert received.get_nowait() == ("changes", "gw-1")


async def test_a_key_with_a_colon_or_an_oversized_payload_is_refused(tmp_path: Path) -> None:
    async with listening(sqlite_url(tmp_path)) as (bus, _received), bus.db.write() as session:
        for key in ("a:b", "x" * 8000):
            with pytest.raises(ValueError, match="wake-up payload"):
                await bus.signal(session, "changes", key)
