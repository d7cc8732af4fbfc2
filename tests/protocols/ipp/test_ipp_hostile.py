"""The IPP client against a hostile printer (`tests/support/hostile_ipp.py`) on loopback.

Every read is bounded: an endless or huge body costs at most the cap in memory and ends with
`IppTooLarge`, a dripped body ends at the timeout, a redirect elsewhere than the printer's own host
and port is refused without contacting its target, and each failure is one clear line naming the
printer.  Through the gateway's `DeviceReader`, the failure is a problem of the reading and the
device's SNMP data (snmpsim serving a real recording) is still used.
"""

from __future__ import annotations

import asyncio
import struct
import time
from types import SimpleNamespace

import pytest
from yarl import URL

from gateway.device.reader import DeviceReader, IppEndpoint
from gateway.fleet.poller import Poller
from gateway.settings.loading import ConfigError, parse_config
from protocols.ipp.client import MAX_REDIRECTS, get_printer_attributes, same_printer
from protocols.ipp.connections import IppConnections
from protocols.ipp.model import (
    DEFAULT_MAX_RESPONSE_BYTES,
    IppProtocolError,
    IppRedirectRefused,
    IppTooLarge,
    IppUnreachable,
)
from protocols.ipp.parser import MAX_ATTRIBUTES, MAX_PROBLEMS, parse_response
from protocols.snmp.model import SnmpCredentials, SnmpTarget
from tests.support.hostile_ipp import HostileIppServer, RssPeak

MB = 1024 * 1024


def _one_line(exc: BaseException, uri: str) -> str:
    message = str(exc)
    assert "\n" not in message and len(message) < 400, message
    assert message.startswith(f"{uri}: "), message
    return message


async def _warm(pool: IppConnections, server: HostileIppServer) -> None:
    """One read of a well-behaved answer first, so that the measured read pays no first-use
    costs (imports, the pool)."""
    async with HostileIppServer("ok", host=server.host) as ok:
        await get_printer_attributes(ok.uri, connections=pool)


# -- size ------------------------------------------------------------------------------------------

async def test_an_endless_chunked_body_costs_at_most_the_cap_and_ends_the_read() -> None:
    """Before the cap, this read grew the process by ~2 GB in 5 s and ended only at the timeout."""
    async with HostileIppServer("endless-chunked") as server, IppConnections() as pool:
        await _warm(pool, server)
        started = time.monotonic()
        async with RssPeak() as memory:
            with pytest.raises(IppTooLarge) as caught:
                await get_printer_attributes(server.uri, timeout=5, connections=pool)
        took = time.monotonic() - started
    message = _one_line(caught.value, server.uri)
    assert f"{DEFAULT_MAX_RESPONSE_BYTES:,}-byte limit" in message
    assert memory.growth_mb < DEFAULT_MAX_RESPONSE_BYTES / MB + 12, memory.growth_mb
    assert took < 4, "the cap, not the timeout, ends the read"
    assert server.bytes_sent > DEFAULT_MAX_RESPONSE_BYTES


async def test_the_cap_is_configurable_and_small_answers_pass_it() -> None:
    cap = 64 * 1024
    async with HostileIppServer("endless-chunked") as endless, HostileIppServer("ok") as ok:
        with pytest.raises(IppTooLarge, match="65,536-byte limit"):
            await get_printer_attributes(endless.uri, max_response_bytes=cap)
        reading = await get_printer_attributes(ok.uri, max_response_bytes=cap)
    assert reading.attributes["printer-name"] == "Hostile printer"
    assert reading.problems == []
    with pytest.raises(ValueError, match="positive"):
        await get_printer_attributes(ok.uri, max_response_bytes=0)


