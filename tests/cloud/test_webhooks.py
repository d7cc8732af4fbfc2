"""The webhook machinery (`cloud.webhooks`) and member notices (`cloud.member_notices`) against a
real receiver on loopback: stored once in the caller's transaction, signed and verified, retried
with back-off with every attempt recorded, a redirect not followed, the answer read bounded, the
secret never logged; unsigned webhooks refused outside loopback; the notices' view."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from cloud import times
from cloud.app import create_app
from cloud.cli import parse_args
from cloud.contract_store import ContractSettings
from cloud.db import Database
from cloud.member_notices import notice_id, notify_member
from cloud.notice_tables import MemberNotice, WebhookAttempt
from cloud.state import Settings
from cloud.webhooks import READ_LIMIT, Endpoint, WebhookSender, endpoint
from protocols.cloud import webhook_signature
from tests.support.cloud_helpers import Operator, running_cloud, sqlite_url
from tests.support.contract_helpers import webhook_receiver

pytest_plugins = ("tests.support.cloud_helpers",)

SECRET = b"s3cret-s3cret-s3cret"
MEMBER = "member-0042"
PRINTER = "9b2e4c71-0f3d-4a8e-b6c5-1d7a2e9f4b30"


# -- the signature ---------------------------------------------------------------------------------

def test_a_signature_verifies_only_the_same_body_secret_and_a_recent_time() -> None:
    body = b'{"kind":"prompt"}'
    header = webhook_signature.sign(SECRET, body, timestamp=1_000_000)
    assert header.startswith("t=1000000,v1=")
    assert webhook_signature.verify(SECRET, header, body, now=1_000_100)
    assert not webhook_signature.verify(SECRET, header, body + b" ", now=1_000_100)
    assert not webhook_signature.verify(b"another-secret-here", header, body, now=1_000_100)
    assert not webhook_signature.verify(SECRET, header, body, now=1_000_000 + 301)
    assert not webhook_signature.verify(SECRET, None, body)
    assert not webhook_signature.verify(SECRET, "v1=abc", body)
    rotated = header + ",v1=" + "0" * 64
    assert webhook_signature.verify(SECRET, rotated, body, now=1_000_000)


def test_webhooks_outside_loopback_are_refused_without_a_secret(tmp_path: Path) -> None:
    assert endpoint("http://127.0.0.1:9/hook", None) == Endpoint("http://127.0.0.1:9/hook", None)
    with pytest.raises(ValueError, match="unsigned"):
        endpoint("https://member.example/hook", None)
    assert endpoint("https://member.example/hook", SECRET) is not None
    tokens = tmp_path / "tokens"
    tokens.write_text("operator-token-0123456789\n")
    base = ["serve", "--operator-token-file", str(tokens)]
    with pytest.raises(SystemExit):
        parse_args([*base, "--member-webhook", "https://member.example/hook"])
    with pytest.raises(SystemExit):
        parse_args([*base, "--order-webhook", "https://orders.example/hook"])
    short = tmp_path / "short"
    short.write_text("too short\n")
    with pytest.raises(SystemExit):
        parse_args([*base, "--webhook-secret-file", str(short)])
    secret = tmp_path / "secret"
    secret.write_bytes(SECRET + b"\n")
    args = parse_args([*base, "--webhook-secret-file", str(secret),
                       "--member-webhook", "https://member.example/hook"])
    assert args.webhook_secret == SECRET
    assert "s3cret" not in repr(Endpoint("https://member.example/hook", SECRET))
    url, settings = sqlite_url(tmp_path), Settings(operator_tokens=("t" * 16,))
    with pytest.raises(ValueError, match="unsigned"):
        create_app(url, settings, ContractSettings(order_webhook="https://orders.example/x"))
    with pytest.raises(ValueError, match="unsigned"):
        create_app(url, replace(settings, member_webhook="https://member.example/hook"))
    create_app(url, replace(settings, webhook_secret=SECRET),
               ContractSettings(order_webhook="https://orders.example/x"))


# -- delivery --------------------------------------------------------------------------------------

@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(sqlite_url(tmp_path))
    await database.create_schema()
    yield database
    await database.close()


@contextlib.asynccontextmanager
async def sending(db: Database, url: str, secret: bytes | None = SECRET
                  ) -> AsyncIterator[WebhookSender]:
    sender = WebhookSender(db, MemberNotice, Endpoint(url, secret))
    task = asyncio.create_task(sender.run())
    try:
        yield sender
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def notice(db: Database, key: str, kind: str = "prompt") -> None:
    async with db.write() as session:
        await notify_member(session, MEMBER, kind, {"printer_id": PRINTER, "message": "hi",
                                                   "prompt": "install-cartridge"}, key=key)


async def attempts(db: Database) -> list[tuple[int | None, str | None]]:
    async with db.read() as session:
        rows = (await session.execute(select(WebhookAttempt).order_by(WebhookAttempt.id)))
        return [(a.status, a.error) for a in rows.scalars()]


async def test_a_notice_is_stored_once_per_key_and_delivered_signed(db: Database) -> None:
    async with webhook_receiver(secret=SECRET) as receiver, sending(db, receiver.url):
        await notice(db, "p-1:prompt:1")
        await notice(db, "p-1:prompt:1")  # the same step again (a restart): nothing new
        async with db.write() as session:  # twice in one transaction: one row
            await notify_member(session, MEMBER, "process-completed", {}, key="p-1:done")
            await notify_member(session, MEMBER, "process-completed", {}, key="p-1:done")
        deliveries = await receiver.wait(2)
        await asyncio.sleep(0.3)
    assert len(receiver.deliveries) == 2 and all(d.verified for d in deliveries)
    first = deliveries[0]
    assert first.key == notice_id("p-1:prompt:1") == first.body["notice_id"]
    assert {k: first.body[k] for k in ("kind", "member_id", "printer_id", "prompt")} == {
        "kind": "prompt", "member_id": MEMBER, "printer_id": PRINTER, "prompt": "install-cartridge"}
    assert first.body["occurred_at"].endswith("Z")
    async with db.read() as session:
        rows = (await session.execute(select(MemberNotice))).scalars().all()
    assert [(r.state, r.attempts) for r in rows] == [("delivered", 1)] * 2
    with pytest.raises(ValueError, match="unknown member notice kind"):
        await notice(db, "x", kind="no-such-kind")


async def test_failed_deliveries_are_retried_with_back_off_and_every_attempt_recorded(
        db: Database, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with webhook_receiver([503, 500], secret=SECRET) as receiver, \
            sending(db, receiver.url):
        await notice(db, "k-retry")
        loop = asyncio.get_running_loop()
        started = loop.time()
        deliveries = await receiver.wait(3)
        elapsed = loop.time() - started
        await asyncio.sleep(0.3)
    assert {d.key for d in deliveries} == {notice_id("k-retry")}  # the same key every time
    assert elapsed >= 2.5  # 1 s then 2 s of back-off
    assert [status for status, _ in await attempts(db)] == [503, 500, 201]
    async with db.read() as session:
        row = (await session.execute(select(MemberNotice))).scalar_one()
    assert (row.state, row.attempts, row.last_error) == ("delivered", 3, None)
    assert "s3cret" not in caplog.text and "not delivered (HTTP 503" in caplog.text


async def test_a_pending_notice_survives_a_restart_and_is_sent_once(db: Database) -> None:
    await notice(db, "k-restart")  # recorded while no sender runs (the server was down)
    async with webhook_receiver() as receiver, sending(db, receiver.url, None):
        await receiver.wait(1)
        await asyncio.sleep(0.3)
    assert len(receiver.deliveries) == 1 and receiver.deliveries[0].signature is None
    async with webhook_receiver() as receiver, sending(db, receiver.url, None):
        await asyncio.sleep(0.5)
    assert receiver.deliveries == []


async def test_a_redirect_is_a_failure_and_the_answer_is_read_bounded(db: Database) -> None:
    async with webhook_receiver([307], secret=SECRET) as receiver, sending(db, receiver.url):
        receiver.answer_body = b"x" * (10 * READ_LIMIT)
        await notice(db, "k-redirect")
        await receiver.wait(2)
        await asyncio.sleep(0.3)
    (status, error), (ok, _) = await attempts(db)
    assert (status, ok) == (307, 201)
    assert error is not None and error.startswith("HTTP 307: xxx") and len(error) < 250


async def test_an_unreachable_receiver_is_a_recorded_attempt(db: Database) -> None:
    async with webhook_receiver() as receiver:
        url = receiver.url
    async with sending(db, url):
        await notice(db, "k-down")
        for _ in range(100):
            if await attempts(db):
                break
            await asyncio.sleep(0.05)
    [(status, error)] = (await attempts(db))[:1]
    assert status is None and error is not None and "Connect" in error


# -- through the server ----------------------------------------------------------------------------

async def test_the_member_notices_view_shows_the_delivery_state(
        tmp_path: Path, http: aiohttp.ClientSession) -> None:
    async with webhook_receiver([503], secret=SECRET) as receiver, running_cloud(
            sqlite_url(tmp_path), member_webhook=receiver.url, webhook_secret=SECRET) as cloud:
        await notice(cloud.state.db, "k-view", kind="cartridge-moved")
        await receiver.wait(2)
        operator = Operator(http, cloud.url)
        for _ in range(100):
            notices = (await operator.ok("listMemberNotices",
                                         params={"member_id": MEMBER}))["notices"]
            if notices and notices[0]["delivery"]["state"] == "delivered":
                break
            await asyncio.sleep(0.05)
        assert (await operator.ok("listMemberNotices",
                                  params={"member_id": "someone-else"}))["notices"] == []
        assert [status for status, _ in await attempts(cloud.state.db)] == [503, 201]
        await cloud.prune(times.now() + timedelta(days=8))
        assert await attempts(cloud.state.db) == []  # the notice keeps its count and state
    [record] = notices
    assert record["notice_id"] == notice_id("k-view") and record["kind"] == "cartridge-moved"
    assert record["delivery"]["state"] == "delivered" and record["delivery"]["attempts"] == 2
    assert record["payload"] == receiver.deliveries[-1].body
