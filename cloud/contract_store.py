"""The contract processes in the database: the thin shell around `cloud.contract_change`.

Every event is handled in one write transaction: the process row is locked, its `Process` loaded,
the event applied, the resulting actions carried out (commands issued onto the change stream,
proposals opened or closed, the cartridge order placed, contract records updated) and the new
state stored.  So a process is always at a stored step, and a restarted cloud goes on from it.

Events come from the member API (requests, answers, the new printer's name) directly, and from
the gateway indirectly: `ContractEngine` reconciles every unfinished process with what is in the
database — the final state of the command it waits for, the status entries of its printers that
arrived since it last looked (their data and their event: `cloud.contract_readings`) — when the
gateway acknowledges a command or uploads statuses (`wakes`: in the worker that handled that call,
once it committed), every `poll_seconds` in one worker at a time (a `cloud.jobs` timer, also
resuming at start what a restart interrupted).  Reconciles of one process in several workers at
once are safe: each locks the process row and sees what the one before it stored.  A printer
joining a process (the request, or named later after S111) is fed its latest reading at once
(`latest_readings`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud import times
from cloud.changes import ChangeStream
from cloud.commands import issue_for_process, state_of
from cloud.contract_actions import Action, Ask, Close, Describe, Issue, Notify, Order, Record
from cloud.contract_change import Process
from cloud.contract_process import Machine
from cloud.contract_readings import Reading, cartridge_reading, reading_of
from cloud.contracts import announce_contract
from cloud.db import (
    CartridgeOrder,
    Command,
    ContractProcess,
    Database,
    Printer,
    PrinterContract,
    Proposal,
    Status,
)
from cloud.jobs import run_due
from cloud.member_notices import notify_member
from cloud.orders import OrderSender
from cloud.problems import Handler, not_found
from cloud.webhooks import wake_after_commit
from protocols.cloud.times import rfc3339

FINAL = ("done", "refused", "failed", "expired")
RECONCILE_JOB = "contract-reconcile"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ContractSettings:
    threshold_percent: int = 0
    """The old printer's contract cartridge is "run out" at or below this remaining percent
    (S105, S201); 0: when empty, the patent's example."""
    retry_seconds: float = 60.0
    """Pause before a refused, failed or expired command of a process is issued again (for a
    passing reason), doubled at each further attempt (at most an hour)."""
    order_webhook: str | None = None
    """URL the cartridge orders (S110) are POSTed to; None: orders stay pending."""
    poll_seconds: float = 5.0
    """Reconciliation interval besides the wake-ups."""
    max_attempts: int = 5
    """A process command failing for a passing reason is issued at most this many times; then
    (or at once for a reason no retry gets past) the process ends `failed`."""
    stall_after_seconds: float = 86400.0
    """A process waiting this long for the same thing is `stalled` in the operator's views."""
    notice_lead_seconds: float = 3 * 86400.0
    """S206: the termination notice comes this long before the old printer's withdrawal."""


__all__ = ["ENGINE", "ContractEngine", "ContractSettings", "cartridge_reading", "engine",
           "new_id", "run_engine", "wakes"]

READ_TYPES = ("supplies.cartridge", "supplies.kind", "supplies.model")
"""A printer's latest entry with each of these types makes up its latest reading."""


