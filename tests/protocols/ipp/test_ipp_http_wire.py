"""The IPP client's own HTTP/1.1 exchange (`protocols.ipp.http_wire`, `plain_socket`) against
scripted peers on loopback: framing (Content-Length, chunked with extensions and trailers,
close-delimited, interim 1xx), its bounds (a header section without end, bad chunks, conflicting
lengths), which answers leave a connection fit for reuse, and a host name read through asyncio's
own connection path.  Addresses 127.0.190.0/24.
"""

from __future__ import annotations

import time

import pytest

from protocols.ipp.client import get_printer_attributes
from protocols.ipp.connections import IppConnections
from protocols.ipp.http_wire import MAX_HEAD_BYTES
from protocols.ipp.model import IppProtocolError, IppUnreachable
from tests.support.hostile_ipp import printer_attributes_body
from tests.support.scripted_http import CLOSE, ScriptedHttpServer, chunked, ok_answer

BODY = printer_attributes_body()
HEAD_200 = b"HTTP/1.1 200 OK\r\nContent-Type: application/ipp\r\n"


def _one_line(exc: BaseException, uri: str) -> str:
    message = str(exc)
    assert "\n" not in message and len(message) < 400, message
    assert message.startswith(f"{uri}: "), message
    return message


# -- framing ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "answer"), [
    ("chunked, extension and trailer",
     HEAD_200 + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(BODY, 7, b"X-Trailer: 1\r\n")),
    ("interim 100 Continue first", b"HTTP/1.1 100 Continue\r\n\r\n" + ok_answer()),
    ("header names in any case, no reason phrase",
     b"HTTP/1.1 200\r\ncontent-LENGTH: %d\r\nX-Other: a:b\r\n\r\n%s" % (len(BODY), BODY)),
])
async def test_framings_a_printer_may_use_are_read_on_one_kept_connection(name: str,
                                                                         answer: bytes) -> None:
    async with ScriptedHttpServer("127.0.190.1", [answer, answer]) as printer, \
            IppConnections() as pool:
        for _ in range(2):
            reading = await get_printer_attributes(printer.uri, connections=pool)
            assert reading.attributes["printer-name"] == "Hostile printer", name
        assert (printer.accepted, printer.requests) == (1, 2), "the connection was reused"


async def test_a_body_ending_at_close_is_read_and_its_connection_not_reused() -> None:
    answers = [b"HTTP/1.0 200 OK\r\nContent-Type: application/ipp\r\n\r\n" + BODY + CLOSE]
    async with ScriptedHttpServer("127.0.190.2", answers) as printer, IppConnections() as pool:
        for _ in range(2):
            reading = await get_printer_attributes(printer.uri, connections=pool)
            assert reading.status_code == 0
        assert printer.accepted == 2


@pytest.mark.parametrize(("name", "answer"), [
    ("Connection: close", ok_answer(b"Connection: close\r\n")),
    ("more bytes than its Content-Length", ok_answer() + b"garbage"),
    ("HTTP/1.0", ok_answer().replace(b"HTTP/1.1", b"HTTP/1.0", 1)),
])
async def test_an_answer_that_does_not_allow_reuse_is_not_reused(name: str, answer: bytes) -> None:
    async with ScriptedHttpServer("127.0.190.3", [answer]) as printer, IppConnections() as pool:
        await get_printer_attributes(printer.uri, connections=pool)
        assert pool.idle_connections == 0, name
        await get_printer_attributes(printer.uri, connections=pool)
        assert printer.accepted == 2, name


async def test_the_ipp_1_1_fallback_reuses_the_connection_of_a_whole_http_400() -> None:
    refusal = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 5\r\n\r\nnope!"
    async with ScriptedHttpServer("127.0.190.4", [refusal]) as printer, IppConnections() as pool:
        reading = await get_printer_attributes(printer.uri, connections=pool)
        assert reading.status_code == 0
        assert (printer.accepted, printer.requests) == (1, 2)


async def test_an_http_error_whose_body_does_not_come_is_not_waited_for() -> None:
    """A 500 announcing a body it never sends: the read ends at the head, not the timeout."""
    stuck = b"HTTP/1.1 500 Oops\r\nContent-Length: 1000\r\n\r\n"
    async with ScriptedHttpServer("127.0.190.5", [stuck]) as printer, IppConnections() as pool:
        started = time.monotonic()
        with pytest.raises(IppProtocolError, match=r"HTTP 500 to an IPP/2\.0 request"):
            await get_printer_attributes(printer.uri, connections=pool, timeout=5)
        assert time.monotonic() - started < 3
        assert pool.idle_connections == 0, "its body may still come: not kept"


