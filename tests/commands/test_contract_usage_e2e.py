"""Page limit and contract cartridge binding end to end (issue 15): virtual printers (a
`contract-laser` and a `mono-laser`), the real `printgw run` reading them every second, the
reference cloud with its member webhook and order webhook real receivers on loopback checking
every delivery's signature.

A first contract with a page limit of `LIMIT` on the contract laser runs through the cloud and the
gateway; the printer then prints past the limit (simulator): the member is told once
(`page-limit-reached`, signed), not again as it prints on.  Its contract toner cartridge then goes
into the other printer: `cartridge-moved`.

Tests use addresses 127.0.97.100-127.0.97.101.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from simulator.printer import VirtualPrinter
from tests.support.contract_fleet import every_printer_registered
from tests.support.contract_helpers import WebhookReceiver, webhook_receiver
from tests.support.uplink_harness import Harness, uplink_setup

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

SERVICE = "contract-printing"
DATA_TYPES = ["supplies.level", "supplies.cartridge", "counters.contract", "contract"]
SECRET = b"e2e-webhook-secret-0123456789"
MEMBER = "member-usage"
LIMIT = 5
WITHIN = 30.0


@dataclass
class Site:
    h: Harness
    members: WebhookReceiver
    orders: WebhookReceiver
    laser: VirtualPrinter
    other: VirtualPrinter
    ids: dict[str, str]
    """Printer ID by serial."""

    def id(self, printer: VirtualPrinter) -> str:
        return self.ids[printer.state.serial]

    async def usage(self) -> dict[str, Any]:
        view = await self.h.operator.ok("getContractUsage",
                                        path={"printer_id": self.id(self.laser)})
        return dict(view["usage"])

    async def pages(self, pages: int) -> dict[str, Any]:
        """The usage once the cloud has counted `pages` contract pages this period."""
        async def counted() -> dict[str, Any] | None:
            usage = await self.usage()
            return usage if usage["pages"] == pages else None
        return dict(await self.h.wait_for(counted, WITHIN, f"{pages} contract pages counted",
                                          0.2))

    def notices(self, kind: str) -> list[Any]:
        return [d for d in self.members.deliveries if d.body["kind"] == kind]


async def first_contract(site: Site) -> None:
    """The laser is a contract machine: its contract (page limit `LIMIT`) is set up through the
    cloud and the gateway (S104, S109, S110, S207, S209, S210); the order is signed too."""
    h = site.h

    async def readable() -> bool:
        statuses = await h.statuses(site.id(site.laser))
        return bool(statuses) and "contract" in statuses[-1]["data"]
    await h.wait_for(readable, 60, "the laser's contract state uploaded")
    process = await h.operator.ok("requestContract", json_body={
        "member_id": MEMBER, "printer_id": site.id(site.laser), "model": "laser",
        "series": "LJ-2100", "page_limit": LIMIT})

    async def completed() -> bool:
        view = await h.operator.ok("getContractProcess",
                                   path={"process_id": process["process_id"]})
        return view["outcome"] == "completed"
    await h.wait_for(completed, 60, "the first contract completed", 0.2)
    assert site.laser.state.contract_mode == 3  # contract-billing, set over SNMP
    orders = await site.orders.wait(1)
    assert all(order.verified for order in orders)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    tmp = tmp_path_factory.mktemp("contract-usage-e2e")
    async with webhook_receiver(secret=SECRET) as members, \
            webhook_receiver(secret=SECRET) as orders, uplink_setup(
                tmp, "127.0.97.100", ["contract-laser", "mono-laser"],
                member_webhook=members.url, order_webhook=orders.url, webhook_secret=SECRET,
                contract_retry_seconds=0, contract_poll_seconds=0.2) as h:
        await h.operator.put_service(SERVICE, DATA_TYPES)
        h.write_config(poll={"interval": "1s", "periodic_upload": "1s"},
                       contract={"write_community": "private"})
        daemon = await h.start_daemon()
        printers = await h.wait_for(lambda: every_printer_registered(h), 60,
                                    "both printers registered")
        for view in printers.values():
            await h.operator.contract(view["printer_id"], SERVICE)
        laser, other = h.fleet.printers
        site = Site(h, members, orders, laser, other,
                    {serial: view["printer_id"] for serial, view in printers.items()})
        await first_contract(site)
        yield site
        assert await daemon.stop() == 0
        assert "Traceback" not in daemon.log()


async def test_the_page_limit_is_told_once_signed(site: Site) -> None:
    h = site.h
    await site.pages(0)  # the period's first reading after the contract
    assert site.laser.state.print_pages(3) == 3
    usage = await site.pages(3)
    assert (usage["limit"], usage["reached_at"]) == (LIMIT, None)
    assert site.notices("page-limit-reached") == []

    assert site.laser.state.print_pages(4) == 4
    usage = await site.pages(7)
    assert usage["reached_at"] is not None
    [notice] = await h.wait_for(lambda: site.notices("page-limit-reached"), WITHIN,
                                "the member told")
    assert notice.verified
    assert {k: notice.body[k] for k in ("member_id", "printer_id", "page_limit", "period")} == {
        "member_id": MEMBER, "printer_id": site.id(site.laser), "page_limit": LIMIT,
        "period": usage["period"]}
    assert notice.body["pages"] >= LIMIT

    assert site.laser.state.print_pages(2) == 2  # printing on: not told again
    assert (await site.pages(9))["reached_at"] == usage["reached_at"]
    assert len(site.notices("page-limit-reached")) == 1
    notices = (await h.operator.ok("listMemberNotices", params={"member_id": MEMBER}))["notices"]
    assert [(n["kind"], n["delivery"]["state"]) for n in notices
            if n["kind"] == "page-limit-reached"] == [("page-limit-reached", "delivered")]


async def test_a_contract_cartridge_moved_to_another_printer_is_told(site: Site) -> None:
    h = site.h
    moved = site.laser.state.supply("black").cartridge_id

    async def bound(cartridge_id: str, printer: VirtualPrinter) -> bool:
        answer = await h.operator.call("getContractCartridge",
                                       path={"cartridge_id": cartridge_id})
        return answer.status == 200 and answer.body["printer_id"] == site.id(printer)

    await h.wait_for(lambda: bound(moved, site.laser), WITHIN, "the toner bound to the laser")
    site.laser.state.replace("black", "contract", "CTR-REPLACEMENT")
    await h.wait_for(lambda: bound("CTR-REPLACEMENT", site.laser), WITHIN, "the new toner seen")
    site.other.state.replace("black", "contract", moved)  # the old one, into the other printer
    await h.wait_for(lambda: bound(moved, site.other), WITHIN, "the toner seen in the other")

    [notice] = await h.wait_for(lambda: site.notices("cartridge-moved"), WITHIN,
                                "the member told of the move")
    assert notice.verified
    assert {k: notice.body[k] for k in ("member_id", "cartridge_id", "from_printer_id",
                                        "to_printer_id")} == {
        "member_id": MEMBER, "cartridge_id": moved, "from_printer_id": site.id(site.laser),
        "to_printer_id": site.id(site.other)}
    cartridge = await h.operator.ok("getContractCartridge", path={"cartridge_id": moved})
    assert [(m["from_printer_id"], m["to_printer_id"]) for m in cartridge["moves"]] == [
        (site.id(site.laser), site.id(site.other))]
