"""The IPP client against real IPP servers: CUPS's ippeveprinter on loopback, ipp:// and ipps://."""

from __future__ import annotations

import asyncio
import csv
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from gateway.device.ipp_mapping import apply_ipp
from gateway.device.model import DeviceStatus
from protocols.hosts import free_port
from protocols.ipp.client import get_printer_attributes
from protocols.ipp.connections import IppConnections
from protocols.ipp.model import (
    MULTI_VALUED,
    REQUESTED_ATTRIBUTES,
    IppError,
    IppReading,
    IppTlsError,
    IppUnreachable,
)
from tests.support.ippeveprinter import (  # noqa: F401 - ippeve_fleet_fixture is the `ippeve_fleet` fixture
    CONF_DIR,
    IppEveFleet,
    IppEvePrinter,
    ippeve_fleet_fixture,
)
from tests.support.paths import FIXTURES


@dataclass
class Expected:
    serial: str
    manufacturer: str
    model: str
    supplies: list[tuple[str, str | None, str | None, int | None, str, int, str]]
    """(description, kind, colour, level percent, level state, low percent, class) per marker."""


EXPECTED: dict[str, Expected] = {
    "brother-l2350": Expected("E78123A0N123456", "Brother", "HL-L2350DW", [
        ("Black Toner", "toner", "black", None, "some-remaining", 10, "consumed"),
        ("Drum Unit", "opc", None, 80, "known", 10, "consumed"),
    ]),
    "canon-c3530": Expected("2ZH01234", "Canon", "iR-ADV C3530", [
        ("Black Toner", "toner", "black", 55, "known", 5, "consumed"),
        ("Cyan Toner", "toner", "cyan", 0, "known", 5, "consumed"),
        ("Magenta Toner", "toner", "magenta", 33, "known", 5, "consumed"),
        ("Yellow Toner", "toner", "yellow", None, "unavailable", 5, "consumed"),
    ]),
    "epson-c5790": Expected("X3B7012345", "EPSON", "WF-C5790", [
        ("Black ink", "inkCartridge", "black", 90, "known", 15, "consumed"),
        ("Cyan ink", "inkCartridge", "cyan", 12, "known", 15, "consumed"),
        ("Magenta ink", "inkCartridge", "magenta", 40, "known", 15, "consumed"),
        ("Yellow ink", "inkCartridge", "yellow", 66, "known", 15, "consumed"),
        ("Maintenance Box", "wasteInk", None, 20, "known", 0, "filled"),
    ]),
    "hp-m404": Expected("PHBQA12345", "HP", "LaserJet Pro M404dn", [
        ("Black Cartridge HP 59A", "tonerCartridge", "black", 63, "known", 10, "consumed"),
    ]),
    "kyocera-m2540": Expected("VCF9100001", "Kyocera", "ECOSYS M2540dn", [
        ("Black Toner", "toner", "black", 7, "known", 10, "consumed"),
        ("Waste Toner Box", "wasteToner", None, None, "unknown", 0, "filled"),
    ]),
}
IPP11_ONLY = "kyocera-m2540"


@pytest.fixture(scope="module")
def printers(ippeve_fleet: IppEveFleet) -> dict[str, IppEvePrinter]:
    """One server per .conf, plus an IPP/1.1-only one (key `"<name>@1.1"`)."""
    started = {name: ippeve_fleet.start(name, CONF_DIR / f"{name}.conf") for name in EXPECTED}
    started[f"{IPP11_ONLY}@1.1"] = ippeve_fleet.start(
        f"{IPP11_ONLY}-v11", CONF_DIR / f"{IPP11_ONLY}.conf", ipp_version="1.1")
    return started


def test_every_conf_has_an_expectation() -> None:
    assert {p.stem for p in CONF_DIR.glob("*.conf")} == set(EXPECTED)


def conf_attributes(conf: Path) -> dict[str, list[Any]]:
    """The requested attributes a .conf file sets: `ATTR <syntax> <name> <v1>,<v2>…`."""
    attributes = {}
    for line in conf.read_text().splitlines():
        parts = line.split(None, 3)
        if len(parts) == 4 and parts[0] == "ATTR" and parts[2] in REQUESTED_ATTRIBUTES:
            syntax, name, values = parts[1:]
            items = next(csv.reader([values], skipinitialspace=True))
            attributes[name] = [int(v) for v in items] if syntax == "integer" else items
    return attributes


def _as_sent(name: str, values: list[Any]) -> Any:
    return values if name in MULTI_VALUED or len(values) > 1 else values[0]


