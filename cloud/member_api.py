"""The member-site API (tag `member`) and the operator's views of contracts and processes.

The member site (Brother S101) is the provider's own web front-end: it signs its members in
itself and calls these operations with an operator token, naming the member by `member_id`
(`protocols/cloud/openapi.yaml`, tag `member`).  Each request starts, advances or cancels a
contract process (`cloud.contract_change`) through `cloud.contract_store`; the operator lists the
unfinished ones with what each waits for (`stalled` after `--contract-stall-after`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud import times
from cloud.contract_change import Process, new_change, new_contract
from cloud.contract_guard import check_joining, require_contract_function
from cloud.contract_process import Machine
from cloud.contract_store import ContractEngine, engine, new_id
from cloud.contract_usage import usage_view
from cloud.contracts import find_printer
from cloud.db import CartridgeOrder, ContractProcess, Printer, PrinterContract, Proposal
from cloud.handlers import Call, Caller, Reply, reads, writes
from cloud.problems import Problem, invalid, not_found
from protocols.cloud.times import rfc3339

PERIOD = "month"
NO_PROCESS = "No contract process {}."


# -- views -----------------------------------------------------------------------------------------

def proposal_view(proposal: Proposal) -> dict[str, Any]:
    return {"proposal_id": proposal.id, "process_id": proposal.process_id,
            "member_id": proposal.member_id, "kind": proposal.kind, "question": proposal.question,
            "strongly_recommended": proposal.strongly_recommended, "state": proposal.state,
            "answer": proposal.answer, "created_at": rfc3339(proposal.created_at),
            "closed_at": rfc3339(proposal.closed_at) if proposal.closed_at else None}


def _time(value: Any) -> str | None:
    return None if value is None else rfc3339(value)


async def process_view(session: AsyncSession, row: ContractProcess,
                       contracts: ContractEngine) -> dict[str, Any]:
    process = Process.from_json(row.state)
    head = process.queue[0] if process.queue else None
    since = process.waiting_since
    stalled = since is not None and times.now() - since > timedelta(
        seconds=contracts.settings.stall_after_seconds)
    order = (await session.execute(select(CartridgeOrder).where(
        CartridgeOrder.process_id == row.id))).scalar_one_or_none()
    return {
        "process_id": row.id, "kind": row.kind, "member_id": row.member_id,
        "old_printer_id": row.old_printer_id, "new_printer_id": row.new_printer_id,
        "pattern": process.pattern, "step": row.step, "plan_established": process.plan,
        "outcome": row.outcome, "threshold_percent": process.threshold,
        "old_contract_level_percent": process.old_level,
        "new_contract_cartridge": process.new_cartridge,
        "awaiting_command": None if head is None else {
            "command_id": head.command_id, "printer_id": process.device(head.role).printer_id,
            "kind": head.kind, "attempts": head.attempts},
        "open_proposal": process.proposal["proposal_id"] if process.proposal else None,
        "order": None if order is None else {
            "order_id": order.id, "state": order.state, "attempts": order.attempts,
            "last_error": order.last_error,
            "delivered_at": rfc3339(order.delivered_at) if order.delivered_at else None},
        "machines": {role: {"model": m.model, "series": m.series, "model_source": m.model_source,
                            "series_source": m.series_source}
                     for role, m in process.machines.items()},
        "plan_ends_at": _time(process.ends_at),
        "waiting_for": None if process.waiting_for is None else {
            **process.waiting_for, **({"until": _time(process.ends_at)}
                                      if "until" in process.waiting_for else {})},
        "waiting_since": _time(since), "stalled": stalled, "failure": process.failure,
        "history": [{**h, "at": rfc3339(times.parse(h["at"]))} for h in process.history],
        "created_at": rfc3339(row.created_at), "updated_at": rfc3339(row.updated_at)}


def contract_view(contract: PrinterContract, printer: Printer) -> dict[str, Any]:
    return {"printer_id": contract.printer_id, "member_id": contract.member_id,
            "flag": contract.flag, "mode": contract.mode,
            "printing_prohibited": contract.printing_prohibited,
            "page_limit": contract.page_limit, "period": contract.period,
            "model": contract.model, "series": contract.series,
            "model_source": contract.model_source, "series_source": contract.series_source,
            "threshold_percent": contract.threshold_percent,
            "process_id": contract.process_id, "updated_at": rfc3339(contract.updated_at),
            "device_contract": printer.contract}


# -- helpers ---------------------------------------------------------------------------------------

async def _busy(session: AsyncSession, printer_id: str) -> None:
    """409 when an unfinished process already involves the printer."""
    running = (await session.execute(select(ContractProcess.id).where(
        ContractProcess.outcome.is_(None),
        or_(ContractProcess.old_printer_id == printer_id,
            ContractProcess.new_printer_id == printer_id)))).first()
    if running is not None:
        raise Problem("conflict", f"Printer {printer_id} is already in contract process "
                      f"{running[0]}.")


def _machine(printer: Printer, model: str | None, series: str | None) -> Machine:
    """What is known of the printer's machine before its readings (S120): what the member
    typed, else its registered product name."""
    return Machine(model or printer.product_name, series or printer.product_name,
                   "member" if model else "product-name", "member" if series else "product-name")


async def _register_new(session: AsyncSession, printer: Printer, member_id: str,
                        machine: Machine, page_limit: int, period: str, threshold: int) -> None:
    """S104 (and a first contract): the printer's contract record, `unconfirmed` (its model and
    series are recorded again once S120 decided them from the printer's readings)."""
    require_contract_function(printer)  # H1: refused up front, with the reason
    await check_joining(session, printer)
    await _busy(session, printer.id)
    contract = await session.get(PrinterContract, printer.id, with_for_update=True)
    if contract is not None and contract.flag == "confirmed":
        raise Problem("conflict", f"Printer {printer.id} already has a confirmed contract.")
    if contract is None:
        contract = PrinterContract(printer_id=printer.id)
        session.add(contract)
    contract.member_id, contract.flag, contract.mode = member_id, "unconfirmed", "non-contract"
    contract.printing_prohibited = False
    contract.page_limit, contract.period, contract.threshold_percent = \
        page_limit, period, threshold
    contract.model, contract.series = machine.model[:128], machine.series[:128]
    contract.model_source, contract.series_source = machine.model_source, machine.series_source
    contract.updated_at = times.now()
    await session.flush()


