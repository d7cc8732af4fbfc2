"""The cloud's contract guard (`cloud.contract_guard`) against a real SQLite cloud database: which
commands it refuses and why — the operator's side door on a withdrawn printer, a process's
printers, the cloud's record, the device's last report (upload or acknowledgement) and open
commands each counting — and the up-front checks of a printer joining a contract.  The tests
marked `BOTH_BACKENDS` run on PostgreSQL too (the check's row locks)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from cloud import times
from cloud.changes import ChangeStream
from cloud.commands import issue, issue_for_process
from cloud.contract_guard import check_command, check_joining, require_contract_function
from cloud.db import Command, ContractProcess, Database, Gateway, Printer, PrinterContract
from cloud.problems import Problem
from tests.support.cloud_helpers import BOTH_BACKENDS

pytest_plugins = ("tests.support.cloud_helpers",)

MEMBER = "member-0042"


def state(mode: str, prohibited: bool = False) -> dict[str, Any]:
    return {"supported": True, "mode": mode, "printing_prohibited": prohibited,
            "panel_message": None}


@dataclass
class Cloud:
    db: Database
    gateway_id: str

    async def printer(self, *, contract: dict[str, Any] | None = None,
                      supported: bool | None = True) -> str:
        printer_id = str(uuid.uuid4())
        async with self.db.write() as session:
            session.add(Printer(
                id=printer_id, gateway_id=self.gateway_id, serial=printer_id[:8],
                product_name="InkStream IJ-400", manufacturer="Acme",
                shipping_destination="JP", time_zone="Asia/Tokyo", device_type="printer",
                registered_at=times.now(), contract=contract,
                contract_read_at=times.now() if contract else None,
                contract_supported=supported))
        return printer_id

    async def record(self, printer_id: str, flag: str, mode: str, prohibited: bool = False,
                     member: str = MEMBER) -> None:
        async with self.db.write() as session:
            session.add(PrinterContract(
                printer_id=printer_id, member_id=member, flag=flag, mode=mode,
                printing_prohibited=prohibited, page_limit=300, period="month", model="inkjet",
                series="IJ-500", updated_at=times.now()))

    async def process(self, old: str | None, new: str | None) -> str:
        process_id = str(uuid.uuid4())
        async with self.db.write() as session:
            session.add(ContractProcess(
                id=process_id, kind="change" if old else "contract", member_id=MEMBER,
                old_printer_id=old, new_printer_id=new, step="S201", state={}, status_seq=0,
                created_at=times.now(), updated_at=times.now()))
        return process_id

    async def command(self, printer_id: str, kind: str, parameters: dict[str, Any] | None = None,
                      *, state: str = "pending", contract_state: dict[str, Any] | None = None,
                      deadline: timedelta = timedelta(hours=1)) -> None:
        now = times.now()
        async with self.db.write() as session:
            session.add(Command(
                id=str(uuid.uuid4()), printer_id=printer_id, gateway_id=self.gateway_id,
                kind=kind, parameters=parameters or {}, issued_at=now, deadline=now + deadline,
                state=state, completed_at=None if state in ("pending", "received") else now,
                contract_state=contract_state))

    async def check(self, printer_id: str, kind: str, parameters: dict[str, Any] | None = None,
                    process_id: str | None = None) -> None:
        async with self.db.write() as session:
            printer = (await session.execute(
                select(Printer).where(Printer.id == printer_id))).scalar_one()
            await check_command(session, printer, kind, parameters or {},
                                process_id=process_id)

    async def refused(self, printer_id: str, kind: str, parameters: dict[str, Any] | None = None,
                      process_id: str | None = None) -> str:
        with pytest.raises(Problem) as refusal:
            await self.check(printer_id, kind, parameters, process_id)
        assert (refusal.value.name, refusal.value.status) == ("contract-conflict", 409)
        return refusal.value.detail


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Cloud]:
    """The cloud's database (SQLite; PostgreSQL too for the tests marked `BOTH_BACKENDS`)."""
    db = Database(database_url)
    await db.create_schema()
    gateway_id = str(uuid.uuid4())
    async with db.write() as session:
        session.add(Gateway(id=gateway_id, name="gw", software_version="1", region="jp",
                            token_hash="0" * 64, enrolled_at=times.now()))
    yield Cloud(db, gateway_id)
    await db.close()


async def changed(store: Cloud) -> tuple[str, str]:
    """After a completed change: the old printer withdrawn (unconfirmed), the new one billing."""
    old = await store.printer(contract=state("non-contract"))
    new = await store.printer(contract=state("contract-billing"))
    await store.record(old, "unconfirmed", "non-contract")
    await store.record(new, "confirmed", "contract-billing")
    return old, new


# -- the operator's side door ----------------------------------------------------------------------

