"""Background work done once across cloud processes sharing one PostgreSQL database (issue 21,
`cloud.jobs`): webhook deliveries claimed with FOR UPDATE SKIP LOCKED, a delivery held by a
SIGKILLed worker sent by another with the same key, timers run once per interval across
processes and taken over when their runner dies, and two contract engines reconciling one
process at once issuing its next command once.

Real `printgw-cloud serve` processes (`tests.support.cloud_processes`, or one
`serve --workers 2`), a real webhook receiver on loopback that records which process sent which
Idempotency-Key.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import func, select

from cloud import times
from cloud.app import HOUSEKEEPING_JOB
from cloud.changes import ChangeStream
from cloud.contract_store import RECONCILE_JOB, ContractEngine, ContractSettings
from cloud.db import Command, Database
from cloud.jobs import Job, run_due
from cloud.member_notices import notify_member
from cloud.notice_tables import MemberNotice, WebhookAttempt
from cloud.wake_bus import WakeBus
from cloud.webhooks import topic
from tests.support.cloud_helpers import Gateway, Operator, running_cloud, sqlite_url
from tests.support.cloud_processes import CloudProcess, cloud_processes
from tests.support.cloud_workers import supervised_cloud, tcp_owner
from tests.support.fake_cloud import serving

pytest_plugins = ("tests.support.cloud_helpers",)

NOTICES = 40
SERVICE = "contract-printing"


@dataclass
class KeyCounter:
    """A webhook receiver at `/hook/{sender}`: records (sender, Idempotency-Key) of every POST,
    answers 201 after `delay` seconds; with `stall` set, the first POST is never answered."""

    delay: float = 0.0
    stall: bool = False
    owners: Callable[[], set[int]] | None = None
    """With it, the sender is the pid among `owners()` holding the POST's connection instead."""
    seen: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        sender = request.match_info["sender"]
        if self.owners is not None:
            sender = str(tcp_owner(self.owners(), request.transport.get_extra_info("peername")[1]
                                   if request.transport else 0))
        self.seen.append((sender, request.headers["Idempotency-Key"]))
        self.arrived.set()
        if self.stall and len(self.seen) == 1:
            await asyncio.Event().wait()  # until the sender's connection goes (or shutdown)
        await asyncio.sleep(self.delay)
        return web.json_response({"accepted": True}, status=201)

    def keys(self) -> list[str]:
        return [key for _, key in self.seen]

    async def wait(self, count: int, within: float) -> None:
        async with asyncio.timeout(within):
            while len(self.seen) < count:
                self.arrived.clear()
                await self.arrived.wait()


@contextlib.asynccontextmanager
async def key_counter(**options: Any) -> AsyncIterator[KeyCounter]:
    receiver = KeyCounter(**options)
    app = web.Application()
    app.router.add_post("/hook/{sender}", receiver.handle)
    async with serving(app) as port:
        receiver.url = f"http://127.0.0.1:{port}/hook"
        yield receiver


@contextlib.asynccontextmanager
async def senders(database_url: str, receiver: KeyCounter, directory: Path,
                  names: tuple[str, ...] = ("a", "b")) -> AsyncIterator[dict[str, CloudProcess]]:
    """One cloud process per name on the database, each sending its member notices to
    `receiver` at `/hook/<name>` (so the receiver tells who sent what)."""
    async with contextlib.AsyncExitStack() as stack:
        started = {}
        for name in names:
            (directory / name).mkdir()
            [started[name]] = await stack.enter_async_context(cloud_processes(
                database_url, 1, directory / name,
                ["--member-webhook", f"{receiver.url}/{name}"]))
        yield started


async def add_notices(db: Database, count: int) -> list[str]:
    """`count` member notices written in one transaction of this (other) process, which
    signals the senders as a worker's writer does."""
    async with db.write() as session:
        for n in range(count):
            await notify_member(session, "member-1", "prompt", {"n": n}, key=f"test:{n}")
        await WakeBus(db).signal(session, topic(MemberNotice))
        ids = (await session.execute(select(MemberNotice.id))).scalars().all()
    return list(ids)