# -- member site -----------------------------------------------------------------------------------

@writes(Caller.OPERATOR, body="ContractRequest", status=201)
async def request_contract(call: Call, session: AsyncSession) -> Reply:
    body, contracts = call.body, engine(call.request)
    settings = contracts.settings
    printer = await find_printer(session, body["printer_id"], lock=True)
    machine = _machine(printer, body.get("model"), body.get("series"))
    threshold = body.get("threshold_percent", settings.threshold_percent)
    await _register_new(session, printer, body["member_id"], machine, body["page_limit"],
                        body.get("period", PERIOD), threshold)
    process = new_contract(new_id(), body["member_id"], printer_id=printer.id, machine=machine,
                           threshold=threshold, retry_delay=settings.retry_seconds,
                           max_attempts=settings.max_attempts)
    return await process_view(session, await contracts.create(session, process), contracts)


@writes(Caller.OPERATOR, body="ContractChangeRequest", status=201)
async def request_contract_change(call: Call, session: AsyncSession) -> Reply:
    """The process watches the old cartridge against the old contract's threshold; the new
    printer's contract gets the request's `threshold_percent`, else the old contract's."""
    body, contracts = call.body, engine(call.request)
    settings = contracts.settings
    new_printer_id = body.get("new_printer_id")
    if new_printer_id is not None and new_printer_id.lower() == body["old_printer_id"].lower():
        raise invalid("/new_printer_id", "The new printer must not be the old one.")
    old = await find_printer(session, body["old_printer_id"], lock=True)
    contract = await session.get(PrinterContract, old.id, with_for_update=True)
    if contract is None or contract.flag != "confirmed":
        raise Problem("conflict", f"Printer {old.id} has no confirmed contract to move.")
    if contract.member_id != body["member_id"]:
        raise not_found(f"Member {body['member_id']} has no contract on printer {old.id}.")
    await _busy(session, old.id)
    new_threshold = body.get("threshold_percent", contract.threshold_percent)
    typed = Machine(body.get("new_model", ""), body.get("new_series", ""))
    new = None
    if new_printer_id is not None:
        new = await find_printer(session, new_printer_id, lock=True)
        typed = _machine(new, typed.model, typed.series)
        await _register_new(session, new, body["member_id"], typed, contract.page_limit,
                            contract.period, new_threshold)
    process = new_change(
        new_id(), body["member_id"], old_printer=old.id, old_mode=contract.mode,
        old_prohibited=contract.printing_prohibited,
        old_machine=Machine(contract.model, contract.series, contract.model_source or "member",
                            contract.series_source or "member"),
        new_machine=typed, new_printer=new.id if new is not None else None,
        threshold=contract.threshold_percent, retry_delay=settings.retry_seconds,
        max_attempts=settings.max_attempts, notice_lead=settings.notice_lead_seconds,
        time_zone=old.time_zone, new_threshold=new_threshold)
    return await process_view(session, await contracts.create(session, process), contracts)


