"""The contract side gets its own data, end to end (issue 15): virtual printers with the contract
MIB, the reference cloud with **no support service at all**, and the real `printgw run`.

- A first contract requested through the member API: the cloud asks the printer's gateway for
  the contract's data types on the contract's own account, so the process sees the contract
  cartridge installed (through the simulator) and reaches billing; contract pages then print in
  `contract-billing` (the contract MIB read over SNMP).
- A change of contract machine with no services completes; right after the withdrawal's
  acknowledgement the old printer's cloud views (printer and contract) say `non-contract` as
  the device reported it — before any upload of the old printer could have said so.

Tests use addresses 127.0.94.0-127.0.94.255.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from cloud.contracts import CONTRACT_DATA_TYPES
from gateway.store import DATABASE_NAME
from protocols.snmp import contract_mib as cm
from simulator.printer import VirtualPrinter
from simulator.state import CONTRACT_MODES
from tests.support.command_helpers import FAST, cloud_command
from tests.support.contract_fleet import every_printer_registered
from tests.support.sim_helpers import snmpget
from tests.support.uplink_harness import Harness, uplink_setup

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

WITHIN = 45.0
"""Seconds a step may take (a few poll intervals of 2 s on a busy machine)."""
MODE = f"{cm.pgwContractMode}.0"
PROHIBITED = f"{cm.pgwContractPrintingProhibited}.0"
PAGES = f"{cm.pgwContractPageCount}.0"


@dataclass
class Site:
    h: Harness
    ids: dict[str, str]
    """Printer ID by serial."""
    free: list[VirtualPrinter]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    """Three inkjets with the contract MIB and commercial cartridges; the cloud without any
    service; the gateway daemon reading every 2 s with the SET community."""
    tmp = tmp_path_factory.mktemp("contract-data-e2e")
    async with uplink_setup(tmp, "127.0.94.1", ["inkjet"], count=3,
                            contract_threshold_percent=10, contract_retry_seconds=0,
                            contract_poll_seconds=0.2) as h:
        assert (await h.operator.ok("listServices"))["services"] == []
        h.write_config(poll={"interval": "2s"}, contract={"write_community": "private", **FAST})
        daemon = await h.start_daemon()
        printers = await h.wait_for(lambda: every_printer_registered(h), 60,
                                    "every printer registered")
        assert all(view["requested_data_types"] == [] for view in printers.values())
        yield Site(h, {serial: view["printer_id"] for serial, view in printers.items()},
                   list(h.fleet.printers))
        assert await daemon.stop() == 0
        assert "Traceback" not in daemon.log()


async def on_device(printer: VirtualPrinter) -> tuple[str, bool, int]:
    """The printer's contract MIB over SNMP: mode, printing prohibited, contract pages."""
    values = await snmpget(printer, MODE, PROHIBITED, PAGES)
    return CONTRACT_MODES[int(values[MODE]) - 1], values[PROHIBITED] == "1", int(values[PAGES])


async def process(h: Harness, process_id: str) -> dict[str, Any]:
    return dict(await h.operator.ok("getContractProcess", path={"process_id": process_id}))


async def until(h: Harness, process_id: str, what: str, check: Any) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        view = await process(h, process_id)
        assert view["outcome"] in (None, "completed"), view
        return view if check(view) else None
    return dict(await h.wait_for(reached, WITHIN, what, 0.1))


async def sending_contract_data(h: Harness, printer_id: str) -> None:
    """Until the gateway reports it sends the contract's data types for the printer."""
    async def sending() -> bool:
        view = await h.operator.ok("getPrinter", path={"printer_id": printer_id})
        return set(CONTRACT_DATA_TYPES) <= set(view["current_data_types"])
    await h.wait_for(sending, WITHIN, "the contract's data types sent")


async def first_contract(h: Harness, printer: VirtualPrinter, printer_id: str,
                         **extra: Any) -> dict[str, Any]:
    body = await h.operator.ok("requestContract", json_body={
        "member_id": f"member-{printer.state.serial}", "printer_id": printer_id,
        "model": "inkjet", "series": "IJ-500", "page_limit": 300, **extra})
    return dict(body)


async def uploaded(h: Harness, printer_id: str, event: str,
                   detail: dict[str, Any]) -> None:
    """Until the cloud has an upload of the printer for `event` with (at least) `detail`."""
    async def arrived() -> bool:
        return any(s["event"] == event and detail.items() <= s.get("event_detail", {}).items()
                   for s in await h.statuses(printer_id))
    await h.wait_for(arrived, WITHIN, f"a {event} upload with {detail}")


