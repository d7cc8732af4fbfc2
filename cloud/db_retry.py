"""Which failures of a write transaction `Database.transact` runs again, and the pause between.

On PostgreSQL (READ COMMITTED) concurrent transactions of several workers can lose a race:
a unique constraint another transaction satisfied first (the next run sees its row and answers
accordingly), a deadlock detected (SQLSTATE 40P01: PostgreSQL aborts one of the transactions
waiting on each other's row locks), or a serialization failure (40001).  Each is transient: the
aborted transaction changed nothing, so running the same work again is safe.  The pause is short
and jittered so that two transactions that deadlocked do not meet again in step.
"""

from __future__ import annotations

import asyncio
import random

from sqlalchemy.exc import DBAPIError, IntegrityError

MAX_ATTEMPTS = 5
RETRIED_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure
PAUSE_SECONDS = 0.02


def lost_race(exc: BaseException) -> bool:
    """Whether `exc` ended a write transaction that may succeed when run again."""
    if isinstance(exc, IntegrityError):
        return True
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in RETRIED_SQLSTATES


async def pause(attempt: int) -> None:
    """Before the run after `attempt` failed ones: up to 20 ms per attempt, at random."""
    await asyncio.sleep(random.uniform(0, PAUSE_SECONDS * attempt))
