"""Requests named by an `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header).

The key is claimed in its own transaction before the work starts, so that a concurrent request
with the same key sees it and answers 409 (`request-in-progress`); the work then stores its
response in the same transaction as its effects.  A retry with the same key and the same
request fingerprint gets the stored response; another fingerprint gets 422
(`idempotency-key-reuse`).  Failed work releases the key.  Keys live 24 h.

A claim whose request died with its worker process (SIGKILL, crash) must not hold up the retry:
on PostgreSQL the work's transaction holds the claim's row lock while it runs, so a claim found
unlocked and not completed for `UNLOCKED_CLAIM` has no request running it any more and is taken
over (the dead request's effects were rolled back with its transaction).  The work runs only
while the claim is still its own (`Claim`: the row and the claim time, which a takeover
changes), so even a request slower than that between claiming and locking answers 409 and the
work runs once.  SQLite has no row locks (and one process): there a claim not completed within
`STALE_CLAIM` is taken over.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cloud import times
from cloud.db import Database, IdempotentRequest
from cloud.problems import Problem

STALE_CLAIM = timedelta(minutes=2)
"""On SQLite, a claim this old was left by a crashed request: it may be taken over."""
UNLOCKED_CLAIM = timedelta(seconds=5)
"""On PostgreSQL, a claim this old whose row is not locked by its work was left by a dead
request (the moment between claiming and locking is far shorter)."""

Work = Callable[[AsyncSession], Awaitable[tuple[int, dict[str, Any]]]]


@dataclass(frozen=True)
class Claim:
    """A request's claim of its key: the row, and when it was claimed."""

    id: int
    at: datetime


@dataclass(frozen=True)
class Outcome:
    status: int
    body: dict[str, Any]
    replayed: bool


class IdempotencyKeys:
    def __init__(self, db: Database, retention: timedelta) -> None:
        self.db = db
        self.retention = retention

    async def run(self, scope: str, principal: str, key: str | None, fingerprint: str,
                  work: Work) -> Outcome:
        """`work` (status and body) once per key; the stored answer for a retry."""
        if key is None:
            status, body = await self.db.transact(work)
            return Outcome(status, body, replayed=False)
        claim = await self._claim(scope, principal, key, fingerprint)
        if isinstance(claim, Outcome):
            return claim
        mine = (IdempotentRequest.id == claim.id, IdempotentRequest.created_at == claim.at,
                IdempotentRequest.completed.is_(False))

        async def work_and_store(session: AsyncSession) -> tuple[int, dict[str, Any]]:
            if (await session.execute(select(IdempotentRequest.id).where(*mine)
                                      .with_for_update())).first() is None:
                raise _in_progress()  # taken over by a retry, which runs the work
            status, body = await work(session)
            await session.execute(update(IdempotentRequest).where(*mine)
                                  .values(completed=True, status=status, response=body))
            return status, body

        try:
            status, body = await self.db.transact(work_and_store)
        except BaseException:
            async with self.db.write() as session:
                await session.execute(delete(IdempotentRequest).where(*mine))
            raise
        return Outcome(status, body, replayed=False)

    async def _claim(self, scope: str, principal: str, key: str,
                     fingerprint: str) -> Claim | Outcome:
        named = (IdempotentRequest.scope == scope, IdempotentRequest.principal == principal,
                 IdempotentRequest.key == key)

        async def claim(session: AsyncSession) -> Claim | Outcome:
            now = times.now()
            row = (await session.execute(select(IdempotentRequest).where(*named)
                                         .with_for_update(skip_locked=True))).scalar_one_or_none()
            if row is None:
                if (await session.execute(select(IdempotentRequest.id).where(*named))).first():
                    raise _in_progress()  # its row is locked: the work is running
                row = IdempotentRequest(scope=scope, principal=principal, key=key,
                                        fingerprint=fingerprint, created_at=now, completed=False)
                session.add(row)
                await session.flush()
                return Claim(row.id, now)
            expired = row.created_at < now - self.retention
            abandoned = row.created_at < now - (STALE_CLAIM if self.db.sqlite
                                                else UNLOCKED_CLAIM)
            if expired or (not row.completed and abandoned):
                row.fingerprint, row.created_at, row.completed = fingerprint, now, False
                row.status = row.response = None
                return Claim(row.id, now)
            if not row.completed:
                raise _in_progress()
            if row.fingerprint != fingerprint:
                raise Problem("idempotency-key-reuse", "This Idempotency-Key was used with "
                              "another request body.",
                              errors=[{"header": "Idempotency-Key",
                                       "detail": "Used before with another body."}])
            assert row.status is not None and row.response is not None  # completed rows have both
            return Outcome(row.status, row.response, replayed=True)

        try:
            return await self.db.transact(claim)
        except IntegrityError:
            raise _in_progress() from None

    async def prune(self, cutoff: datetime) -> None:
        async def forget(session: AsyncSession) -> None:
            await session.execute(delete(IdempotentRequest)
                                  .where(IdempotentRequest.created_at < cutoff))

        await self.db.transact(forget)  # several workers' housekeeping may meet (deadlock)


def _in_progress() -> Problem:
    return Problem("request-in-progress", "A request with this Idempotency-Key is still being "
                   "processed; retry later.")