class ContractEngine:
    def __init__(self, db: Database, changes: ChangeStream, settings: ContractSettings,
                 webhook_secret: bytes | None = None) -> None:
        """`webhook_secret`: the key the cartridge orders are signed with (the server's)."""
        self.db, self.changes, self.settings = db, changes, settings
        self.orders = OrderSender(db, settings.order_webhook, webhook_secret, changes.wakes)
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    # -- handling one event --------------------------------------------------------------------

    async def create(self, session: AsyncSession, process: Process) -> ContractProcess:
        """Store a new process, feed it its printers' latest cartridge data, start it."""
        now = times.now()
        row = ContractProcess(id=process.process_id, kind=process.kind,
                              member_id=process.member_id, step=process.step,
                              state=process.to_json(), created_at=now, updated_at=now,
                              status_seq=(await session.execute(
                                  select(func.coalesce(func.max(Status.seq), 0)))).scalar_one())
        session.add(row)
        readings = {printer_id: await latest_reading(session, printer_id)
                    for printer_id in process.printers}
        await self.apply(session, row, process, process.start(now, readings))
        return row

    async def name_new_printer(self, session: AsyncSession, process_id: str,
                               printer_id: str, machine: Machine) -> ContractProcess:
        """S103 after S111: the new printer joins, judged on its latest reading at once."""
        reading = await latest_reading(session, printer_id)
        row, _ = await self.handle(session, process_id, lambda p: p.name_new_printer(
            printer_id, machine, times.now(), reading))
        return row

    async def cancel(self, session: AsyncSession, process_id: str, by: str) -> ContractProcess:
        row, _ = await self.handle(session, process_id, lambda p: p.cancel(by, times.now()))
        return row

    async def handle(self, session: AsyncSession, process_id: str,
                     event: Callable[[Process], list[Action]]) -> tuple[ContractProcess, Process]:
        """Apply `event` to the stored process (404 when there is none)."""
        row = await session.get(ContractProcess, process_id, with_for_update=True)
        if row is None:
            raise not_found(f"No contract process {process_id}.")
        process = Process.from_json(row.state)
        await self.apply(session, row, process, event(process))
        return row, process

    async def apply(self, session: AsyncSession, row: ContractProcess, process: Process,
                    actions: list[Action]) -> None:
        now = times.now()
        for action in actions:
            if isinstance(action, Issue):
                printer = (await session.execute(select(Printer).where(
                    Printer.id == action.printer_id))).scalar_one()
                # Through the guard (H1): a refusal is stored as the command refused.
                await issue_for_process(session, self.changes, printer,
                                        {"kind": action.kind, "parameters": action.parameters},
                                        action.command_id, process.process_id)
            elif isinstance(action, Notify):
                await notify_member(session, process.member_id, action.kind, action.payload,
                                    key=action.key)
            elif isinstance(action, Ask):
                session.add(Proposal(id=action.proposal_id, process_id=process.process_id,
                                     member_id=process.member_id, kind=action.kind,
                                     question=action.question,
                                     strongly_recommended=action.strongly_recommended,
                                     state="open", created_at=now))
            elif isinstance(action, Close):
                proposal = await session.get(Proposal, action.proposal_id)
                assert proposal is not None
                proposal.state, proposal.closed_at = action.state, now
            elif isinstance(action, Order):
                session.add(CartridgeOrder(
                    id=action.order_id, process_id=process.process_id,
                    printer_id=action.printer_id, created_at=now, state="pending", attempts=0,
                    next_attempt_at=now,
                    payload=await self._order_payload(session, process, action, now)))
                await wake_after_commit(session, CartridgeOrder)
            elif isinstance(action, Describe):
                await self._describe(session, action)
            else:
                await self._record(session, process, action, now)
        moved = bool(actions) or row.outcome != process.outcome
        row.state, row.step, row.outcome = process.to_json(), process.step, process.outcome
        row.old_printer_id = process.old.printer_id if process.old else None
        row.new_printer_id = process.new.printer_id if process.new else None
        row.updated_at = now
        if moved:  # records, the process's printers or its end: what the contracts ask (H3)
            await announce_contract(session, self.changes, process.printers)

    async def _record(self, session: AsyncSession, process: Process, record: Record,
                      now: Any) -> None:
        contract = await session.get(PrinterContract, record.printer_id)
        assert contract is not None  # created with the request (or the S104 registration)
        contract.flag, contract.mode = record.flag, record.mode
        contract.printing_prohibited = record.printing_prohibited
        contract.process_id, contract.updated_at = process.process_id, now

    async def _describe(self, session: AsyncSession, describe: Describe) -> None:
        contract = await session.get(PrinterContract, describe.printer_id)
        assert contract is not None
        contract.model, contract.series = describe.model[:128], describe.series[:128]
        contract.model_source, contract.series_source = \
            describe.model_source, describe.series_source

    async def _order_payload(self, session: AsyncSession, process: Process, order: Order,
                             now: Any) -> dict[str, Any]:
        contract = await session.get(PrinterContract, order.printer_id)
        assert contract is not None
        return {"order_id": order.order_id, "process_id": process.process_id,
                "member_id": process.member_id, "printer_id": order.printer_id,
                "model": contract.model, "series": contract.series,
                "ordered_at": rfc3339(now)}

    # -- reconciliation ------------------------------------------------------------------------

    async def reconcile(self, process_id: str) -> None:
        """Feed the process what happened since it last looked."""
        async def work(session: AsyncSession) -> None:
            row = await session.get(ContractProcess, process_id, with_for_update=True)
            if row is None or row.outcome is not None:
                return
            process = Process.from_json(row.state)
            if not self.db.sqlite:
                # Its printers' rows, which an upload holds until it commits: status sequence
                # numbers are taken in insert order, not commit order, so without the lock a
                # status of a concurrent upload could commit below the `status_seq` read here
                # (SQLite's single writer commits in order).
                await session.execute(select(Printer.seq).where(
                    Printer.id.in_(process.printers)).order_by(Printer.seq).with_for_update())
            now = times.now()
            actions: list[Action] = []
            statuses = (await session.execute(
                select(Status.seq, Status.printer_id, Status.data, Status.event,
                       Status.event_detail)
                .where(Status.printer_id.in_(process.printers), Status.seq > row.status_seq)
                .order_by(Status.seq))).all()
            for status in statuses:
                actions += process.reading(status.printer_id, reading_of(
                    status.data, status.event, status.event_detail), now)
                row.status_seq = status.seq
            while (command_id := process.awaited_command()) is not None:
                command = await session.get(Command, command_id)
                result = None if command is None else state_of(command, now)
                if command is None or result not in FINAL:
                    break
                reason = command.reason["code"] if command.reason else None
                actions += process.command_finished(command_id, result, reason, now)
            actions += process.tick(now)
            await self.apply(session, row, process, actions)

        await self.db.transact(work)

    async def reconcile_all(self) -> None:
        async with self.db.read() as session:
            ids = (await session.execute(select(ContractProcess.id).where(
                ContractProcess.outcome.is_(None)).order_by(ContractProcess.created_at))
            ).scalars().all()
        for process_id in ids:
            await self.reconcile(process_id)

    async def run(self) -> None:
        """Reconcile after each `wake()` here, and every `poll_seconds` in one worker at a time
        (the job `RECONCILE_JOB`, `cloud.jobs`; at start too when it is due)."""
        poll = self.settings.poll_seconds
        while True:
            woken = self._wake.is_set()
            self._wake.clear()
            pause = poll
            try:
                if woken:
                    await self.reconcile_all()
                else:
                    pause = await run_due(self.db, RECONCILE_JOB, poll, self.reconcile_all)
            except Exception:
                log.exception("contract processes: reconciliation failed")
            # Not asyncio.wait_for: on 3.11 it drops a cancellation that arrives in the same
            # turn of the event loop as the wake-up, and the loop would never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    await self._wake.wait()


