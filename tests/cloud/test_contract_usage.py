"""Contract pages per period against the page limit, and contract cartridges bound to printers
(`cloud.contract_usage`), through the running cloud's upload API with a real member webhook
receiver: the limit told once per period, counter resets and late readings, periods in the
contract's time zone, a cartridge moved between printers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from cloud import times
from cloud.contract_usage import period_label
from cloud.db import PrinterContract
from cloud.notice_tables import ContractUsage
from cloud.server import CloudServer
from protocols.cloud.times import rfc3339
from tests.support.cloud_helpers import Gateway, Operator, running_cloud, sqlite_url
from tests.support.contract_helpers import WebhookReceiver, webhook_receiver

pytest_plugins = ("tests.support.cloud_helpers",)

SECRET = b"usage-secret-0123456789"
SERVICE = "contract-usage"
LIMIT = 10


def test_periods_are_labelled_in_the_contracts_time_zone() -> None:
    at = datetime(2025, 11, 30, 15, 30, tzinfo=UTC)  # 00:30 on 1 December in Tokyo
    assert period_label("month", at, "Asia/Tokyo") == "2025-12"
    assert period_label("month", at, "UTC") == "2025-11"
    assert period_label("month", at, "Not/AZone") == "2025-11"  # unknown: UTC
    assert period_label("year", datetime(2025, 12, 31, 16, tzinfo=UTC), "Asia/Tokyo") == "2026"
    assert period_label("week", at, "Asia/Tokyo") == "2025-W49"


@dataclass
class Site:
    cloud: CloudServer
    operator: Operator
    gateway: Gateway
    member_site: WebhookReceiver
    printers: list[str]

    async def upload(self, printer_id: str, *, counter: int | None = None,
                     cartridge: str | None = None, at: datetime | None = None,
                     entry_id: str | None = None) -> None:
        data: dict[str, Any] = {}
        if counter is not None:
            data["counters.contract"] = {"contract": counter, "cartridge_replacements": 0}
        if cartridge is not None:
            data["supplies.cartridge"] = [{"index": "1.1", "cartridge_type": "contract",
                                           "cartridge_id": cartridge, "cartridge_new": False}]
        answer = await self.gateway.upload([{
            "entry_id": entry_id or str(uuid.uuid4()), "printer_id": printer_id,
            "read_at": rfc3339(at or times.now()), "event": "periodic", "data": data}])
        assert answer["counts"]["rejected"] == 0, answer

    async def usage(self, printer_id: str) -> dict[str, Any]:
        return await self.operator.ok("getContractUsage", path={"printer_id": printer_id})

    async def notices(self, member_id: str) -> list[dict[str, Any]]:
        return (await self.operator.ok("listMemberNotices",
                                       params={"member_id": member_id}))["notices"]

    async def periods(self, printer_id: str) -> dict[str, int]:
        async with self.cloud.state.db.read() as session:
            rows = (await session.execute(select(ContractUsage).where(
                ContractUsage.printer_id == printer_id))).scalars()
            return {row.period: row.pages for row in rows}


async def contract(cloud: CloudServer, printer_id: str, member_id: str) -> None:
    """The printer's contract record as a finished first contract leaves it."""
    async with cloud.state.db.write() as session:
        session.add(PrinterContract(
            printer_id=printer_id, member_id=member_id, flag="confirmed",
            mode="contract-billing", printing_prohibited=False, page_limit=LIMIT,
            period="month", model="laser", series="LJ", process_id=None,
            updated_at=times.now()))


@pytest.fixture
async def site(tmp_path: Path, http: aiohttp.ClientSession) -> AsyncIterator[Site]:
    async with webhook_receiver(secret=SECRET) as member_site, running_cloud(
            sqlite_url(tmp_path), member_webhook=member_site.url,
            webhook_secret=SECRET) as cloud:
        operator = Operator(http, cloud.url)
        gateway = await Gateway.enrol(http, cloud.url, operator)
        await operator.put_service(SERVICE, ["counters.contract", "supplies.cartridge"])
        printers = [await gateway.register(), await gateway.register()]
        for printer_id, member_id in zip(printers, ("member-a", "member-b"), strict=True):
            application = await operator.contract(printer_id, SERVICE)
            await gateway.activate(printer_id, SERVICE, application["application_id"])
            await contract(cloud, printer_id, member_id)
        yield Site(cloud, operator, gateway, member_site, printers)