async def test_a_printer_read_by_host_name_goes_through_the_resolver() -> None:
    async with ScriptedHttpServer("127.0.0.1") as printer, IppConnections() as pool:
        uri = printer.uri.replace("127.0.0.1", "localhost")
        for _ in range(2):
            reading = await get_printer_attributes(uri, connections=pool)
            assert reading.uri == uri and reading.status_code == 0
        assert printer.accepted == 1


# -- bounds and broken framing ---------------------------------------------------------------------

async def test_a_header_section_without_end_is_cut_at_its_bound() -> None:
    """64 KiB of header lines and no blank line, the connection left open: refused at
    `MAX_HEAD_BYTES`, long before the timeout."""
    flood = HEAD_200 + b"X-Flood: " + b"a" * 100 + b"\r\n"
    answer = HEAD_200 + b"".join(flood for _ in range(64 * 1024 // len(flood)))
    async with ScriptedHttpServer("127.0.190.6", [answer]) as printer:
        started = time.monotonic()
        with pytest.raises(IppProtocolError) as caught:
            await get_printer_attributes(printer.uri, timeout=10)
        assert time.monotonic() - started < 5
    assert f"header section over {MAX_HEAD_BYTES:,} bytes" in _one_line(caught.value, printer.uri)


@pytest.mark.parametrize(("answer", "message"), [
    (HEAD_200 + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
     "chunk size 'zz' is not a hexadecimal number"),
    (HEAD_200 + b"Transfer-Encoding: chunked\r\n\r\n" + b"1" * 2000,
     "chunk-size line too long"),
    (HEAD_200 + b"Transfer-Encoding: chunked\r\n\r\n5\r\nabcdeXX",
     "a chunk is not followed by CRLF"),
    (HEAD_200 + b"Transfer-Encoding: chunked\r\n\r\n0\r\n" + b"X-T: 1\r\n" * 5000,
     "trailer over"),
    (HEAD_200 + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\n", "conflicting content-length"),
    (HEAD_200 + b"Content-Length: -1\r\n\r\n", "Content-Length '-1' is not a number"),
    (HEAD_200 + b"Transfer-Encoding: chunked, identity\r\n\r\n",
     "Transfer-Encoding 'chunked, identity' does not end in chunked"),
    (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "not an HTTP/1.x status line: 'SSH-2.0-OpenSSH_9.2'"),
    (HEAD_200 + b"no colon here\r\n\r\n", "malformed header line: 'no colon here'"),
    (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", "HTTP 101 answer to a POST"),
    (b"HTTP/1.1 100 Continue\r\n\r\n" * 9, "over 8 interim answers"),
])
async def test_broken_http_framing_is_one_clear_line(answer: bytes, message: str) -> None:
    async with ScriptedHttpServer("127.0.190.7", [answer]) as printer, IppConnections() as pool:
        with pytest.raises(IppProtocolError) as caught:
            await get_printer_attributes(printer.uri, connections=pool, timeout=5)
        assert pool.idle_connections == 0
    assert f"unusable HTTP answer: {message}" in _one_line(caught.value, printer.uri)


async def test_a_transfer_coding_that_compresses_is_refused() -> None:
    answer = HEAD_200 + b"Transfer-Encoding: gzip, chunked\r\n\r\n" + chunked(BODY)
    async with ScriptedHttpServer("127.0.190.8", [answer]) as printer:
        with pytest.raises(IppProtocolError, match=r"compressed \('gzip, chunked'\)"):
            await get_printer_attributes(printer.uri)


@pytest.mark.parametrize(("answer", "message"), [
    (HEAD_200 + b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY[:10] + CLOSE,
     "connection failed: connection closed after 10 bytes of the body"),
    (HEAD_200 + CLOSE, "connection failed: connection closed within the answer's head"),
])
async def test_a_connection_closed_within_an_answer_is_unreachable(answer: bytes,
                                                                  message: str) -> None:
    async with ScriptedHttpServer("127.0.190.9", [answer]) as printer:
        with pytest.raises(IppUnreachable) as caught:
            await get_printer_attributes(printer.uri)
    assert message in _one_line(caught.value, printer.uri)
    assert printer.requests == 1, "an answer had begun: not asked again"


async def test_a_new_connection_closed_before_any_answer_is_asked_once_more_then_given_up() -> None:
    async with ScriptedHttpServer("127.0.190.10", [CLOSE]) as once:
        reading = await get_printer_attributes(once.uri)
        assert reading.status_code == 0 and once.accepted == 2
    async with ScriptedHttpServer("127.0.190.11", [CLOSE, CLOSE]) as always:
        with pytest.raises(IppUnreachable, match="connection closed before any answer"):
            await get_printer_attributes(always.uri)
        assert always.accepted == 2
