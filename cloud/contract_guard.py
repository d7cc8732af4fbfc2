"""One choke point for "one contract, one printer" (SPEC §7, issue 15): every contract-mode
command the cloud issues — the operator's, a contract process's, a retry — passes
`check_command` first, and a printer joins a contract only past `check_joining` and
`require_contract_function`.

What the check knows of a printer is `Evidence`: the cloud's record (`PrinterContract`), the
device's last report (the newer of the uploaded `contract` state and the `contract_state` of
its last completed command) and its open commands.  A printer *may be contract-printing* when
any of them puts it in a contract mode and any of them (or none at all) leaves it permitted:
the check never trusts the most hopeful source.

Which printers are "of one contract" with the command's printer T:

- the other printer of an unfinished process involving T (the old and the new printer of a
  change);
- the other printers of T's member when T or they are not *entitled* to contract-print, that is
  have neither a confirmed contract nor an unfinished process (a withdrawn old printer, a
  registration never confirmed): such a printer can only duplicate one of the member's
  contracts.  Two confirmed contracts of a member are two contracts and do not conflict.

A printer without a contract record and outside every process belongs to no contract: commands
for it pass (the operator's own business, e.g. the relay's tests).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud import times
from cloud.db import Command, ContractProcess, Printer, PrinterContract
from cloud.problems import Problem

CONTRACT_MODES = ("contract-non-billing", "contract-billing")
ENABLING = ("contract-transition", "permit-contract-printing", "billing-start")
"""Commands that can let a printer contract-print."""
SAFE = ("withdrawal", "prohibit-contract-printing")
"""Commands that only make things safer: an operator may send them to a process's printer."""
OPEN = ("pending", "received")
CLOCK_SKEW = timedelta(minutes=5)
"""An open command past its deadline still counts this long: the gateway's clock decides."""


@dataclass(frozen=True)
class Said:
    """One source's word on a printer's contract state (None: it says nothing about it)."""

    source: str
    mode: str | None = None
    prohibited: bool | None = None


@dataclass(frozen=True)
class Evidence:
    printer_id: str
    said: tuple[Said, ...]

    def with_command(self, kind: str, parameters: dict[str, Any]) -> Evidence:
        return Evidence(self.printer_id, (*self.said, effect("this command", kind, parameters)))

    def printing(self) -> str | None:
        """Why the printer may be contract-printing; None when no source lets it."""
        modes = [s for s in self.said if s.mode in CONTRACT_MODES]
        if not modes:
            return None
        told = [s for s in self.said if s.prohibited is not None]
        permitted = [s for s in told if not s.prohibited]
        if told and not permitted:
            return None
        why = [f"{s.source} says {s.mode}" for s in modes]
        why += [f"{s.source} says permitted" for s in permitted if s.mode not in CONTRACT_MODES]
        return "; ".join(why) + ("" if told else "; nothing says prohibited")

    def contract_mode(self) -> str | None:
        """Why the printer may be in a contract mode; None when no source says so."""
        modes = [f"{s.source} says {s.mode}" for s in self.said if s.mode in CONTRACT_MODES]
        return "; ".join(modes) or None


def effect(source: str, kind: str, parameters: dict[str, Any]) -> Said:
    """What a command of `kind` does to the device once applied."""
    if kind == "contract-transition":
        return Said(source, mode=parameters.get("mode", "contract-non-billing"))
    if kind == "billing-start":
        return Said(source, mode="contract-billing")
    if kind == "withdrawal":
        return Said(source, mode="non-contract")
    if kind in ("prohibit-contract-printing", "permit-contract-printing"):
        return Said(source, prohibited=kind.startswith("prohibit"))
    return Said(source)


async def evidence(session: AsyncSession, printer: Printer) -> Evidence:
    said: list[Said] = []
    record = await session.get(PrinterContract, printer.id)
    if record is not None:
        said.append(Said("the cloud's record", record.mode, record.printing_prohibited))
    report = await _last_report(session, printer)
    if report is not None:
        said.append(report)
    now = times.now()
    open_commands = (await session.execute(select(Command).where(
        Command.printer_id == printer.id, Command.state.in_(OPEN),
        Command.deadline >= now - CLOCK_SKEW).order_by(Command.issued_at))).scalars()
    said += [effect(f"open command {c.id} ({c.kind})", c.kind, c.parameters)
             for c in open_commands]
    return Evidence(printer.id, tuple(said))


async def _last_report(session: AsyncSession, printer: Printer) -> Said | None:
    """The device's newest word: its uploaded `contract` state or the contract state reported
    with its last completed command, whichever was read later."""
    acked = (await session.execute(select(Command).where(
        Command.printer_id == printer.id, Command.contract_state.is_not(None),
        Command.completed_at.is_not(None)).order_by(Command.completed_at.desc()).limit(1))
    ).scalar_one_or_none()
    state, source = printer.contract, "its last report"
    if acked is not None and acked.completed_at is not None and (
            printer.contract_read_at is None or acked.completed_at > printer.contract_read_at):
        state, source = acked.contract_state, f"its last acknowledgement ({acked.kind})"
    if not state or not state.get("supported") or state.get("mode") is None:
        return None
    return Said(source, state["mode"], state.get("printing_prohibited"))


def conflict(detail: str) -> Problem:
    return Problem("contract-conflict", detail)


