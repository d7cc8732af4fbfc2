"""The contract processes in the database: the thin shell around `cloud.contract_change`.

Every event is handled in one write transaction: the process row is locked, its `Process` loaded,
the event applied, the resulting actions carried out (commands issued onto the change stream,
proposals opened or closed, the cartridge order placed, contract records updated) and the new
state stored.  So a process is always at a stored step, and a restarted cloud goes on from it.

Events come from the member API (requests, answers, the new printer's name) directly, and from
the gateway indirectly: `ContractEngine` reconciles every unfinished process with what is in the
database — the final state of the command it waits for, the status entries of its printers that
arrived since it last looked — when the gateway acknowledges a command or uploads statuses
(`wakes`), every `poll_seconds`, and once at start (resuming what a restart interrupted).
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
from cloud.commands import issue, state_of
from cloud.contract_actions import Action, Ask, Close, Issue, Order, Record
from cloud.contract_change import Process
from cloud.db import (
    CartridgeOrder,
    Command,
    ContractProcess,
    Database,
    Printer,
    PrinterContract,
    Proposal,
    Status,
    after_commit,
)
from cloud.orders import OrderSender
from cloud.problems import Handler, not_found
from protocols.cloud.times import rfc3339

FINAL = ("done", "refused", "failed", "expired")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ContractSettings:
    threshold_percent: int = 0
    """The old printer's contract cartridge is "run out" at or below this remaining percent
    (S105, S201); 0: when empty, the patent's example."""
    retry_seconds: float = 60.0
    """Pause before a refused, failed or expired command of a process is issued again."""
    order_webhook: str | None = None
    """URL the cartridge orders (S110) are POSTed to; None: orders stay pending."""
    poll_seconds: float = 5.0
    """Reconciliation interval besides the wake-ups."""


def cartridge_reading(data: dict[str, Any]) -> tuple[bool | None, int | None]:
    """From a status entry's data: is a contract cartridge installed (None: not told), and the
    lowest remaining percent of the contract cartridges (None: not told).  Needs
    `supplies.cartridge`, and `supplies.level` in the same entry for the amount."""
    cartridges = data.get("supplies.cartridge")
    if cartridges is None:
        return None, None
    contract = {c["index"] for c in cartridges if c["cartridge_type"] == "contract"}
    levels = [s["level_percent"] for s in data.get("supplies.level") or []
              if s["index"] in contract and s["level_percent"] is not None]
    return bool(contract), min(levels) if levels else None


class ContractEngine:
    def __init__(self, db: Database, changes: ChangeStream, settings: ContractSettings) -> None:
        self.db, self.changes, self.settings = db, changes, settings
        self.orders = OrderSender(db, settings.order_webhook)
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
        actions: list[Action] = []
        for printer_id in process.printers:
            data = (await session.execute(
                select(Status.data).where(Status.printer_id == printer_id,
                                          Status.data_types.contains(",supplies.cartridge,"))
                .order_by(Status.seq.desc()).limit(1))).scalar_one_or_none()
            if data is not None:
                actions += process.reading(printer_id, *cartridge_reading(data), now)
        actions += process.start(now)
        await self.apply(session, row, process, actions)
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
                await issue(session, self.changes, printer,
                            {"kind": action.kind, "parameters": action.parameters},
                            command_id=action.command_id)
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
                after_commit(session, self.orders.wake)
            else:
                await self._record(session, process, action, now)
        row.state, row.step, row.outcome = process.to_json(), process.step, process.outcome
        row.old_printer_id = process.old.printer_id if process.old else None
        row.new_printer_id = process.new.printer_id if process.new else None
        row.updated_at = now

    async def _record(self, session: AsyncSession, process: Process, record: Record,
                      now: Any) -> None:
        contract = await session.get(PrinterContract, record.printer_id)
        assert contract is not None  # created with the request (or the S104 registration)
        contract.flag, contract.mode = record.flag, record.mode
        contract.printing_prohibited = record.printing_prohibited
        contract.process_id, contract.updated_at = process.process_id, now

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
            now = times.now()
            actions: list[Action] = []
            statuses = (await session.execute(
                select(Status.seq, Status.printer_id, Status.data)
                .where(Status.printer_id.in_(process.printers), Status.seq > row.status_seq)
                .order_by(Status.seq))).all()
            for status in statuses:
                actions += process.reading(status.printer_id, *cartridge_reading(status.data),
                                           now)
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
        while True:
            self._wake.clear()
            try:
                await self.reconcile_all()
            except Exception:
                log.exception("contract processes: reconciliation failed")
            # Not asyncio.wait_for: on 3.11 it drops a cancellation that arrives in the same
            # turn of the event loop as the wake-up, and the loop would never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.poll_seconds):
                    await self._wake.wait()


ENGINE = web.AppKey("contract_engine", ContractEngine)


def engine(request: web.Request) -> ContractEngine:
    return request.app[ENGINE]


def new_id() -> str:
    return str(uuid.uuid4())


def wakes(handler: Handler) -> Handler:
    """`handler`, and a wake-up of the contract engine after each success (a command
    acknowledged, statuses uploaded): its transaction has committed when it returns."""
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