ENGINE = web.AppKey("contract_engine", ContractEngine)


async def latest_reading(session: AsyncSession, printer_id: str) -> Reading:
    """The printer's reading as its latest uploads tell it: the latest entry with each of
    `READ_TYPES` (with its event), an earlier type's entry first for what it tells."""
    reading = Reading()
    for data_type in READ_TYPES:
        status = (await session.execute(
            select(Status.data, Status.event, Status.event_detail)
            .where(Status.printer_id == printer_id,
                   Status.data_types.contains(f",{data_type},"))
            .order_by(Status.seq.desc()).limit(1))).first()
        if status is not None:
            reading = reading.filled(reading_of(status.data, status.event, status.event_detail))
    return reading


def engine(request: web.Request) -> ContractEngine:
    return request.app[ENGINE]


def new_id() -> str:
    return str(uuid.uuid4())


def wakes(handler: Handler) -> Handler:
    """`handler`, and a wake-up of the contract engine after each success (a command
    acknowledged, statuses uploaded): its transaction has committed when it returns.  Only this
    worker's engine: it sees the commit like any other, and waking every worker's (the wake-up
    bus) would only repeat the reconciliation in each; the others' timer catches up on the
    wake-ups a killed worker missed."""
    async def wrapped(request: web.Request) -> web.StreamResponse:
        response = await handler(request)
        if response.status < 300:
            request.app[ENGINE].wake()
        return response

    return wrapped


async def run_engine(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the engine and the order sender run while the application does."""
    contract_engine = app[ENGINE]
    tasks = [asyncio.create_task(contract_engine.run()),
             asyncio.create_task(contract_engine.orders.run())]
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
