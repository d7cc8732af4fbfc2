"""Exactly-once with several cloud processes on one PostgreSQL database (issue 21).

Two real `printgw-cloud serve` processes (`tests.support.cloud_processes`, started once for the
module; each test uses gateways and printers of its own) share a throwaway database; the same
requests are fired at both at once (`asyncio.gather`) for a bounded number of rounds, and the
database is counted afterwards: an Idempotency-Key runs once, a gateway's change
stream has no gaps or duplicates, an enrolment token enrols one gateway, a printer is registered
once, member and operator actions on one contract keep "one contract, one printer", and an
upload cut off by a SIGKILLed worker of `serve --workers 2` on the same database is stored
exactly once when retried.  Plus the deadlock retry of `Database.transact` itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from yarl import URL

from cloud import times
from cloud.contract_guard import evidence
from cloud.db import (
    Change,
    Command,
    ContractProcess,
    Database,
    EnrolmentToken,
    Gateway,
    IdempotentRequest,
    Printer,
    PrinterContract,
    Status,
)
from protocols.cloud.times import rfc3339
from tests.support.cloud_helpers import Answer, Api, Operator
from tests.support.cloud_helpers import Gateway as GatewayApi
from tests.support.cloud_processes import CloudProcess, cloud_processes
from tests.support.cloud_workers import supervised_cloud, tcp_owner
from tests.support.postgres import fresh_database

pytest_plugins = ("tests.support.cloud_helpers",)
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

ROUNDS = 5
MEMBER = "member-concurrent"


UPLOAD_SOURCE = "127.0.176.9"
"""The uploading gateway's own address: which worker holds its connection is found by it."""

@dataclass(frozen=True)
class Shared:
    database_url: str
    clouds: list[CloudProcess]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(postgres_server: str,
                 tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Shared]:
    async with fresh_database(postgres_server) as url, \
            cloud_processes(url, 2, tmp_path_factory.mktemp("clouds")) as clouds:
        yield Shared(url, clouds)


@pytest.fixture
def clouds(shared: Shared) -> list[CloudProcess]:
    return shared.clouds


@pytest_asyncio.fixture(loop_scope="module")
async def db(shared: Shared) -> AsyncIterator[Database]:
    """The test's own connection to the database the cloud processes share."""
    database = Database(shared.database_url)
    yield database
    await database.close()


@pytest_asyncio.fixture(loop_scope="module")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


async def until_done(api: Api, operation_id: str, **kwargs: Any) -> Answer:
    """The call, made again while it answers 409 `request-in-progress` (as a client retries)."""
    async with asyncio.timeout(20):
        while True:
            answer = await api.call(operation_id, **kwargs)
            if answer.status != 409 or not answer.body["type"].endswith("/request-in-progress"):
                return answer
            await asyncio.sleep(0.2)


async def count(db: Database, statement: Any) -> int:
    async with db.read() as session:
        return int((await session.execute(statement)).scalar_one())


def entry(printer_id: str, alerts: int = 0) -> dict[str, Any]:
    """A periodic status entry (with `alerts` alerts: a bigger one, slower to validate)."""
    data: dict[str, Any] = {"counters.total": {"total": secrets.randbelow(100000)}}
    if alerts:
        data["alerts"] = [{"index": str(i), "severity": "warning", "group": "generalPrinter",
                           "code": "other", "description": f"Alert {i}",
                           "training_level": "untrained"} for i in range(alerts)]
    return {"entry_id": str(uuid.uuid4()), "printer_id": printer_id,
            "read_at": rfc3339(times.now()), "event": "periodic", "data": data}


async def enrolled(http: aiohttp.ClientSession, clouds: list[CloudProcess]
                   ) -> tuple[GatewayApi, list[GatewayApi]]:
    """A gateway enrolled at the first process, and its client for each process."""
    gateway = await GatewayApi.enrol(http, clouds[0].url, Operator(http, clouds[0].url))
    clients = []
    for cloud in clouds:
        client = GatewayApi(http, cloud.url, gateway.token)
        client.gateway_id = gateway.gateway_id
        clients.append(client)
    return gateway, clients