async def test_a_50_mb_content_length_is_refused_before_its_body_is_read() -> None:
    """Before: 50 MB announced and sent cost ~100 MB at the peak."""
    async with HostileIppServer("huge-length") as server, IppConnections() as pool:
        await _warm(pool, server)
        async with RssPeak() as memory:
            with pytest.raises(IppTooLarge) as caught:
                await get_printer_attributes(server.uri, connections=pool)
    message = _one_line(caught.value, server.uri)
    assert "52,428,800 bytes refused unread" in message
    assert memory.growth_mb < 8, memory.growth_mb


async def test_a_50_mb_body_ending_at_close_is_read_only_up_to_the_cap() -> None:
    async with HostileIppServer("huge-close") as server, IppConnections() as pool:
        await _warm(pool, server)
        async with RssPeak() as memory:
            with pytest.raises(IppTooLarge, match="reading stopped"):
                await get_printer_attributes(server.uri, connections=pool,
                                             max_response_bytes=MB)
    assert memory.growth_mb < 1 + 10, memory.growth_mb


async def test_an_answer_compressed_though_asked_plain_is_refused() -> None:
    """A small compressed body can inflate without bound: not asked for, not read."""
    server = HostileIppServer("ok")
    async with server:
        original = server._head

        async def gzip_head(writer, status, headers):  # type: ignore[no-untyped-def]
            await original(writer, status, [*headers, "Content-Encoding: gzip"])

        server._head = gzip_head  # type: ignore[method-assign]
        with pytest.raises(IppProtocolError, match=r"compressed \('gzip'\)"):
            await get_printer_attributes(server.uri)


# -- time ------------------------------------------------------------------------------------------

async def test_a_dripped_body_ends_within_the_timeout_saying_how_much_came() -> None:
    async with HostileIppServer("drip", drip_interval=0.05) as server:
        started = time.monotonic()
        with pytest.raises(IppUnreachable) as caught:
            await get_printer_attributes(server.uri, timeout=1.0)
        took = time.monotonic() - started
    message = _one_line(caught.value, server.uri)
    assert "answer not complete within 1 s (" in message and "bytes of body received)" in message
    assert 0.9 < took < 4.0, took  # the 1 s timeout ends it (a busy machine adds some)


# -- redirects -------------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_to_another_loopback_host_is_refused_and_never_followed(
        status: int) -> None:
    async with HostileIppServer("ok", host="127.0.0.2") as target:
        async with HostileIppServer("redirect", redirect_status=status,
                                    location=f"http://127.0.0.2:{target.port}/ipp/print",
                                    ) as printer:
            with pytest.raises(IppRedirectRefused) as caught:
                await get_printer_attributes(printer.uri)
        assert not target.contacted, "nothing may be sent to a redirect's target"
    message = _one_line(caught.value, printer.uri)
    assert f"HTTP {status} redirect to 'http://127.0.0.2:{target.port}/ipp/print' refused" \
        in message
    assert printer.requests == [("POST", "/ipp/print")], "asked once, not retried elsewhere"


@pytest.mark.parametrize("location", ["http://127.0.0.1:{other}/ipp/print",
                                      "http://localhost:{port}/ipp/print",
                                      "ftp://127.0.0.1:{port}/ipp/print",
                                      "http://127.0.0.1/ipp/print"])
async def test_a_redirect_to_another_port_name_or_scheme_is_refused(location: str) -> None:
    async with HostileIppServer("ok") as other, HostileIppServer("redirect") as printer:
        printer.location = location.format(other=other.port, port=printer.port)
        with pytest.raises(IppRedirectRefused, match="refused: a printer is read only at its "
                                                     "own host and port"):
            await get_printer_attributes(printer.uri)
    assert not other.contacted
    assert len(printer.requests) == 1


@pytest.mark.parametrize("location", ["/ipp/other", "http://127.0.0.1:{port}/ipp/other"])
async def test_a_redirect_within_the_printer_is_followed_and_reported(location: str) -> None:
    async with HostileIppServer("redirect", answers={"/ipp/other": "ok"}) as printer:
        printer.location = location.format(port=printer.port)
        reading = await get_printer_attributes(printer.uri)
    assert reading.attributes["printer-name"] == "Hostile printer"
    moved = f"ipp://127.0.0.1:{printer.port}/ipp/other"
    assert reading.problems == [f"HTTP 307 redirect from {printer.uri} to {moved} followed "
                                f"(same host and port); read {moved} directly"]
    assert printer.requests == [("POST", "/ipp/print"), ("POST", "/ipp/other")]
    assert reading.uri == printer.uri