async def test_two_processes_send_each_notice_once(postgres_url: str, tmp_path: Path) -> None:
    """Both processes are woken by the commit (NOTIFY; otherwise they would sleep five
    minutes) and share the notices: every key reaches the receiver exactly once, each notice
    delivered after one recorded attempt."""
    db = Database(postgres_url)
    try:
        async with key_counter(delay=0.05) as receiver, \
                senders(postgres_url, receiver, tmp_path):
            ids = await add_notices(db, NOTICES)
            await receiver.wait(NOTICES, within=30)
            await asyncio.sleep(1.0)  # a duplicate would come now
            async with db.read() as session:
                rows = (await session.execute(select(MemberNotice))).scalars().all()
                attempts = (await session.execute(
                    select(func.count()).select_from(WebhookAttempt))).scalar_one()
        assert sorted(receiver.keys()) == sorted(ids)
        assert {sender for sender, _ in receiver.seen} == {"a", "b"}  # both took a share
        assert {(row.state, row.attempts) for row in rows} == {("delivered", 1)}
        assert attempts == NOTICES
    finally:
        await db.close()


async def test_a_worker_killed_mid_post_leaves_the_notice_to_another(
        postgres_url: str, tmp_path: Path) -> None:
    """`serve --workers 2`: the receiver never answers the first POST and the worker sending it
    is SIGKILLed; another worker (the survivor, which found the notice taken, looking again
    after `CLAIMED_RECHECK`, or the dead one's replacement when it starts) sends it with the same
    key; it is delivered after one recorded attempt and never sent again."""
    db = Database(postgres_url)
    try:
        async with key_counter(stall=True) as receiver, \
                supervised_cloud(postgres_url, 2, tmp_path,
                                 ["--member-webhook", f"{receiver.url}/w"]) as cloud:
            receiver.owners = cloud.workers  # the live workers, a restarted one included
            workers = cloud.workers()
            [notice_id] = await add_notices(db, 1)
            await receiver.wait(1, within=15)
            [(holder, key)] = receiver.seen
            await asyncio.sleep(1.0)  # the other worker, woken too, found it taken
            os.kill(int(holder), signal.SIGKILL)
            await receiver.wait(2, within=30)
            await asyncio.sleep(1.0)  # a third sending would come now
            async with db.read() as session:
                notice = await session.get(MemberNotice, notice_id)
        assert len(workers) == 2 and int(holder) in workers and key == notice_id
        assert len(receiver.seen) == 2
        sender, again = receiver.seen[1]
        assert again == notice_id and sender not in (holder, "None")
        assert notice is not None and (notice.state, notice.attempts) == ("delivered", 1)
    finally:
        await db.close()


@dataclass(frozen=True)
class Run:
    runs: int
    at: datetime
    by: str


async def watch_jobs(db: Database, names: tuple[str, ...], seconds: float,
                     seen: dict[str, list[Run]]) -> None:
    """Record every new run of the jobs `names` for `seconds` (looking every 20 ms)."""
    async with asyncio.timeout(seconds + 5):
        end = asyncio.get_running_loop().time() + seconds
        while asyncio.get_running_loop().time() < end:
            async with db.read() as session:
                for job in (await session.execute(
                        select(Job).where(Job.name.in_(names)))).scalars():
                    runs = seen.setdefault(job.name, [])
                    if job.last_run_at is not None and (not runs or runs[-1].runs != job.runs):
                        assert job.last_run_by is not None and job.last_error is None
                        runs.append(Run(job.runs, job.last_run_at, job.last_run_by))
            await asyncio.sleep(0.02)


def assert_once_per_interval(runs: list[Run], interval: float) -> None:
    """Each run started at least an interval after the one before (an interval per run missed
    between two looks)."""
    for before, after in itertools.pairwise(runs):
        gap = (after.at - before.at).total_seconds()
        assert gap >= interval * (after.runs - before.runs) - 0.001, (before, after)