# -- Database.transact ----------------------------------------------------------------------------

async def test_a_deadlock_is_retried_and_both_transactions_complete(db: Database) -> None:
    async with db.engine.begin() as connection:
        await connection.execute(text("CREATE TABLE deadlock_rows (id integer PRIMARY KEY, "
                                      "n integer)"))
        await connection.execute(text("INSERT INTO deadlock_rows VALUES (1, 0), (2, 0)"))
    both_hold_one = asyncio.Barrier(2)
    attempts: list[str] = []

    def locking(first: int, second: int) -> Callable[[AsyncSession], Awaitable[str]]:
        async def work(session: AsyncSession) -> str:
            attempts.append(f"{first}-{second}")
            lock = "UPDATE deadlock_rows SET n = n + 1 WHERE id = :id"
            await session.execute(text(lock), {"id": first})
            if len(attempts) <= 2:  # the first runs wait for each other: opposite order
                await both_hold_one.wait()
            await session.execute(text(lock), {"id": second})
            return "done"

        return work

    async with asyncio.timeout(30):
        results = await asyncio.gather(db.transact(locking(1, 2)), db.transact(locking(2, 1)))
    assert results == ["done", "done"]
    assert len(attempts) == 3, attempts  # PostgreSQL aborted one of them once (40P01)
    async with db.read() as session:
        rows = (await session.execute(text("SELECT n FROM deadlock_rows ORDER BY id"))).scalars()
        assert list(rows) == [2, 2]  # each committed exactly once


# -- idempotency keys -----------------------------------------------------------------------------

async def test_one_idempotency_key_sent_to_both_runs_once(
        http: aiohttp.ClientSession, clouds: list[CloudProcess], db: Database) -> None:
    gateway, clients = await enrolled(http, clouds)
    printer_id = await gateway.register()
    for _ in range(ROUNDS):
        body = {"statuses": [entry(printer_id) for _ in range(20)]}
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        answers = await asyncio.gather(*(until_done(c, "uploadStatuses", json_body=body,
                                                    headers=headers) for c in clients))
        assert [a.status for a in answers] == [200, 200]
        assert answers[0].body == answers[1].body
        assert answers[0].body["counts"] == {"accepted": 20, "duplicate": 0, "rejected": 0}

        command = {"kind": "panel-message", "parameters": {"message": secrets.token_hex(8)}}
        key = {"Idempotency-Key": str(uuid.uuid4())}
        operators = [Operator(http, cloud.url) for cloud in clouds]
        created = await asyncio.gather(*(until_done(
            o, "createCommand", path={"printer_id": printer_id}, json_body=command,
            headers=key) for o in operators))
        assert sorted(a.status for a in created) == [200, 201], created
        assert created[0].body == created[1].body
    assert await count(db, select(func.count()).select_from(Status).where(
        Status.gateway_id == gateway.gateway_id)) == ROUNDS * 20
    assert await count(db, select(func.count()).select_from(Command).where(
        Command.gateway_id == gateway.gateway_id)) == ROUNDS


# -- the change stream ----------------------------------------------------------------------------

