"""The views of member notices, contract page usage and contract cartridges (tags `member`,
`operator`; `protocols/cloud/openapi.yaml`)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from cloud import times
from cloud.contract_usage import cartridge_view, printer_cartridges, usage_view
from cloud.contracts import find_printer
from cloud.db import PrinterContract
from cloud.handlers import Call, Caller, Reply, reads
from cloud.member_notices import list_notices, notice_view
from cloud.notice_tables import CartridgeBinding
from cloud.problems import not_found


@reads(Caller.OPERATOR, parameters="listMemberNotices")
async def list_member_notices(call: Call, session: AsyncSession) -> Reply:
    notices = await list_notices(session, call.query["member_id"], call.query["limit"])
    return {"notices": [notice_view(n) for n in notices]}


@reads(Caller.OPERATOR)
async def get_contract_usage(call: Call, session: AsyncSession) -> Reply:
    printer = await find_printer(session, call.path("printer_id"))
    contract = await session.get(PrinterContract, printer.id)
    if contract is None:
        raise not_found(f"Printer {printer.id} has no contract.")
    return {"printer_id": printer.id, "member_id": contract.member_id,
            "usage": await usage_view(session, contract, printer, times.now()),
            "cartridges": await printer_cartridges(session, printer.id)}


@reads(Caller.OPERATOR)
async def get_contract_cartridge(call: Call, session: AsyncSession) -> Reply:
    cartridge_id = call.path("cartridge_id")
    binding = await session.get(CartridgeBinding, cartridge_id)
    if binding is None:
        raise not_found(f"No contract cartridge {cartridge_id} has been seen.")
    return await cartridge_view(session, binding)