async def test_reaching_the_page_limit_tells_the_member_once(site: Site) -> None:
    printer = site.printers[0]
    assert (await site.usage(printer))["usage"]["pages"] == 0
    entry = str(uuid.uuid4())
    await site.upload(printer, counter=100)
    await site.upload(printer, counter=105, entry_id=entry)
    await site.upload(printer, counter=105, entry_id=entry)  # a duplicate is not counted again
    assert (await site.usage(printer))["usage"]["reached_at"] is None
    await site.upload(printer, counter=111)
    await site.upload(printer, counter=130)
    [delivery] = await site.member_site.wait(1)
    usage = (await site.usage(printer))["usage"]
    assert (usage["pages"], usage["limit"], usage["counter"]) == (30, LIMIT, 130)
    assert usage["reached_at"] is not None and usage["period"] == period_label(
        "month", times.now(), "Asia/Tokyo")
    assert delivery.verified and delivery.body["kind"] == "page-limit-reached"
    assert {k: delivery.body[k] for k in ("member_id", "printer_id", "pages", "page_limit",
                                          "period")} == {
        "member_id": "member-a", "printer_id": printer, "pages": 11, "page_limit": LIMIT,
        "period": usage["period"]}
    assert [n["kind"] for n in await site.notices("member-a")] == ["page-limit-reached"]
    assert await site.notices("member-b") == []


async def test_a_counter_going_backwards_is_a_reset_not_negative_pages(site: Site) -> None:
    printer = site.printers[0]
    for counter in (100, 106, 2, 5):
        await site.upload(printer, counter=counter)
    assert (await site.usage(printer))["usage"]["pages"] == 9
    await site.upload(printer, counter=6)
    usage = (await site.usage(printer))["usage"]
    assert usage["pages"] == 10 and usage["reached_at"] is not None


async def test_a_late_older_reading_is_not_counted(site: Site) -> None:
    printer, now = site.printers[0], times.now()
    await site.upload(printer, counter=100, at=now - timedelta(minutes=3))
    await site.upload(printer, counter=108, at=now - timedelta(minutes=1))
    await site.upload(printer, counter=104, at=now - timedelta(minutes=2))
    usage = (await site.usage(printer))["usage"]
    assert (usage["pages"], usage["counter"]) == (8, 108)


async def test_each_period_counts_from_its_first_reading_in_the_contracts_zone(
        site: Site) -> None:
    printer = site.printers[0]
    await site.upload(printer, counter=100, at=datetime(2025, 11, 30, 13, tzinfo=UTC))
    await site.upload(printer, counter=104, at=datetime(2025, 11, 30, 14, tzinfo=UTC))
    await site.upload(printer, counter=107, at=datetime(2025, 11, 30, 15, 30, tzinfo=UTC))
    await site.upload(printer, counter=120, at=datetime(2025, 12, 2, tzinfo=UTC))
    assert await site.periods(printer) == {"2025-11": 4, "2025-12": 13}
    [delivery] = await site.member_site.wait(1)
    assert delivery.body["period"] == "2025-12" and delivery.body["pages"] == 13


async def test_a_contract_cartridge_seen_in_another_printer_has_moved(site: Site) -> None:
    first, second = site.printers
    await site.upload(first, cartridge="C-0042")
    await site.upload(first, cartridge="C-0042")
    bound = await site.operator.ok("getContractCartridge", path={"cartridge_id": "C-0042"})
    assert (bound["printer_id"], bound["moves"]) == (first, [])
    assert (await site.usage(first))["cartridges"] == ["C-0042"]
    await site.upload(second, cartridge="C-0042")
    await site.upload(second, cartridge="C-0042")  # still there: no new move
    deliveries = await site.member_site.wait(2)
    moved = await site.operator.ok("getContractCartridge", path={"cartridge_id": "C-0042"})
    assert moved["printer_id"] == second
    assert [(m["from_printer_id"], m["to_printer_id"]) for m in moved["moves"]] == [
        (first, second)]
    assert sorted(d.body["member_id"] for d in deliveries) == ["member-a", "member-b"]
    assert all(d.verified and d.body["kind"] == "cartridge-moved"
               and d.body["from_printer_id"] == first and d.body["to_printer_id"] == second
               for d in deliveries)
    assert (await site.usage(first))["cartridges"] == []
    missing = await site.operator.call("getContractCartridge", path={"cartridge_id": "C-1"})
    assert missing.status == 404
