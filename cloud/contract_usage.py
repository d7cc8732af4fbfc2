"""What the uploaded readings of contract printers mean for their contracts: pages per period
against the page limit, and the binding of contract cartridges to printers.

Called once per upload batch, after its entries are stored (`cloud.statuses`), in the same
transaction, so each accepted entry is counted exactly once (a duplicate is never stored again).

Pages: `counters.contract` of a printer with a contract record, per `period` (week, month, year)
in the contract's time zone (the printer's registered IANA `time_zone`, UTC if unknown).  The
pages of a period are the counter now minus the counter at the period's first reading; a counter
going backwards is a reset (a replaced board, a cleared counter), not negative pages: what was
counted before it is kept and the new value is the new origin.  Readings older than the last one
counted (a late upload) are skipped.  When the pages reach `page_limit` the period records
`limit_reached_at` and the member is told (`page-limit-reached`) once per period.

Cartridges: a contract cartridge (`supplies.cartridge`: `cartridge_type` contract with an ID)
seen in a printer is bound to it; the same ID later read in another printer is a move: recorded
(`CartridgeMove`), rebound, and the members of the two printers' contracts told
(`cartridge-moved`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import Printer, PrinterContract
from cloud.member_notices import notify_member
from cloud.notice_tables import CartridgeBinding, CartridgeMove, ContractUsage
from protocols.cloud.times import rfc3339

log = logging.getLogger(__name__)


def period_label(period: str, at: datetime, time_zone: str) -> str:
    """The period containing `at` in `time_zone`: `2026-12`, ISO week `2026-W49`, or `2026`."""
    try:
        local = at.astimezone(ZoneInfo(time_zone))
    except (ZoneInfoNotFoundError, ValueError):
        local = at
    if period == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "year":
        return f"{local.year}"
    return f"{local.year}-{local.month:02d}"


async def observe_statuses(session: AsyncSession, printers: dict[str, Printer],
                           stored: Iterable[dict[str, Any]]) -> None:
    """Count the contract pages and bind the contract cartridges of the stored entries (the
    `statuses` rows of one batch), oldest reading first."""
    for status in sorted(stored, key=lambda s: s["read_at"]):
        printer, data = printers[status["printer_id"]], status["data"]
        counter = (data.get("counters.contract") or {}).get("contract")
        if counter is not None:
            await count_pages(session, printer, status["read_at"], counter)
        for cartridge in data.get("supplies.cartridge") or []:
            if cartridge["cartridge_type"] == "contract" and cartridge["cartridge_id"]:
                await bind_cartridge(session, printer, cartridge["cartridge_id"],
                                     status["read_at"])


async def count_pages(session: AsyncSession, printer: Printer, read_at: datetime,
                      counter: int) -> None:
    contract = await session.get(PrinterContract, printer.id)
    if contract is None:
        return
    period = period_label(contract.period, read_at, printer.time_zone)
    usage = await session.get(ContractUsage, (printer.id, period), with_for_update=True)
    if usage is None:
        usage = ContractUsage(printer_id=printer.id, period=period, base_counter=counter,
                              last_counter=counter, pages=0, counted_before_reset=0,
                              last_read_at=read_at, updated_at=read_at)
        session.add(usage)
    elif read_at < usage.last_read_at:
        return
    if counter < usage.last_counter:  # a reset: keep what was counted, start again from here
        usage.counted_before_reset += usage.last_counter - usage.base_counter
        usage.base_counter = counter
    usage.last_counter, usage.last_read_at, usage.updated_at = counter, read_at, read_at
    usage.pages = usage.counted_before_reset + counter - usage.base_counter
    if usage.pages >= contract.page_limit and usage.limit_reached_at is None:
        usage.limit_reached_at = read_at
        log.info("printer %s reached its contract page limit (%d pages of %d in %s)",
                 printer.id, usage.pages, contract.page_limit, period)
        await notify_member(
            session, contract.member_id, "page-limit-reached",
            {"printer_id": printer.id, "period": period, "pages": usage.pages,
             "page_limit": contract.page_limit, "reached_at": rfc3339(read_at)},
            key=f"page-limit-reached:{printer.id}:{period}")


async def bind_cartridge(session: AsyncSession, printer: Printer, cartridge_id: str,
                         read_at: datetime) -> None:
    binding = await session.get(CartridgeBinding, cartridge_id, with_for_update=True)
    if binding is None:
        session.add(CartridgeBinding(cartridge_id=cartridge_id, printer_id=printer.id,
                                     first_seen_at=read_at, last_seen_at=read_at))
        await session.flush()  # a second sighting in this batch finds it
        return
    if read_at < binding.last_seen_at:
        return  # a late upload of an older reading says nothing about where it is now
    binding.last_seen_at = read_at
    if binding.printer_id == printer.id:
        return
    moved_from = binding.printer_id
    session.add(CartridgeMove(cartridge_id=cartridge_id, from_printer_id=moved_from,
                              to_printer_id=printer.id, moved_at=read_at))
    binding.printer_id, binding.first_seen_at = printer.id, read_at
    payload = {"cartridge_id": cartridge_id, "from_printer_id": moved_from,
               "to_printer_id": printer.id, "moved_at": rfc3339(read_at)}
    members = {c.member_id for c in (await session.execute(select(PrinterContract).where(
        PrinterContract.printer_id.in_((moved_from, printer.id))))).scalars()}
    for member_id in sorted(members):
        await notify_member(session, member_id, "cartridge-moved", payload,
                            key=f"cartridge-moved:{cartridge_id}:{printer.id}:"
                                f"{rfc3339(read_at)}:{member_id}")


# -- views -----------------------------------------------------------------------------------------

async def usage_view(session: AsyncSession, contract: PrinterContract,
                     printer: Printer, now: datetime) -> dict[str, Any]:
    """The contract's current period: pages counted, the limit, when it was reached."""
    period = period_label(contract.period, now, printer.time_zone)
    usage = await session.get(ContractUsage, (printer.id, period))
    return {"period": period, "pages": usage.pages if usage else 0,
            "limit": contract.page_limit,
            "reached_at": rfc3339(usage.limit_reached_at)
            if usage and usage.limit_reached_at else None,
            "counter": usage.last_counter if usage else None,
            "read_at": rfc3339(usage.last_read_at) if usage else None}


async def cartridge_view(session: AsyncSession, binding: CartridgeBinding) -> dict[str, Any]:
    moves = (await session.execute(select(CartridgeMove).where(
        CartridgeMove.cartridge_id == binding.cartridge_id).order_by(CartridgeMove.id))).scalars()
    return {"cartridge_id": binding.cartridge_id, "printer_id": binding.printer_id,
            "first_seen_at": rfc3339(binding.first_seen_at),
            "last_seen_at": rfc3339(binding.last_seen_at),
            "moves": [{"from_printer_id": m.from_printer_id, "to_printer_id": m.to_printer_id,
                       "moved_at": rfc3339(m.moved_at)} for m in moves]}


async def printer_cartridges(session: AsyncSession, printer_id: str) -> list[str]:
    """The IDs of the contract cartridges bound to the printer."""
    return list((await session.execute(select(CartridgeBinding.cartridge_id).where(
        CartridgeBinding.printer_id == printer_id)
        .order_by(CartridgeBinding.cartridge_id))).scalars())