async def test_changes_through_both_are_numbered_without_gaps_and_seen_once_in_order(
        http: aiohttp.ClientSession, clouds: list[CloudProcess], db: Database) -> None:
    gateway, clients = await enrolled(http, clouds)
    printer_id = await gateway.register()
    operators = [Operator(http, cloud.url) for cloud in clouds]
    ws = await clients[1].push()
    try:
        hello = await ws.receive_json(timeout=10)
        assert hello["type"] == "hello"
        messages = [secrets.token_hex(6) for _ in range(ROUNDS * 8)]
        await asyncio.gather(*(
            operators[i % 2].ok("createCommand", path={"printer_id": printer_id},
                                json_body={"kind": "panel-message",
                                           "parameters": {"message": message}})
            for i, message in enumerate(messages)))
        pushed: list[dict[str, Any]] = []
        async with asyncio.timeout(15):
            while len(pushed) < len(messages):
                message = await ws.receive_json()
                if message["type"] == "command":
                    pushed.append(message)
    finally:
        await ws.close()
    async with db.read() as session:
        seqs = list((await session.execute(select(Change.seq).where(
            Change.gateway_id == gateway.gateway_id).order_by(Change.seq))).scalars())
        head = (await session.get(Gateway, gateway.gateway_id)).change_seq
    assert seqs == list(range(1, head + 1)) and head >= len(messages)
    cursors = [int(m["cursor"].removeprefix("c_"), 16) for m in pushed]
    assert cursors == sorted(set(cursors)), "pushed twice or out of order"
    assert sorted(m["command"]["parameters"]["message"] for m in pushed) == sorted(messages)
    polled: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(head):
        params: dict[str, str | int] = {"wait": 0, "limit": 7}
        if cursor is not None:
            params["cursor"] = cursor
        page = await clients[0].ok("pollChanges", params=params)
        polled += page["changes"]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert [int(m["cursor"].removeprefix("c_"), 16) for m in polled] == seqs


# -- enrolment and registration -------------------------------------------------------------------

async def test_one_enrolment_token_spent_at_both_enrols_one_gateway(
        http: aiohttp.ClientSession, clouds: list[CloudProcess], db: Database) -> None:
    operator = Operator(http, clouds[0].url)
    name = f"enrolled-{secrets.token_hex(4)}"
    for round_ in range(ROUNDS):
        token = await operator.enrolment_token()
        request = {"enrolment_token": token, "name": name, "software_version": "0.1.0"}
        same_key = round_ % 2 == 0  # a gateway's retry, or two gateways given one token
        retry_key = str(uuid.uuid4())
        answers = await asyncio.gather(*(Api(http, cloud.url, None).call(
            "enrolGateway", json_body=request,
            headers={"Idempotency-Key": retry_key if same_key else str(uuid.uuid4())})
            for cloud in clouds))
        statuses = sorted(a.status for a in answers)
        if same_key:  # the second is the retry: the same credential
            assert statuses == [200, 201] and answers[0].body == answers[1].body, answers
        else:
            assert statuses == [201, 401], answers
    enrolled_here = select(Gateway.id).where(Gateway.name == name)
    assert await count(db, select(func.count()).select_from(enrolled_here.subquery())) == ROUNDS
    assert await count(db, select(func.count()).select_from(EnrolmentToken).where(
        EnrolmentToken.gateway_id.in_(enrolled_here))) == ROUNDS


async def test_the_same_printer_registered_through_both_gets_one_printer_id(
        http: aiohttp.ClientSession, clouds: list[CloudProcess], db: Database) -> None:
    gateway, clients = await enrolled(http, clouds)
    registration = {"product_name": "HP Color LaserJet MFP M479fdw", "manufacturer": "HP",
                    "shipping_destination": "JP", "time_zone": "Asia/Tokyo",
                    "device_type": "mfp", "contract_supported": True}
    for _ in range(ROUNDS):
        serial = f"SN{secrets.token_hex(4).upper()}"
        answers = await asyncio.gather(*(c.call("registerPrinter", json_body={
            **registration, "serial": serial}) for c in clients))
        assert sorted(a.status for a in answers) == [200, 201], answers
        assert answers[0].body["printer_id"] == answers[1].body["printer_id"]
        assert sorted(a.body["created"] for a in answers) == [False, True]
    assert await count(db, select(func.count()).select_from(Printer).where(
        Printer.gateway_id == gateway.gateway_id)) == ROUNDS


# -- one contract, one printer --------------------------------------------------------------------

