"""Requests named by an `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header).

The key is claimed in its own transaction before the work starts, so that a concurrent request
with the same key sees it and answers 409 (`request-in-progress`); the work then stores its
response in the same transaction as its effects.  A retry with the same key and the same
request fingerprint gets the stored response; another fingerprint gets 422
(`idempotency-key-reuse`).  Failed work releases the key.  Keys live 24 h.
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
"""A claim this old was left by a crashed request: it may be taken over."""

Work = Callable[[AsyncSession], Awaitable[tuple[int, dict[str, Any]]]]


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

        async def work_and_store(session: AsyncSession) -> tuple[int, dict[str, Any]]:
            status, body = await work(session)
            await session.execute(update(IdempotentRequest).where(IdempotentRequest.id == claim)
                                  .values(completed=True, status=status, response=body))
            return status, body

        try:
            status, body = await self.db.transact(work_and_store)
        except BaseException:
            async with self.db.write() as session:
                await session.execute(delete(IdempotentRequest)
                                      .where(IdempotentRequest.id == claim))
            raise
        return Outcome(status, body, replayed=False)

    async def _claim(self, scope: str, principal: str, key: str,
                     fingerprint: str) -> int | Outcome:
        async def claim(session: AsyncSession) -> int | Outcome:
            now = times.now()
            row = (await session.execute(select(IdempotentRequest).where(
                IdempotentRequest.scope == scope, IdempotentRequest.principal == principal,
                IdempotentRequest.key == key).with_for_update())).scalar_one_or_none()
            if row is None:
                row = IdempotentRequest(scope=scope, principal=principal, key=key,
                                        fingerprint=fingerprint, created_at=now, completed=False)
                session.add(row)
                await session.flush()
                return row.id
            expired = row.created_at < now - self.retention
            if expired or (not row.completed and row.created_at < now - STALE_CLAIM):
                row.fingerprint, row.created_at, row.completed = fingerprint, now, False
                row.status = row.response = None
                return row.id
            if not row.completed:
                raise Problem("request-in-progress", "A request with this Idempotency-Key is "
                              "still being processed; retry later.")
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
            raise Problem("request-in-progress", "A request with this Idempotency-Key is "
                          "being processed; retry later.") from None

    async def prune(self, cutoff: datetime) -> None:
        async with self.db.write() as session:
            await session.execute(delete(IdempotentRequest)
                                  .where(IdempotentRequest.created_at < cutoff))