async def test_timers_run_once_per_interval_and_survive_their_runner(
        postgres_url: str, tmp_path: Path) -> None:
    """Housekeeping (every 1 s here) and the contract engine's reconcile (0.5 s) run in
    either process but never twice within an interval; SIGKILL the last runner of each and
    the survivor goes on with both."""
    intervals = {HOUSEKEEPING_JOB: 1.0, RECONCILE_JOB: 0.5}
    db = Database(postgres_url)
    seen: dict[str, list[Run]] = {}
    try:
        async with cloud_processes(postgres_url, 2, tmp_path, [
                "--housekeeping-seconds", str(intervals[HOUSEKEEPING_JOB]),
                "--contract-poll-seconds", str(intervals[RECONCILE_JOB])]) as clouds:
            await watch_jobs(db, tuple(intervals), 5.0, seen)
            victim = int(seen[HOUSEKEEPING_JOB][-1].by.rsplit(":", 1)[1])
            survivor = next(c.pid for c in clouds if c.pid != victim)
            os.kill(victim, signal.SIGKILL)
            before = {name: len(runs) for name, runs in seen.items()}
            await watch_jobs(db, tuple(intervals), 5.0, seen)
        for name, interval in intervals.items():
            runs = seen[name]
            assert len(runs) >= 3, (name, runs)
            assert_once_per_interval(runs, interval)
            after = runs[before[name] + 1:]  # the first may have been the victim's last
            assert after and {run.by.rsplit(":", 1)[1] for run in after} == {str(survivor)}
    finally:
        await db.close()


async def test_a_job_runs_when_due_and_records_a_failure(tmp_path: Path) -> None:
    """SQLite (one process): the first look creates the job; it runs when due, not again
    before its interval; a failing run is recorded and the job stays scheduled."""
    db = Database(sqlite_url(tmp_path))
    ran: list[int] = []

    async def work() -> None:
        ran.append(1)
        if len(ran) == 2:
            raise RuntimeError("the disk is full")

    try:
        await db.create_schema()
        assert await run_due(db, "test", 0.3, work) == 0.0 and ran == []
        assert await run_due(db, "test", 0.3, work) == 0.3 and len(ran) == 1
        assert 0 < await run_due(db, "test", 0.3, work) <= 0.3 and len(ran) == 1
        await asyncio.sleep(0.35)
        await run_due(db, "test", 0.3, work)
        async with db.read() as session:
            job = await session.get(Job, "test")
        assert job is not None and (job.runs, job.last_error) == (
            2, "RuntimeError: the disk is full")
        assert job.due_at > times.now()
    finally:
        await db.close()


async def test_concurrent_reconciles_of_one_process_issue_its_next_command_once(
        postgres_url: str, http: aiohttp.ClientSession) -> None:
    """A first contract's transition completes unseen (no wake-up); three engines with their own
    connections (as three workers) reconcile the process at once: the process row lock makes
    them take turns, so its next command is issued exactly once and the step recorded once."""
    async with running_cloud(postgres_url, contract_poll_seconds=3600) as cloud:
        operator = Operator(http, cloud.url)
        gateway = await Gateway.enrol(http, cloud.url, operator)
        await operator.put_service(SERVICE, ["supplies.level", "supplies.cartridge", "contract"])
        printer = await gateway.register()
        application = await operator.contract(printer, SERVICE)
        await gateway.activate(printer, SERVICE, application["application_id"])
        process_id = (await operator.ok("requestContract", json_body={
            "member_id": "member-1", "printer_id": printer, "model": "laser", "series": "LB-1",
            "page_limit": 500}))["process_id"]
        waiting = await operator.ok("getContractProcess", path={"process_id": process_id})
        awaited = waiting["awaiting_command"]
        engines = [ContractEngine(db, ChangeStream(db), ContractSettings())
                   for db in (Database(postgres_url) for _ in range(3))]
        try:
            async with engines[0].db.write() as session:
                command = await session.get(Command, awaited["command_id"])
                assert command is not None and command.state == "pending"
                command.state, command.completed_at = "done", times.now()
            for engine in engines:  # connected first, so that the three start together
                async with engine.db.read() as session:
                    await session.execute(select(1))
            await asyncio.gather(*(engine.reconcile(process_id) for engine in engines))
            async with engines[0].db.read() as session:
                issued = (await session.execute(select(Command.kind).order_by(
                    Command.issued_at))).scalars().all()
        finally:
            for engine in engines:
                await engine.db.close()
        process = await operator.ok("getContractProcess", path={"process_id": process_id})
    assert awaited["kind"] == "contract-transition"
    assert issued == ["contract-transition", process["awaiting_command"]["kind"]]
    done = [h for h in process["history"] if h["detail"].startswith("contract-transition")
            and h["detail"].endswith(" done")]
    assert len(done) == 1, process["history"]