def device_state(mode: str) -> dict[str, Any]:
    return {"supported": True, "mode": mode, "printing_prohibited": False, "panel_message": None}


async def contract_printing(db: Database, printer_id: str, member: str) -> None:
    """The printer under a confirmed contract of `member`, contract-printing (billing)."""
    async with db.write() as session:
        await session.execute(update(Printer).where(Printer.id == printer_id).values(
            contract=device_state("contract-billing"), contract_read_at=times.now()))
        session.add(PrinterContract(
            printer_id=printer_id, member_id=member, flag="confirmed", mode="contract-billing",
            printing_prohibited=False, page_limit=300, period="month", model="M479",
            series="M479", updated_at=times.now()))


async def printing(db: Database, printer_ids: list[str]) -> list[str]:
    """Why each of the printers may be contract-printing, for those that may (the guard's
    own judgement, `cloud.contract_guard.Evidence.printing`)."""
    async with db.read() as session:
        printers = (await session.execute(select(Printer).where(
            Printer.id.in_(printer_ids)))).scalars().all()
        found = [(await evidence(session, p)).printing() for p in printers]
    return [why for why in found if why is not None]


async def test_concurrent_member_and_operator_actions_keep_one_contract_one_printer(
        http: aiohttp.ClientSession, clouds: list[CloudProcess], db: Database) -> None:
    gateway, _ = await enrolled(http, clouds)
    operators = [Operator(http, cloud.url) for cloud in clouds]
    for round_ in range(ROUNDS):
        member = f"{MEMBER}-{round_}"
        old, new = await gateway.register(), await gateway.register()
        await contract_printing(db, old, member)
        deadline = rfc3339(times.now() + timedelta(hours=1, seconds=round_))
        enable = {"kind": "contract-transition", "deadline": deadline}
        key = {"Idempotency-Key": str(uuid.uuid4())}
        change, *commands = await asyncio.gather(
            operators[0].call("requestContractChange", json_body={
                "member_id": member, "old_printer_id": old, "new_printer_id": new}),
            *(until_done(o, "createCommand", path={"printer_id": new}, json_body=enable,
                         headers=key) for o in operators),
            operators[1].call("createCommand", path={"printer_id": old},
                              json_body={"kind": "permit-contract-printing"}))
        assert await count(db, select(func.count()).select_from(Command).where(
            Command.printer_id == new, Command.kind == "contract-transition",
            Command.deadline == times.parse(deadline))) == (commands[0].status < 300)
        assert commands[0].body == commands[1].body
        if change.status != 201:  # the new printer may be in a contract mode: it stays out
            assert change.body["type"].endswith("/contract-conflict"), change
            assert await count(db, select(func.count()).select_from(PrinterContract).where(
                PrinterContract.printer_id == new)) == 0
            continue
        assert len(await printing(db, [old, new])) <= 1, await printing(db, [old, new])
        process_id = change.body["process_id"]
        cancelled = await asyncio.gather(
            operators[0].call("cancelMemberContractProcess", path={"process_id": process_id},
                              json_body={"member_id": member}),
            operators[1].call("cancelContractProcess", path={"process_id": process_id}))
        assert [a.status for a in cancelled] == [200, 200], cancelled
        assert len(await printing(db, [old, new])) <= 1


# -- a worker killed mid-ingest -------------------------------------------------------------------

