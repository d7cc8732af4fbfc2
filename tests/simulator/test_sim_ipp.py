"""The virtual printer's IPP server, checked with CUPS's ipptool and raw requests."""

from __future__ import annotations

import struct

import aiohttp
from pyipp.enums import IppOperation, IppTag
from pyipp.parser import parse
from pyipp.serializer import encode_dict

from tests.support.sim_helpers import run, running_fleet


def gpa(uri: str, requested: list[str] | None = None, version: tuple[int, int] = (2, 0)) -> bytes:
    ops = {"attributes-charset": "utf-8", "attributes-natural-language": "en",
           "printer-uri": uri}
    if requested:
        ops["requested-attributes"] = requested
    return encode_dict({"version": version, "operation": IppOperation.GET_PRINTER_ATTRIBUTES,
                        "request-id": 7, "operation-attributes-tag": ops})


async def post(url: str, body: bytes, content_type: str = "application/ipp"
               ) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as s, s.post(
            url, data=body, headers={"Content-Type": content_type}) as r:
        return r.status, await r.read()


async def test_ipptool_get_printer_attributes_passes_and_agrees_with_state() -> None:
    async with running_fleet("127.0.21.1", 3, profiles=["color-mfp", "mono-laser", "inkjet"]
                             ) as fleet:
        for p in fleet.printers:
            uri = f"ipp://{p.ip}:{p.ipp_port}/ipp/print"
            rc, out, err = await run("ipptool", "-tv", uri, "get-printer-attributes.test")
            assert rc == 0 and "[PASS]" in out, out + err
            assert p.state.serial in out
        p = fleet.printers[0]
        url = f"http://{p.ip}:{p.ipp_port}/ipp/print"
        uri = f"ipp://{p.ip}:{p.ipp_port}/ipp/print"
        _status, body = await post(url, gpa(uri))
        attrs = parse(body)["printers"][0]
        assert attrs["printer-serial-number"] == p.state.serial
        assert f"SN:{p.state.serial};" in attrs["printer-device-id"]
        assert attrs["printer-uuid"] == f"urn:uuid:{p.state.uuid}"
        assert attrs["marker-levels"][0] == p.state.supplies[0].percent
        assert attrs["printer-state"] == 3
        # print, swap, error: IPP tells the same story as the state
        p.state.print_pages(3000, color=True)
        p.state.raise_error("cover-open")
        _status, body = await post(url, gpa(uri, ["printer-status", "marker-names"]))
        attrs = parse(body)["printers"][0]
        assert attrs["marker-levels"][0] == p.state.supplies[0].percent < 100
        assert attrs["printer-state"] == 5
        assert "cover-open-error" in attrs["printer-state-reasons"]
        assert "printer-uuid" not in attrs  # only what was asked for
        p.state.clear_error()
        p.state.replace("black")
        _status, body = await post(url, gpa(uri, ["marker-levels", "printer-supply"]))
        attrs = parse(body)["printers"][0]
        assert attrs["marker-levels"][0] == 100
        supply = attrs["printer-supply"][0]
        supply = supply.decode() if isinstance(supply, bytes) else supply
        assert f"level={p.state.supplies[0].max_capacity};" in supply


async def test_bad_requests_get_ipp_errors() -> None:
    async with running_fleet("127.0.21.10", 1, profiles=["mono-laser"]) as fleet:
        p = fleet.printers[0]
        url = f"http://{p.ip}:{p.ipp_port}/ipp/print"
        uri = f"ipp://{p.ip}:{p.ipp_port}/ipp/print"

        def status_of(body: bytes) -> int:
            return struct.unpack(">H", body[2:4])[0]

        good = gpa(uri)
        cases = [
            (good[:5], 0x0400),  # shorter than a header
            (good[:-1], 0x0400),  # no end-of-attributes tag
            (good[:20], 0x0400),  # truncated attribute
            (bytes([3, 0]) + good[2:], 0x0503),  # IPP/3.0
            (good[:2] + struct.pack(">H", IppOperation.PRINT_JOB) + good[4:], 0x0501),
            (good[:8] + bytes([IppTag.OPERATION]) + bytes([IppTag.END]), 0x0400),  # no charset
        ]
        for body, expected in cases:
            status, answer = await post(url, body)
            assert status == 200 and status_of(answer) == expected, (body, answer)
        status, _ = await post(url, good, content_type="text/plain")
        assert status == 400
        status, answer = await post(url, good)  # still alive
        assert status_of(answer) == 0
        # IPP/1.1 request → IPP/1.1 answer
        status, answer = await post(url, gpa(uri, version=(1, 1)))
        assert answer[:2] == b"\x01\x01" and status_of(answer) == 0
