"""Notices to the member site, delivered to the member webhook (`--member-webhook`) by the
webhook machinery (`cloud.webhooks`), and the view of a member's notices.

`notify_member` records a notice in the caller's transaction, so a notice exists exactly when
what it tells happened; `key` names it deterministically (e.g. f"{process_id}:{what}:{n}"), so a
step run again after a restart records nothing new.  The notice ID (a UUID derived from the key)
is the `Idempotency-Key` of every delivery attempt.

Every payload is the envelope {notice_id, kind, member_id, occurred_at} plus the kind's fields
(`protocols/cloud/openapi.yaml`, `webhooks: memberNotice`).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud import times
from cloud.notice_tables import MemberNotice
from cloud.webhooks import wake_after_commit
from protocols.cloud.times import rfc3339

KINDS = frozenset({
    "proposal-opened", "proposal-closed", "prompt", "termination-notice", "process-confirmed",
    "process-completed", "process-cancelled", "process-failed", "page-limit-reached",
    "cartridge-moved"})
NOTICE_NAMESPACE = uuid.UUID("5f0c3c1e-8d52-4f1e-9a57-2f6c1b0d9e41")
"""Notice IDs are UUIDv5 of the key in this namespace."""


def notice_id(key: str) -> str:
    return str(uuid.uuid5(NOTICE_NAMESPACE, key))


async def notify_member(session: AsyncSession, member_id: str, kind: str,
                        payload: dict[str, Any], *, key: str) -> None:
    """Record a notice of `kind` to `member_id` in the caller's transaction (a no-op when `key`
    was recorded before) and wake the sender once it commits."""
    if kind not in KINDS:
        raise ValueError(f"unknown member notice kind {kind!r}")
    if (await session.execute(select(MemberNotice.id).where(MemberNotice.key == key))).first():
        return
    now = times.now()
    nid = notice_id(key)
    body = {**payload, "notice_id": nid, "kind": kind, "member_id": member_id,
            "occurred_at": rfc3339(now)}
    session.add(MemberNotice(id=nid, key=key, member_id=member_id, kind=kind, payload=body,
                             created_at=now, state="pending", attempts=0, next_attempt_at=now))
    await wake_after_commit(session, MemberNotice)


def notice_view(notice: MemberNotice) -> dict[str, Any]:
    return {"notice_id": notice.id, "kind": notice.kind, "member_id": notice.member_id,
            "payload": notice.payload, "created_at": rfc3339(notice.created_at),
            "delivery": {
                "state": notice.state, "attempts": notice.attempts,
                "last_error": notice.last_error,
                "next_attempt_at": (rfc3339(notice.next_attempt_at)
                                    if notice.state == "pending" else None),
                "delivered_at": rfc3339(notice.delivered_at) if notice.delivered_at else None}}


async def list_notices(session: AsyncSession, member_id: str, limit: int) -> list[MemberNotice]:
    """The member's latest `limit` notices, oldest first."""
    rows = (await session.execute(
        select(MemberNotice).where(MemberNotice.member_id == member_id)
        .order_by(MemberNotice.created_at.desc(), MemberNotice.id.desc()).limit(limit)))
    return list(reversed(rows.scalars().all()))