@BOTH_BACKENDS
async def test_a_withdrawn_printer_is_not_put_back_while_the_new_one_prints(
        store: Cloud) -> None:
    old, new = await changed(store)
    detail = await store.refused(old, "contract-transition")
    assert new in detail and old in detail
    assert "the cloud's record says contract-billing" in detail
    for billing in ("billing-start", "contract-transition"):
        assert "not confirmed" in await store.refused(old, billing, {"mode": "contract-billing"}
                                                      if billing != "billing-start" else None)
    # A permission alone cannot make a printer in non-contract mode print.
    await store.check(old, "permit-contract-printing")


@pytest.mark.parametrize("kind", ["withdrawal", "prohibit-contract-printing", "panel-message"])
async def test_what_cannot_enable_contract_printing_passes(store: Cloud, kind: str) -> None:
    old, new = await changed(store)
    for printer_id in (old, new):
        await store.check(printer_id, kind, {"message": "Hello"} if kind == "panel-message"
                          else None)


async def test_the_withdrawn_printer_may_come_back_once_the_new_one_is_withdrawn(
        store: Cloud) -> None:
    """Only a possibly printing partner refuses: withdrawn everywhere, the old printer may be
    transitioned (it is then the only one of the member)."""
    old, new = await changed(store)
    async with store.db.write() as session:
        contract = await session.get(PrinterContract, new)
        assert contract is not None
        contract.mode = "non-contract"
    await store.command(new, "withdrawal", state="done", contract_state=state("non-contract"))
    await store.check(old, "contract-transition", {"mode": "contract-non-billing"})


async def test_printers_outside_every_contract_are_the_operators_business(store: Cloud) -> None:
    _, new = await changed(store)
    stranger = await store.printer(contract=state("contract-billing"))
    for kind in ("contract-transition", "billing-start", "permit-contract-printing"):
        await store.check(stranger, kind)
    await store.check(stranger, "contract-transition", {"mode": "contract-billing"})
    await store.check(new, "billing-start")  # the new printer's own contract


async def test_two_confirmed_contracts_of_a_member_are_two_contracts(store: Cloud) -> None:
    first = await store.printer(contract=state("contract-billing"))
    second = await store.printer(contract=state("contract-non-billing"))
    await store.record(first, "confirmed", "contract-billing")
    await store.record(second, "confirmed", "contract-non-billing")
    await store.check(second, "billing-start")
    await store.check(first, "contract-transition", {"mode": "contract-billing"})


async def test_billing_only_on_a_confirmed_contract(store: Cloud) -> None:
    printer = await store.printer(contract=state("contract-non-billing"))
    await store.record(printer, "unconfirmed", "non-contract")
    assert "not confirmed" in await store.refused(printer, "billing-start")
    assert "not confirmed" in await store.refused(printer, "contract-transition",
                                                  {"mode": "contract-billing"})


# -- a process's printers --------------------------------------------------------------------------

async def plan(store: Cloud, *, new_prohibited: bool,
               new_mode: str = "non-contract") -> tuple[str, str, str]:
    """A change with a plan: the old printer billing, the new one unconfirmed (S104) or, in
    `new_mode` contract-non-billing, transitioned (S109)."""
    old = await store.printer(contract=state("contract-billing"))
    new = await store.printer(contract=state(new_mode, new_prohibited))
    await store.record(old, "confirmed", "contract-billing")
    await store.record(new, "unconfirmed" if new_mode == "non-contract" else "confirmed",
                       new_mode, new_prohibited)
    return old, new, await store.process(old, new)


@pytest.mark.parametrize("kind", ["contract-transition", "permit-contract-printing",
                                  "billing-start", "panel-message"])
async def test_a_process_owns_its_printers(store: Cloud, kind: str) -> None:
    old, new, process_id = await plan(store, new_prohibited=False)
    for printer_id in (old, new):
        detail = await store.refused(printer_id, kind, {"message": "x"}
                                     if kind == "panel-message" else None)
        assert process_id in detail and "owns" in detail
        await store.check(printer_id, "withdrawal")
        await store.check(printer_id, "prohibit-contract-printing")


async def test_the_new_printer_transitions_only_prohibited_while_the_old_prints(
        store: Cloud) -> None:
    old, new, process_id = await plan(store, new_prohibited=False)
    detail = await store.refused(new, "contract-transition", None, process_id)
    assert old in detail and "contract-billing" in detail
    _, guarded, guarded_process = await plan(store, new_prohibited=True)
    await store.check(guarded, "contract-transition", None, guarded_process)
    _, transitioned, later = await plan(store, new_prohibited=True,
                                        new_mode="contract-non-billing")
    detail = await store.refused(transitioned, "permit-contract-printing", None, later)
    assert "contract-billing" in detail