@pytest.mark.parametrize(("current", "target", "followed"), [
    ("http://10.0.0.5:631/ipp/print", "http://10.0.0.5:631/ipp/other", True),
    ("http://printer.lan:631/ipp", "http://PRINTER.lan:631/ipp/print", True),
    ("http://10.0.0.5:631/ipp/print", "https://10.0.0.5:631/ipp/print", True),  # TLS upgrade
    ("http://[fe80::1]:631/ipp", "http://[fe80::1]:631/ipp/print", True),
    ("https://10.0.0.5:631/ipp/print", "http://10.0.0.5:631/ipp/print", False),  # downgrade
    ("http://10.0.0.5:631/ipp/print", "https://10.0.0.5/ipp/print", False),  # port 443
    ("http://10.0.0.5:631/ipp/print", "http://10.0.0.6:631/ipp/print", False),
    ("http://10.0.0.5:631/ipp/print", "http://user:pw@10.0.0.5:631/ipp/print", False),
    ("http://10.0.0.5:631/ipp/print", "ftp://10.0.0.5:631/ipp/print", False),
    ("http://10.0.0.5:631/ipp/print", "http://10.0.0.5.evil.example:631/", False),
])
def test_which_redirects_stay_on_the_printer(current: str, target: str, followed: bool) -> None:
    assert same_printer(URL(current), URL(target)) is followed


async def test_a_redirect_loop_on_the_printer_ends() -> None:
    async with HostileIppServer("redirect", location="/ipp/print") as printer:
        with pytest.raises(IppRedirectRefused, match=f"more than {MAX_REDIRECTS} redirects"):
            await get_printer_attributes(printer.uri)
    assert len(printer.requests) == MAX_REDIRECTS + 1


async def test_a_redirect_without_a_location_is_a_protocol_error() -> None:
    async with HostileIppServer("redirect", location="") as printer:
        with pytest.raises(IppProtocolError, match="HTTP 307 redirect without a Location"):
            await get_printer_attributes(printer.uri)


# -- not IPP ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [b"<html><body>Not IPP at all</body></html>", b"\x02\x00",
                                  b"\x02\x00\x00\x00\x00\x00\x00\x01\x99" + b"\xff" * 100])
async def test_a_malformed_ipp_message_is_one_clear_line(body: bytes) -> None:
    async with HostileIppServer("malformed", malformed_body=body) as printer:
        with pytest.raises(IppProtocolError) as caught:
            await get_printer_attributes(printer.uri)
    assert "not an IPP response" in _one_line(caught.value, printer.uri)


# -- hostile answers under the cap ----------------------------------------------------------------

def _item(tag: int, name: bytes, value: bytes) -> bytes:
    return struct.pack(">BH", tag, len(name)) + name + struct.pack(">H", len(value)) + value


_HEAD = struct.pack(">BBHI", 2, 0, 0, 1) + b"\x04"


