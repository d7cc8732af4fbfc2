"""Background work done once across the worker processes sharing one database: rows claimed with
`SELECT … FOR UPDATE SKIP LOCKED` (`claim_one`), and timers kept in the `jobs` table (`run_due`).

Why row locks held across the work, not lease columns: a claim is a transaction left open while
the work runs (a webhook POST, bounded by its timeout; a housekeeping pass), so the row lock *is*
the lease.  A worker that dies (SIGKILL included) drops its connection, PostgreSQL rolls its
transaction back and releases the lock at once, and the row is claimable again exactly as it was:
no lease length to choose, no expiry to wait for, no clock shared between hosts, no reaper, no
extra column or migration of the delivery tables.  The price is one pooled connection per piece
of work in progress (three webhook senders and two timers per worker at most).  Work whose effect
leaves the database (a POST) may thus be done again after a crash before its result is recorded:
webhooks are at least once by design, the repeat carries the same `Idempotency-Key`.

Timers (`run_due`): a `jobs` row per named job holds when it is next due; every worker looks at
it when it could be due, and the one whose claim succeeds runs the job, then moves `due_at` an
interval past the end of the run — so a job starts at most once per interval across workers.
A worker killed mid-run leaves `due_at` as it was; the others see it due and take it over within
one interval (their next look: each looks at least once per interval).

SQLite has one process, the only worker: nothing is locked (SQLite has no row locks and the
cloud's single writer lock must not be held across the work), the row is read, the work done and
the result written in a write transaction of its own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import Integer, Select, String, Text, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from cloud import times
from cloud.db import Base, Database, UTCDateTime

M = TypeVar("M")

log = logging.getLogger(__name__)

WORKER = f"{socket.gethostname()}:{os.getpid()}"
"""This process, as `Job.last_run_by` names it."""


class Job(Base):
    """A timer run once per interval across workers (`run_due`)."""

    __tablename__ = "jobs"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """When the last run started (None: never ran)."""
    last_run_by: Mapped[str | None] = mapped_column(String(128))
    """The worker that ran it last: `host:pid`."""
    last_error: Mapped[str | None] = mapped_column(Text)
    """Why the last run failed; None when it succeeded."""
    runs: Mapped[int] = mapped_column(Integer, default=0)


@dataclass
class Claim(Generic[M]):
    """A claimed row (`claim_one`); change it through `write()`."""

    row: M
    db: Database
    session: AsyncSession | None
    """PostgreSQL: the transaction holding the row lock; None on SQLite."""

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[tuple[AsyncSession, M]]:
        """A session and the row to change in it.  PostgreSQL: the claiming transaction itself
        (committed when the claim's block ends, so the result and the release are one commit);
        SQLite: a write transaction of its own, committed when this block ends."""
        if self.session is not None:
            yield self.session, self.row
            return
        async with self.db.write() as session:
            row = await session.get(type(self.row), inspect(self.row).identity,
                                    with_for_update=True)
            assert row is not None  # claimed rows are never deleted meanwhile
            yield session, row


@contextlib.asynccontextmanager
async def claim_one(db: Database, statement: Select[tuple[M]]) -> AsyncIterator[Claim[M] | None]:
    """The first row `statement` selects that no other worker holds, held until the block ends;
    None when there is none.  See the module's docstring for why a held lock is the lease."""
    if db.sqlite:
        async with db.read() as session:
            row = (await session.execute(statement.limit(1))).scalars().first()
        yield None if row is None else Claim(row, db, None)
        return
    async with db.write() as session:
        row = (await session.execute(statement.limit(1).with_for_update(skip_locked=True))
               ).scalars().first()
        yield None if row is None else Claim(row, db, session)


async def _ensure(db: Database, name: str) -> None:
    async def work(session: AsyncSession) -> None:
        if await session.get(Job, name) is None:
            session.add(Job(name=name, due_at=times.now(), runs=0))

    await db.transact(work)  # two workers inserting it at once: the loser sees the row


async def run_due(db: Database, name: str, interval: float,
                  work: Callable[[], Awaitable[Any]]) -> float:
    """Run `work` if the job `name` is due and no other worker is running it; the seconds until
    this worker should look again (at most `interval`).  A failure of `work` is logged and
    recorded in `Job.last_error`; the job is due again an interval later all the same."""
    now = times.now()
    async with claim_one(db, select(Job).where(Job.name == name, Job.due_at <= now)) as claim:
        if claim is None:
            return await _until_due(db, name, interval, now)
        started = times.now()
        error = None
        try:
            await work()
        except Exception as exc:
            log.exception("job %s failed; due again in %g s", name, interval)
            error = f"{type(exc).__name__}: {exc}"[:2000]
        async with claim.write() as (_, job):
            job.due_at = times.now() + timedelta(seconds=interval)
            job.last_run_at, job.last_run_by, job.last_error = started, WORKER, error
            job.runs += 1
    return interval


async def _until_due(db: Database, name: str, interval: float, now: datetime) -> float:
    async with db.read() as session:
        job = await session.get(Job, name)
    if job is None:
        await _ensure(db, name)
        return 0.0
    wait = (job.due_at - now).total_seconds()
    # Due at `now` yet not claimed: another worker is running it; it moves `due_at` when done.
    return interval if wait <= 0 else min(wait, interval)