async def test_a_first_contract_without_any_service_reaches_billing(site: Site) -> None:
    """No service asks for cartridge data: the contract does.  Without a contract cartridge the
    process prompts for one (S208); installed through the simulator, the gateway's next reading
    tells the cloud, billing starts, and contract pages print in `contract-billing`.  The mode
    changes are uploaded as events, and the contract's threshold (35 %, none of the gateway's
    configured ones) gives a `threshold-crossed` when the contract cartridge reaches it."""
    h, printer = site.h, site.free.pop(0)
    printer_id = site.ids[printer.state.serial]
    started = await first_contract(h, printer, printer_id, threshold_percent=35)
    await sending_contract_data(h, printer_id)
    prompting = await until(h, started["process_id"], "the prompt for the cartridge (S208)",
                            lambda p: p["step"] == "S208" and p["awaiting_command"] is None)
    assert prompting["new_contract_cartridge"] is False
    assert (await on_device(printer))[0] == "contract-non-billing"

    printer.state.replace("black", "contract")
    done = await until(h, started["process_id"], "the contract in force",
                       lambda p: p["outcome"] == "completed")
    assert done["new_contract_cartridge"] is True
    mode, prohibited, pages = await on_device(printer)
    assert (mode, prohibited) == ("contract-billing", False)
    assert printer.state.print_pages(3) == 3
    assert await on_device(printer) == ("contract-billing", False, pages + 3)
    await uploaded(h, printer_id, "contract-mode-changed",
                   {"previous_mode": "contract-non-billing"})

    printer.state.set_level("black", 34)
    await uploaded(h, printer_id, "threshold-crossed", {"threshold_percent": 35})


async def test_a_change_without_any_service_leaves_the_old_printer_non_contract(
        site: Site) -> None:
    """The old printer contracted (its first contract), the new one holds a contract cartridge
    already; the change withdraws the old printer (answering any proposal so that it goes first)
    and completes.  Right after the withdrawal's acknowledgement the cloud's printer and contract
    views of the old printer say `non-contract` as the device reported — no upload of the old
    printer saying so had reached the cloud — and once the process ended the contract asks the
    old printer's gateway for nothing any more."""
    h = site.h
    old, new = site.free.pop(0), site.free.pop(0)
    old_id, new_id = site.ids[old.state.serial], site.ids[new.state.serial]
    member = f"member-{old.state.serial}"
    old.state.replace("black", "contract")
    new.state.replace("black", "contract")
    first = await first_contract(h, old, old_id)
    await until(h, first["process_id"], "the first contract in force",
                lambda p: p["outcome"] == "completed")
    assert (await on_device(old))[0] == "contract-billing"
    start = len(h.proxy.bodies)  # the old printer is contract-billing from here to its withdrawal

    change = await h.operator.ok("requestContractChange", json_body={
        "member_id": member, "old_printer_id": old_id, "new_printer_id": new_id,
        "new_model": "inkjet", "new_series": "IJ-500"})
    command_id = await withdrawal_of(h, change["process_id"], old_id, member)

    async def acknowledged() -> bool:
        return bool((await cloud_command(h, command_id))["state"] == "done")
    await h.wait_for(acknowledged, WITHIN, "the withdrawal acknowledged", 0.02)
    printer = await h.operator.ok("getPrinter", path={"printer_id": old_id})
    record = await h.operator.ok("getPrinterContract", path={"printer_id": old_id})
    seen = len(h.proxy.bodies)  # every upload the cloud had taken when it answered the views
    assert printer["contract"]["mode"] == record["device_contract"]["mode"] == "non-contract"
    assert not _uploaded_non_contract(old_id, h.proxy.bodies[start:seen]), \
        "an upload said it first"
    assert (await on_device(old))[0] == "non-contract"

    await until(h, change["process_id"], "the change completed",
                lambda p: p["outcome"] == "completed")
    record = await h.operator.ok("getPrinterContract", path={"printer_id": old_id})
    assert (record["flag"], record["mode"], record["device_contract"]["mode"]) == (
        "unconfirmed", "non-contract", "non-contract")
    assert (await on_device(new))[:2] == ("contract-billing", False)

    async def not_asked() -> bool:
        view = await h.operator.ok("getPrinter", path={"printer_id": old_id})
        return view["current_data_types"] == []
    await h.wait_for(not_asked, WITHIN, "the old printer's data no longer sent")


ANSWERS = {"urgency": "yes", "change-plan": "no"}
"""Answers that withdraw the old printer first, whatever the change pattern."""


async def withdrawal_of(h: Harness, process_id: str, old_id: str, member: str) -> str:
    """The ID of the old printer's withdrawal once the gateway has it (its command log),
    answering the member's proposals meanwhile so that the old printer goes first."""
    async def issued() -> str | None:
        view = await process(h, process_id)
        assert view["outcome"] is None, view
        for proposal in (await h.operator.ok("listProposals",
                                              params={"member_id": member}))["proposals"]:
            await h.operator.ok("answerProposal", path={"proposal_id": proposal["proposal_id"]},
                                json_body={"member_id": member,
                                           "answer": ANSWERS[proposal["kind"]]})
        with contextlib.closing(sqlite3.connect(h.data_dir / DATABASE_NAME)) as db:
            row = db.execute("SELECT command_id FROM commands WHERE printer_id = ? AND "
                             "kind = 'withdrawal'", (old_id,)).fetchone()
        return None if row is None else str(row[0])
    return str(await h.wait_for(issued, WITHIN, "the withdrawal of the old printer", 0.02))


def _uploaded_non_contract(printer_id: str, requests: list[tuple[str, str, bytes]]) -> bool:
    """Whether one of these requests through the proxy uploaded the printer's contract state
    as `non-contract`."""
    for method, path, body in requests:
        if (method, path) != ("POST", "/v1/statuses"):
            continue
        if body[:2] == b"\x1f\x8b":  # the gateway compresses its larger uploads
            body = gzip.decompress(body)
        for entry in json.loads(body)["statuses"]:
            contract = entry["data"].get("contract")
            if entry["printer_id"] == printer_id and contract \
                    and contract["mode"] == "non-contract":
                return True
    return False