@writes(Caller.OPERATOR, body="NewPrinter")
async def name_new_printer(call: Call, session: AsyncSession) -> Reply:
    process_id = call.path_id("process_id", NO_PROCESS)
    printer_id = call.body["printer_id"]
    row = await session.get(ContractProcess, process_id, with_for_update=True)
    if row is None:
        raise not_found(NO_PROCESS.format(process_id))
    process = Process.from_json(row.state)
    if not process.can_name_new_printer():
        raise Problem("conflict", f"Process {process_id} is at {process.step}: it does not "
                      "wait for a new printer.")
    if printer_id.lower() in process.printers:
        raise invalid("/printer_id", "The new printer must not be the old one.")
    old = await session.get(PrinterContract, process.printers[0])
    assert old is not None
    new = await find_printer(session, printer_id, lock=True)
    typed = process.machines["new"]
    machine = _machine(new, typed.model, typed.series)
    await _register_new(session, new, process.member_id, machine, old.page_limit, old.period,
                        old.threshold_percent if process.new_threshold is None
                        else process.new_threshold)
    contracts = engine(call.request)
    return await process_view(session, await contracts.name_new_printer(
        session, process_id, new.id, machine), contracts)


@writes(Caller.OPERATOR, body="ProcessCancellation")
async def cancel_process_for_member(call: Call, session: AsyncSession) -> Reply:
    """The member cancels their process (a process of another member is not found)."""
    return await _cancel(call, session, call.body["member_id"])


@reads(Caller.OPERATOR, parameters="listProposals")
async def list_proposals(call: Call, session: AsyncSession) -> Reply:
    params = call.query
    statement = select(Proposal).where(Proposal.member_id == params["member_id"])
    if params.get("state", "open") != "all":
        statement = statement.where(Proposal.state == params.get("state", "open"))
    proposals = (await session.execute(
        statement.order_by(Proposal.created_at, Proposal.id))).scalars().all()
    return {"proposals": [proposal_view(p) for p in proposals]}


@writes(Caller.OPERATOR, body="ProposalAnswer")
async def answer_proposal(call: Call, session: AsyncSession) -> Reply:
    proposal_id = call.path_id("proposal_id", "No proposal {}.")
    answer = call.body["answer"]
    proposal = await session.get(Proposal, proposal_id, with_for_update=True)
    if proposal is None or proposal.member_id != call.body["member_id"]:
        raise not_found(f"No proposal {proposal_id}.")
    if proposal.state != "open":
        if proposal.state == "answered" and proposal.answer == answer:
            return proposal_view(proposal)  # a retry
        raise Problem("conflict", f"The proposal is {proposal.state}"
                      f"{' ' + proposal.answer if proposal.answer else ''}.")
    proposal.answer = answer
    await engine(call.request).handle(session, proposal.process_id, lambda p: p.answer(
        proposal_id, answer == "yes", times.now()))
    return proposal_view(proposal)


# -- operator views and actions --------------------------------------------------------------------

@writes(Caller.OPERATOR)
async def cancel_process(call: Call, session: AsyncSession) -> Reply:
    return await _cancel(call, session, None)


async def _cancel(call: Call, session: AsyncSession, member_id: str | None) -> Reply:
    """Cancel (module `cloud.contract_change`: the process winds down); a repeated cancel of a
    process cancelled or being cancelled answers its view, one that ended otherwise 409."""
    process_id = call.path_id("process_id", NO_PROCESS)
    contracts = engine(call.request)
    row = await session.get(ContractProcess, process_id, with_for_update=True)
    if row is None or (member_id is not None and row.member_id != member_id):
        raise not_found(NO_PROCESS.format(process_id))
    process = Process.from_json(row.state)
    if process.ending == "cancelled" or process.outcome == "cancelled":
        return await process_view(session, row, contracts)
    if process.finished or process.ending is not None:
        raise Problem("conflict", f"Process {process_id} has "
                      f"{'ended ' + str(process.outcome) if process.finished else 'failed'}.")
    return await process_view(session, await contracts.cancel(
        session, process_id, "member" if member_id is not None else "operator"), contracts)


@reads(Caller.OPERATOR, parameters="listContractProcesses")
async def list_contract_processes(call: Call, session: AsyncSession) -> Reply:
    """The unfinished processes, oldest first; `stalled=true`: only those waiting longer than
    `--contract-stall-after` for the same thing."""
    contracts = engine(call.request)
    rows = (await session.execute(select(ContractProcess).where(
        ContractProcess.outcome.is_(None)).order_by(ContractProcess.created_at,
                                                   ContractProcess.id))).scalars().all()
    views = [await process_view(session, row, contracts) for row in rows]
    if call.query.get("stalled") == "true":
        views = [view for view in views if view["stalled"]]
    return {"processes": views}


@reads(Caller.OPERATOR)
async def get_contract_process(call: Call, session: AsyncSession) -> Reply:
    process_id = call.path_id("process_id", NO_PROCESS)
    row = await session.get(ContractProcess, process_id)
    if row is None:
        raise not_found(NO_PROCESS.format(process_id))
    return await process_view(session, row, engine(call.request))


@reads(Caller.OPERATOR)
async def get_printer_contract(call: Call, session: AsyncSession) -> Reply:
    printer = await find_printer(session, call.path("printer_id"))
    contract = await session.get(PrinterContract, printer.id)
    if contract is None:
        raise not_found(f"Printer {printer.id} has no contract.")
    return {**contract_view(contract, printer),
            "usage": await usage_view(session, contract, printer, times.now())}