@pytest.mark.parametrize("scheme", ["ipp", "ipps"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_reads_what_the_conf_sets(printers: dict[str, IppEvePrinter], name: str,
                                        scheme: str) -> None:
    printer = printers[name]
    uri = printer.ipp_uri if scheme == "ipp" else printer.ipps_uri
    reading = await get_printer_attributes(uri, timeout=5)
    assert (reading.version, reading.status_code, reading.problems) == ((2, 0), 0, [])
    _check(reading, name)


@pytest.mark.parametrize("scheme", ["ipp", "ipps"])
async def test_ipp_1_1_only_printer(printers: dict[str, IppEvePrinter], scheme: str) -> None:
    """It answers IPP/2.0 with HTTP 400: the client asks again in IPP/1.1."""
    printer = printers[f"{IPP11_ONLY}@1.1"]
    uri = printer.ipp_uri if scheme == "ipp" else printer.ipps_uri
    reading = await get_printer_attributes(uri, timeout=5)
    assert reading.version == (1, 1)
    _check(reading, IPP11_ONLY)


def _check(reading: IppReading, name: str) -> None:
    for attribute, values in conf_attributes(CONF_DIR / f"{name}.conf").items():
        assert reading.attributes.get(attribute) == _as_sent(attribute, values), attribute

    expected = EXPECTED[name]
    status = DeviceStatus(host="127.0.0.1")
    apply_ipp(status, reading)
    assert status.problems == []
    assert status.reachable == {"ipp": True}
    ident = status.identity
    assert (ident.serial, ident.manufacturer, ident.model, ident.firmware) == (
        expected.serial, expected.manufacturer, expected.model, "1.0.0-sim")
    assert ident.device_id is not None and f"SN:{expected.serial};" in ident.device_id
    assert ident.uuid is not None and not ident.uuid.startswith("urn:")
    assert (status.state.printer_state, status.state.reasons, status.state.abnormal) == (
        "idle", [], False)
    got = [(s.description, s.kind, s.color, s.level_percent, s.level_state, s.low_percent,
            s.supply_class) for s in status.supplies]
    assert got == expected.supplies
    assert all(s.source == "ipp" and s.unit == "percent" for s in status.supplies)


async def test_shared_pool(printers: dict[str, IppEvePrinter]) -> None:
    async with IppConnections() as pool:
        readings = await asyncio.gather(*(
            get_printer_attributes(printers[name].ipps_uri, connections=pool)
            for name in EXPECTED))
    assert [r.attributes["printer-serial-number"] for r in readings] == [
        e.serial for e in EXPECTED.values()]


async def test_verify_tls_rejects_self_signed(printers: dict[str, IppEvePrinter]) -> None:
    with pytest.raises(IppTlsError, match="certificate") as caught:
        await get_printer_attributes(printers["hp-m404"].ipps_uri, verify_tls=True)
    assert isinstance(caught.value, IppError)
    assert "verify_tls=False" in str(caught.value)


async def test_closed_port_is_unreachable() -> None:
    uri = f"ipp://127.0.0.1:{free_port()}/ipp/print"
    started = time.monotonic()
    with pytest.raises(IppUnreachable, match="cannot connect"):
        await get_printer_attributes(uri, timeout=2)
    assert time.monotonic() - started < 2


async def test_silent_server_times_out_within_the_timeout() -> None:
    """A port that accepts connections but never answers (a sleeping or wedged printer)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        uri = f"ipp://127.0.0.1:{server.getsockname()[1]}/ipp/print"
        started = time.monotonic()
        with pytest.raises(IppUnreachable, match=r"no answer within 0\.5 s"):
            await get_printer_attributes(uri, timeout=0.5)
        assert time.monotonic() - started < 1.0


REAL = FIXTURES / "ipp" / "real"


async def _fake_printer(answers: dict[bytes, tuple[int, bytes]]) -> tuple[web.AppRunner, str,
                                                                           list[bytes]]:
    """An HTTP server answering by the request's IPP version bytes; records the requests."""
    requests: list[bytes] = []

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        requests.append(body)
        status, answer = answers[body[:2]]
        return web.Response(status=status, body=answer, content_type="application/ipp")

    app = web.Application()
    app.router.add_post("/ipp/print", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"ipp://127.0.0.1:{port}/ipp/print", requests


async def test_version_not_supported_status_falls_back_to_1_1() -> None:
    refusal = (REAL / "get-printer-attributes-error-0x0503.bin").read_bytes()
    answer = b"\x01\x01" + (REAL / "get-printer-attributes-kyocera-ecosys-m2540dn-001.bin"
                             ).read_bytes()[2:]
    runner, uri, requests = await _fake_printer({b"\x02\x00": (200, refusal),
                                                 b"\x01\x01": (200, answer)})
    try:
        reading = await get_printer_attributes(uri)
    finally:
        await runner.cleanup()
    assert [r[:2] for r in requests] == [b"\x02\x00", b"\x01\x01"]
    assert all(b"printer-serial-number" in r and b"marker-levels" in r for r in requests)
    assert (reading.version, reading.status_code) == ((1, 1), 1)
    assert reading.attributes["printer-make-and-model"] == "ECOSYS M2540dn"


@pytest.mark.parametrize(("answer", "message"), [
    ((500, b"oops"), "HTTP 500"),
    ((200, b"<html>not ipp</html>"), "not an IPP response"),
    ((200, b"\x02\x00\x04\x06\x00\x00\x00\x01\x03"), "0x0406"),
])
async def test_answers_that_are_not_a_reading(answer: tuple[int, bytes], message: str) -> None:
    runner, uri, _ = await _fake_printer({b"\x02\x00": answer})
    try:
        with pytest.raises(IppError, match=message) as caught:
            await get_printer_attributes(uri)
    finally:
        await runner.cleanup()
    assert not isinstance(caught.value, IppUnreachable)