async def test_an_upload_cut_off_by_a_killed_worker_is_stored_once_when_retried(
        http: aiohttp.ClientSession, shared: Shared, db: Database, tmp_path: Path) -> None:
    """`serve --workers 2` on the same database: the worker holding a 500-entry upload is
    SIGKILLed once the upload's work has started; the gateway retries it (same key, same entry
    IDs) at the same address, where the other worker (or the dead one's replacement) answers,
    and every entry is stored exactly once."""
    gateway, _ = await enrolled(http, shared.clouds)
    printer_id = await gateway.register()
    body = {"statuses": [entry(printer_id, alerts=20) for _ in range(500)]}
    raw = json.dumps(body).encode()
    key = str(uuid.uuid4())
    headers = {"Idempotency-Key": key, "Content-Type": "application/json"}
    claimed = select(IdempotentRequest.completed).where(IdempotentRequest.key == key)
    stored = select(func.count()).select_from(Status).where(
        Status.gateway_id == gateway.gateway_id)
    async with supervised_cloud(shared.database_url, 2, tmp_path) as cloud, \
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(
                local_addr=(UPLOAD_SOURCE, 0))) as uploader:
        workers = cloud.workers()
        upload = GatewayApi(uploader, cloud.url, gateway.token)
        cut_off = asyncio.create_task(upload.call("uploadStatuses", data=raw, headers=headers))
        try:
            async with asyncio.timeout(20):
                while True:  # its work has started once the key is claimed
                    async with db.read() as session:
                        completed = (await session.execute(claimed)).scalar_one_or_none()
                    if completed is not None or cut_off.done():
                        break
                    await asyncio.sleep(0.005)
            victim = tcp_owner(workers, URL(cloud.url).port or 0, UPLOAD_SOURCE)
            assert victim is not None, "no worker holds the upload's connection"
            os.kill(victim, signal.SIGKILL)
            with pytest.raises(aiohttp.ClientError):
                await cut_off
        finally:
            cut_off.cancel()
        assert completed is False, "the upload finished before the worker was killed"
        retry = GatewayApi(http, cloud.url, gateway.token)
        retried = await until_done(retry, "uploadStatuses", data=raw, headers=headers)
        assert retried.status == 200
        assert retried.body["counts"] == {"accepted": 500, "duplicate": 0, "rejected": 0}
        assert await count(db, stored) == 500
        again = await retry.call("uploadStatuses", data=raw, headers=headers)
        assert (again.status, again.body) == (200, retried.body)
        another_key = await retry.call("uploadStatuses", data=raw, headers={
            **headers, "Idempotency-Key": str(uuid.uuid4())})
        assert another_key.body["counts"] == {"accepted": 0, "duplicate": 500, "rejected": 0}
        assert await count(db, stored) == 500


async def test_a_process_reads_no_status_past_one_still_being_stored(
        http: aiohttp.ClientSession, clouds: list[CloudProcess], db: Database) -> None:
    """Status sequence numbers are taken in insert order, not commit order: an upload of the
    old printer still being stored (holding its row, as `uploadStatuses` does) and a later one
    of the new printer stored first must not let the process's reconciliation move past the
    first unseen."""
    gateway, _ = await enrolled(http, clouds)
    operator = Operator(http, clouds[0].url)
    old, new = await gateway.register(), await gateway.register()
    await contract_printing(db, old, MEMBER)
    process = await operator.ok("requestContractChange", json_body={
        "member_id": MEMBER, "old_printer_id": old, "new_printer_id": new})
    read = select(ContractProcess.status_seq).where(ContractProcess.id == process["process_id"])
    async with db.write() as session:  # the slow upload of the old printer
        await session.execute(select(Printer.seq).where(Printer.id == old).with_for_update())
        slow = Status(gateway_id=gateway.gateway_id, entry_id=str(uuid.uuid4()), printer_id=old,
                      read_at=times.now(), received_at=times.now(), event="periodic", data={},
                      data_types="")
        session.add(slow)
        await session.flush()
        await gateway.upload([entry(new)])  # stored and committed, after it: the engine wakes
        for _ in range(15):
            assert await count(db, read) < slow.seq, "the process moved past an unseen status"
            await asyncio.sleep(0.1)
    fast = await count(db, select(func.max(Status.seq)).where(Status.printer_id == new))
    for _ in range(200):  # then it reads both (woken by the upload, or its next poll)
        if await count(db, read) >= fast:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the process did not read the statuses once stored")