async def _unfinished(session: AsyncSession,
                      printer_ids: Iterable[str]) -> list[ContractProcess]:
    ids = list(printer_ids)
    return list((await session.execute(select(ContractProcess).where(
        ContractProcess.outcome.is_(None),
        or_(ContractProcess.old_printer_id.in_(ids), ContractProcess.new_printer_id.in_(ids)))
        .order_by(ContractProcess.created_at))).scalars().all())


def _involves(process: ContractProcess, printer_id: str) -> bool:
    return printer_id in (process.old_printer_id, process.new_printer_id)


async def check_command(session: AsyncSession, printer: Printer, kind: str,
                        parameters: dict[str, Any], *, process_id: str | None = None) -> None:
    """Raise `contract-conflict` (409) when issuing this command to `printer` could let two
    printers of one contract contract-print at once, when it would start billing on a printer
    of a contract that is not confirmed, or when it is an operator's command (`process_id`
    None) other than a withdrawal or prohibition for a printer an unfinished process owns.

    The printer's row is locked first: a printer joins a contract (`check_joining`, a new
    process) only under that lock too, so on PostgreSQL each sees the other's committed
    command or process rather than both passing at once."""
    await _lock(session, printer)
    own = await _unfinished(session, [printer.id])
    if process_id is not None and all(p.id != process_id for p in own):
        # The issuing process, before its row names this printer (the printer just joined).
        issuing = await session.get(ContractProcess, process_id)
        own += [issuing] if issuing is not None else []
    if own and process_id is None and kind not in SAFE:
        raise conflict(f"Printer {printer.id} is in contract process {own[0].id} (step "
                       f"{own[0].step}), which owns its contract mode: outside it only a "
                       "withdrawal or a prohibition of contract printing may be sent.")
    if kind not in ENABLING:
        return
    record = await session.get(PrinterContract, printer.id)
    billing = kind == "billing-start" or parameters.get("mode") == "contract-billing"
    if billing and record is not None and record.flag != "confirmed":
        raise conflict(f"Printer {printer.id}'s contract is not confirmed: billing starts only "
                       "once its contract transition is done.")
    partners = {p for process in own for p in (process.old_printer_id, process.new_printer_id)
                if p is not None and p != printer.id}
    members = [] if record is None else list((await session.execute(
        select(PrinterContract.printer_id).where(PrinterContract.member_id == record.member_id,
                                                 PrinterContract.printer_id != printer.id))
    ).scalars())
    others = await _locked(session, printer, partners | set(members))
    if not others or (await evidence(session, printer)).with_command(
            kind, parameters).printing() is None:
        return  # no other printer, or e.g. a transition while contract printing is prohibited
    processes = await _unfinished(session, [printer.id, *(o.id for o in others)])

    async def entitled(printer_id: str) -> bool:
        if any(_involves(p, printer_id) for p in processes):
            return True
        contract = await session.get(PrinterContract, printer_id)
        return contract is not None and contract.flag == "confirmed"

    printer_entitled = process_id is not None or await entitled(printer.id)
    for other in others:
        related = other.id in partners or not printer_entitled or not await entitled(other.id)
        why = (await evidence(session, other)).printing() if related else None
        if why is not None:
            raise conflict(
                f"{kind} on printer {printer.id} could let it contract-print while printer "
                f"{other.id} of the same contract may be contract-printing ({why}).")


async def _lock(session: AsyncSession, printer: Printer) -> None:
    """Lock the printer's row and read it again (what its device reported may have changed
    since the caller loaded it)."""
    await session.execute(select(Printer).where(Printer.seq == printer.seq).with_for_update()
                          .execution_options(populate_existing=True))


async def _locked(session: AsyncSession, printer: Printer, ids: set[str]) -> list[Printer]:
    """The printers `ids`, their rows and the command's printer's locked (in one order, so that
    two checks on the printers of one contract run one after the other on PostgreSQL)."""
    if not ids:
        return []
    rows = (await session.execute(select(Printer).where(Printer.id.in_(ids | {printer.id}))
                                  .order_by(Printer.seq).with_for_update()
                                  .execution_options(populate_existing=True))).scalars().all()
    return [p for p in rows if p.id != printer.id]


async def check_joining(session: AsyncSession, printer: Printer) -> None:
    """Raise `contract-conflict` when `printer`, about to join a contract (a first contract or
    the new printer of a change), may already be in a contract mode: the process starts it
    from non-contract, and with a change the old printer may still print.  Under the
    printer's row lock, as `check_command`."""
    await _lock(session, printer)
    why = (await evidence(session, printer)).contract_mode()
    if why is not None:
        raise conflict(f"Printer {printer.id} may already be in a contract mode ({why}): "
                       "withdraw it first.")


def require_contract_function(printer: Printer) -> None:
    """Raise `contract-unsupported` (409) when the printer reported it has no contract function,
    `contract-function-unknown` when its gateway has not said yet."""
    reported = (printer.contract or {}).get("supported")
    supported = reported if reported is not None else printer.contract_supported
    if supported is None:
        raise Problem("contract-function-unknown", f"Printer {printer.id}'s gateway has not "
                      "reported whether it has the contract function; ask again once it has.")
    if not supported:
        raise Problem("contract-unsupported", f"Printer {printer.id} has no contract function "
                      "(its gateway found no contract MIB): it cannot be put under a contract.")