@BOTH_BACKENDS
async def test_the_new_printer_is_permitted_once_the_old_one_is_withdrawn(store: Cloud) -> None:
    old, new, process_id = await plan(store, new_prohibited=True,
                                      new_mode="contract-non-billing")
    async with store.db.write() as session:
        contract = await session.get(PrinterContract, old)
        assert contract is not None
        contract.mode, contract.flag = "non-contract", "unconfirmed"
    # The record alone is not enough: the device's last word (its upload) still says billing.
    assert "its last report says contract-billing" in await store.refused(
        new, "permit-contract-printing", None, process_id)
    # The withdrawal's acknowledgement is newer than that upload.
    await store.command(old, "withdrawal", state="done", contract_state=state("non-contract"))
    await store.check(new, "permit-contract-printing", None, process_id)


async def test_an_open_command_counts(store: Cloud) -> None:
    """A transition still open on the old printer makes it possibly printing, whatever its record
    and its last report say; past its deadline (and the clock allowance) it no longer counts."""
    old, new, process_id = await plan(store, new_prohibited=False)
    async with store.db.write() as session:
        contract = await session.get(PrinterContract, old)
        printer = await session.get(Printer, (await session.execute(
            select(Printer.seq).where(Printer.id == old))).scalar_one())
        assert contract is not None and printer is not None
        contract.mode, printer.contract = "non-contract", state("non-contract")
    await store.command(old, "contract-transition", {"mode": "contract-non-billing"},
                        state="received", deadline=timedelta(minutes=-10))
    await store.check(new, "contract-transition", None, process_id)
    await store.command(old, "contract-transition", {"mode": "contract-non-billing"})
    assert "open command" in await store.refused(new, "contract-transition", None, process_id)


async def test_a_process_command_refused_by_the_guard_is_stored_refused(store: Cloud) -> None:
    """`issue_for_process`: never sent, stored `refused` with `contract-conflict`, so the process
    handles it like a device's refusal; the operator's `issue` raises instead."""
    old, new, process_id = await plan(store, new_prohibited=False)
    changes = ChangeStream(store.db)
    command_id = str(uuid.uuid4())
    async with store.db.write() as session:
        printer = (await session.execute(select(Printer).where(Printer.id == new))).scalar_one()
        command = await issue_for_process(session, changes, printer,
                                          {"kind": "contract-transition"}, command_id,
                                          process_id)
        with pytest.raises(Problem):
            await issue(session, changes, printer, {"kind": "contract-transition"})
    async with store.db.read() as session:
        stored = await session.get(Command, command_id)
        assert stored is not None and stored.state == "refused"
        assert stored.reason is not None and stored.reason["code"] == "contract-conflict"
        assert old in stored.reason["detail"]
        assert len((await session.execute(select(Command))).scalars().all()) == 1
    assert command.id == command_id


async def test_the_issuing_process_counts_before_its_row_names_the_printer(
        store: Cloud) -> None:
    """A first contract's transition issued in the transaction that creates the process (its
    row does not name the printer yet) is the process's own, not the operator's."""
    other = await store.printer(contract=state("contract-billing"))
    await store.record(other, "confirmed", "contract-billing")
    printer = await store.printer(contract=state("non-contract"))
    await store.record(printer, "unconfirmed", "non-contract")
    process_id = await store.process(None, None)
    await store.check(printer, "contract-transition", None, process_id)
    assert "contract-billing" in await store.refused(printer, "contract-transition")


# -- joining a contract ----------------------------------------------------------------------------

async def test_a_printer_in_contract_mode_does_not_join(store: Cloud) -> None:
    printing = await store.printer(contract=state("contract-non-billing"))
    async with store.db.read() as session:
        printer = await session.get(Printer, 1)
        assert printer is not None and printer.id == printing
        with pytest.raises(Problem, match="withdraw it first") as refusal:
            await check_joining(session, printer)
        assert refusal.value.name == "contract-conflict"
    plain = await store.printer(contract=state("non-contract"))
    async with store.db.read() as session:
        printer = (await session.execute(select(Printer).where(Printer.id == plain))
                   ).scalar_one()
        await check_joining(session, printer)


@pytest.mark.parametrize(("reported", "registered", "problem"), [
    (True, None, None), (None, True, None), (False, True, "contract-unsupported"),
    (None, False, "contract-unsupported"), (None, None, "contract-function-unknown")])
async def test_the_contract_function(store: Cloud, reported: bool | None,
                                     registered: bool | None, problem: str | None) -> None:
    """The device's last uploaded `contract.supported` decides, else the registration's."""
    contract = None if reported is None else {**state("non-contract"), "supported": reported}
    printer_id = await store.printer(contract=contract, supported=registered)
    async with store.db.read() as session:
        printer = (await session.execute(select(Printer).where(Printer.id == printer_id))
                   ).scalar_one()
    if problem is None:
        require_contract_function(printer)
        return
    with pytest.raises(Problem) as refusal:
        require_contract_function(printer)
    assert (refusal.value.name, refusal.value.status) == (problem, 409)