async def test_a_body_of_tiny_broken_attributes_costs_a_bounded_list_and_no_stalled_loop() -> None:
    """3 MB of one-byte INTEGERs: ~170,000 broken attributes, each a problem before the bound;
    parsed off the event loop (about a second of work) with the problems capped.  Each is named
    as one the reader asks for: the parser decodes those (others are stepped over unread)."""
    body = _HEAD + b"".join(_item(0x23, b"printer-state", b"\0") for _ in range(3 * MB // 19))
    longest_tick = 0.0
    done = False

    async def ticker() -> None:
        nonlocal longest_tick
        while not done:
            started = time.monotonic()
            await asyncio.sleep(0.01)
            longest_tick = max(longest_tick, time.monotonic() - started)

    async with HostileIppServer("malformed", malformed_body=body) as printer:
        ticking = asyncio.create_task(ticker())
        reading = await get_printer_attributes(printer.uri, timeout=10)
        done = True
        await ticking
    assert len(reading.problems) == MAX_PROBLEMS + 1
    assert reading.problems[-1].startswith("and ") and "more problems, not listed" \
        in reading.problems[-1]
    assert longest_tick < 0.3, f"the event loop stalled {longest_tick:.2f} s"


def test_attributes_beyond_the_bound_are_skipped_and_counted() -> None:
    body = _HEAD + b"".join(_item(0x21, b"a%d" % i, b"\0\0\0\1") for i in range(5000)) + b"\3"
    _, _, attributes, problems = parse_response(body)
    assert len(attributes) == MAX_ATTRIBUTES
    assert problems == [f"4000 printer attributes beyond the first {MAX_ATTRIBUTES} skipped"]


def test_a_printer_sent_name_in_a_problem_stays_one_short_line() -> None:
    name = b"evil\nname" + b"x" * 5000
    body = _HEAD + _item(0x21, name, b"\0") + b"\3"
    _, _, _, problems = parse_response(body)
    assert len(problems) == 1 and "\n" not in problems[0] and len(problems[0]) < 200, problems
    assert problems[0].startswith("'evil\\nname")


# -- through the gateway's reader ------------------------------------------------------------------

@pytest.mark.parametrize(("mode", "expected"), [
    ("endless-chunked", "65,536-byte limit"),
    ("huge-length", "refused unread"),
    ("drip", "answer not complete within 1 s"),
    ("redirect", "refused: a printer is read only at its own host and port"),
    ("malformed", "not an IPP response"),
])
async def test_a_hostile_ipp_answer_is_a_problem_and_the_snmp_data_is_still_used(
        recorded_printers: tuple[str, int], mode: str, expected: str) -> None:
    host, port = recorded_printers
    snmp = SnmpTarget(host, port, SnmpCredentials(version=2, community="brother"))
    async with HostileIppServer("ok", host="127.0.0.3") as target:
        async with HostileIppServer(mode, drip_interval=0.05,  # type: ignore[arg-type]
                                    location=target.uri.replace("ipp:", "http:")) as printer:
            endpoint = IppEndpoint(printer.uri, timeout=1.0, max_response_bytes=64 * 1024)
            async with DeviceReader() as reader:
                status = await reader.read(host, snmp, endpoint)
        assert not target.contacted
    assert status.reachable == {"snmp": True, "ipp": False}
    assert status.identity.model and status.supplies, "the SNMP data is used"
    ipp_problems = [p for p in status.problems if p.source == "ipp"]
    assert len(ipp_problems) == 1, ipp_problems
    problem = ipp_problems[0]
    assert problem.where == "read" and expected in problem.message
    assert problem.message.startswith(printer.uri) and "\n" not in problem.message


def test_the_configured_cap_reaches_the_endpoints_the_gateway_builds() -> None:
    """`[ipp] max_response_bytes` (default `DEFAULT_MAX_RESPONSE_BYTES`), bounded both ways."""
    assert parse_config({}, "test").ipp.max_response_bytes == DEFAULT_MAX_RESPONSE_BYTES
    config = parse_config({"ipp": {"max_response_bytes": 100_000}}, "test")
    poller = Poller(lambda: config.ipp, reader=None, credentials=None)  # type: ignore[arg-type]
    endpoint = poller._ipp(SimpleNamespace(ipp_uri=None), "192.0.2.7")  # type: ignore[arg-type]
    assert endpoint.max_response_bytes == 100_000
    for wrong in (1000, 1 << 30):
        with pytest.raises(ConfigError, match=r"ipp\.max_response_bytes"):
            parse_config({"ipp": {"max_response_bytes": wrong}}, "test")
