"""A hostile IPP printer on loopback: an HTTP server on plain asyncio TCP, misbehaving on purpose.

Written on raw TCP rather than with aiohttp's server so that it can send what no well-behaved
server library would: a chunked body that never ends, a `Content-Length` of 50 MB it then sends in
full, a body dripped one byte at a time, redirects to another host, bytes that are not IPP.  Each
path of the server answers in one `Mode` (`answers`, else `mode`):

- `ok`: a small valid Get-Printer-Attributes answer (`printer_attributes_body`);
- `endless-chunked`: `Transfer-Encoding: chunked` chunks of 64 KiB until the client goes away;
- `huge-length`: `Content-Length: huge_bytes` (50 MB by default), then all of those bytes;
- `huge-close`: `huge_bytes` with neither a length nor chunks: the body ends when the connection
  closes (HTTP/1.0 style), so only the reading itself can stop it;
- `drip`: `Content-Length: drip_bytes`, then one byte every `drip_interval` seconds;
- `redirect`: `redirect_status` with `Location: location`, no body;
- `malformed`: HTTP 200 `application/ipp` whose body is not an IPP message (`malformed_body`).

Every connection is counted (`connections`) before anything is read, and every request recorded
(`requests`), so a test can tell whether a redirect target was contacted at all.  Only
127.0.0.0/8 is ever bound.  Every sending loop is bounded: by its size, by the client going away
and by `max_seconds`, so a test that forgets the server cannot leave it sending.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import struct
import time
from dataclasses import dataclass, field
from typing import Literal

Mode = Literal["ok", "endless-chunked", "huge-length", "huge-close", "drip", "redirect",
               "malformed"]

_CHUNK = 64 * 1024
_HEAD_LIMIT = 16 * 1024
_BODY_LIMIT = 64 * 1024


def _attribute(tag: int, name: str, value: bytes) -> bytes:
    raw_name = name.encode()
    return (struct.pack(">BH", tag, len(raw_name)) + raw_name
            + struct.pack(">H", len(value)) + value)


def printer_attributes_body(name: str = "Hostile printer", request_id: int = 1) -> bytes:
    """A valid IPP/2.0 `successful-ok` answer: the operation attributes and `printer-name`,
    `printer-state` (idle) and `printer-make-and-model` in the printer group."""
    return b"".join((
        struct.pack(">BBHI", 2, 0, 0x0000, request_id),
        b"\x01",  # operation-attributes-tag
        _attribute(0x47, "attributes-charset", b"utf-8"),
        _attribute(0x48, "attributes-natural-language", b"en"),
        b"\x04",  # printer-attributes-tag
        _attribute(0x42, "printer-name", name.encode()),
        _attribute(0x23, "printer-state", struct.pack(">i", 3)),
        _attribute(0x41, "printer-make-and-model", b"Hostile Laser 9000"),
        b"\x03",  # end-of-attributes-tag
    ))


@dataclass
class HostileIppServer:
    """One hostile printer on `host` (127.0.0.0/8 only); `port` 0 lets the kernel choose."""

    mode: Mode = "ok"
    host: str = "127.0.0.1"
    port: int = 0
    answers: dict[str, Mode] = field(default_factory=dict)
    """Modes by request path, for those that do not answer in `mode`."""
    location: str = "http://127.0.0.2:631/ipp/print"
    redirect_status: int = 307
    huge_bytes: int = 50 * 1024 * 1024
    drip_bytes: int = 1000
    drip_interval: float = 0.2
    malformed_body: bytes = b"<html><body>Not IPP at all</body></html>"
    max_seconds: float = 30.0
    """No answer goes on sending longer than this, whatever the client does."""
    connections: int = 0
    requests: list[tuple[str, str]] = field(default_factory=list)
    """(method, path) of every request read."""
    bytes_sent: int = 0
    """Body bytes written to clients, over all answers."""
    _server: asyncio.Server | None = None
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        if not ipaddress.ip_address(self.host).is_loopback:
            raise ValueError(f"hostile servers bind 127.0.0.0/8 only, not {self.host}")

    @property
    def uri(self) -> str:
        """The printer's IPP URI (path `/ipp/print`)."""
        return f"ipp://{self.host}:{self.port}/ipp/print"

    @property
    def contacted(self) -> bool:
        return self.connections > 0

    async def start(self) -> HostileIppServer:
        self._server = await asyncio.start_server(self._connection, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._handlers):
            task.cancel()
        for task in list(self._handlers):
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> HostileIppServer:
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            async with asyncio.timeout(self.max_seconds):
                path = await self._request(reader)
                if path is not None:
                    await self._answer(self.answers.get(path, self.mode), writer)
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError, ValueError):
            pass  # the client went away, or took too long: either way this answer is over
        finally:
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _request(self, reader: asyncio.StreamReader) -> str | None:
        head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > _HEAD_LIMIT:
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, path, _version = lines[0].split(" ", 2)
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        await reader.readexactly(min(length, _BODY_LIMIT))
        self.requests.append((method, path))
        return path

    async def _answer(self, mode: Mode, writer: asyncio.StreamWriter) -> None:
        if mode == "ok":
            await self._send(writer, 200, printer_attributes_body())
        elif mode == "malformed":
            await self._send(writer, 200, self.malformed_body)
        elif mode == "redirect":
            await self._send(writer, self.redirect_status, b"", [f"Location: {self.location}"])
        elif mode == "endless-chunked":
            await self._endless(writer)
        elif mode in ("huge-length", "huge-close"):
            await self._huge(writer, announced=mode == "huge-length")
        else:
            await self._drip(writer)

    async def _head(self, writer: asyncio.StreamWriter, status: int, headers: list[str]) -> None:
        lines = [f"HTTP/1.1 {status} Hostile", "Content-Type: application/ipp",
                 "Connection: close", *headers]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()

    async def _body(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(data)
        await writer.drain()
        self.bytes_sent += len(data)

    async def _send(self, writer: asyncio.StreamWriter, status: int, body: bytes,
                    headers: list[str] | None = None) -> None:
        await self._head(writer, status, [f"Content-Length: {len(body)}", *(headers or [])])
        await self._body(writer, body)

    async def _endless(self, writer: asyncio.StreamWriter) -> None:
        """A valid IPP start, then chunks of `printer-info` values, until the client gives up
        (or `max_seconds`: the timeout around the handler)."""
        await self._head(writer, 200, ["Transfer-Encoding: chunked"])
        start = printer_attributes_body()[:-1]
        chunk = _attribute(0x41, "printer-info", b"x" * 1000) * (_CHUNK // 1006)
        await self._body(writer, b"%x\r\n%s\r\n" % (len(start), start))
        framed = b"%x\r\n%s\r\n" % (len(chunk), chunk)
        while True:
            await self._body(writer, framed)

    async def _huge(self, writer: asyncio.StreamWriter, announced: bool) -> None:
        await self._head(writer, 200, [f"Content-Length: {self.huge_bytes}"] if announced else [])
        block = b"\0" * _CHUNK
        for offset in range(0, self.huge_bytes, _CHUNK):
            await self._body(writer, block[:self.huge_bytes - offset])

    async def _drip(self, writer: asyncio.StreamWriter) -> None:
        await self._head(writer, 200, [f"Content-Length: {self.drip_bytes}"])
        deadline = time.monotonic() + self.max_seconds
        for _ in range(self.drip_bytes):
            if time.monotonic() > deadline:
                return
            await self._body(writer, b"\0")
            await asyncio.sleep(self.drip_interval)


def _status_kb(key: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key):
                return int(line.split()[1])
    raise LookupError(key)


def _reset_peak() -> bool:
    """Reset the kernel's peak RSS of this process (`VmHWM`) to its current RSS, if allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        return False
    return True


@dataclass
class RssPeak:
    """How much this process's resident memory grew, at its peak, during an `async with` block.

    The kernel's own peak (`VmHWM`, reset through `/proc/self/clear_refs` at the start) where
    that is allowed, and samples every few milliseconds in any case.  Linux only.
    """

    interval: float = 0.005
    baseline_kb: int = 0
    peak_kb: int = 0
    _reset: bool = False
    _sampler: asyncio.Task[None] | None = None

    @property
    def growth_mb(self) -> float:
        return (self.peak_kb - self.baseline_kb) / 1024

    async def __aenter__(self) -> RssPeak:
        self._reset = _reset_peak()
        self.baseline_kb = self.peak_kb = _status_kb("VmRSS:")
        self._sampler = asyncio.create_task(self._sample())
        return self

    async def _sample(self) -> None:
        while True:
            self.peak_kb = max(self.peak_kb, _status_kb("VmRSS:"))
            await asyncio.sleep(self.interval)

    async def __aexit__(self, *_: object) -> None:
        assert self._sampler is not None
        self._sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._sampler
        self.peak_kb = max(self.peak_kb, _status_kb("VmRSS:"))
        if self._reset:
            self.peak_kb = max(self.peak_kb, _status_kb("VmHWM:"))
