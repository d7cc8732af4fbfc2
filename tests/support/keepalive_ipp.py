"""A well-behaved IPP printer on loopback that keeps its connections open and counts them.

HTTP/1.1 keep-alive on plain asyncio TCP: every request on a connection gets the small valid
answer of `hostile_ipp.printer_attributes_body`, and the connection stays open until the client
closes it (or the server is closed).  `accepted` counts connections accepted, `open` those open
now, `requests` the requests answered: a test tells from them whether reads reused a connection
and whether the client closed its idle ones.  `drop_on_request` (1-based, per connection): that
request is read and the connection closed without an answer, as a printer closing an idle
connection just when it is reused.  Only 127.0.0.0/8 is ever bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from dataclasses import dataclass, field

from tests.support.hostile_ipp import printer_attributes_body

_HEAD_LIMIT = 16 * 1024
_BODY_LIMIT = 64 * 1024
CONNECTION_SECONDS = 30.0
"""A connection is closed after this long, whatever the client does."""


@dataclass
class KeepAliveIppServer:
    host: str
    port: int = 0
    drop_on_request: int | None = None
    accepted: int = 0
    open: int = 0
    requests: int = 0
    _server: asyncio.Server | None = None
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    _closed: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a connection closes."""

    def __post_init__(self) -> None:
        if not ipaddress.ip_address(self.host).is_loopback:
            raise ValueError(f"test servers bind 127.0.0.0/8 only, not {self.host}")

    @property
    def uri(self) -> str:
        return f"ipp://{self.host}:{self.port}/ipp/print"

    async def start(self) -> KeepAliveIppServer:
        self._server = await asyncio.start_server(self._connection, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()  # its handler then ends reading, without being cancelled
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=5.0)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> KeepAliveIppServer:
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def wait_open(self, count: int, within: float) -> bool:
        """Whether the open connections come down to `count` within `within` seconds."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                while self.open > count:
                    self._closed.clear()
                    await self._closed.wait()
        return self.open <= count

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.open += 1
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        try:
            async with asyncio.timeout(CONNECTION_SECONDS):
                served = 0
                while await self._request(reader):
                    served += 1
                    if not await self._answer(served, writer):
                        break
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError, ValueError):
            pass  # the client went away (or sent what this peer does not read)
        finally:
            self.open -= 1
            self._closed.set()
            self._handlers.discard(task)
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _answer(self, served: int, writer: asyncio.StreamWriter) -> bool:
        """Answer the connection's `served`-th request; False to close the connection."""
        if served == self.drop_on_request:
            return False
        body = printer_attributes_body(request_id=1)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/ipp\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        self.requests += 1
        return True

    @staticmethod
    async def _request(reader: asyncio.StreamReader) -> bool:
        """Read one request (its head and body); False when the client closed the connection."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        if len(head) > _HEAD_LIMIT:
            return False
        length = 0
        for line in head.decode("latin-1").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        await reader.readexactly(min(length, _BODY_LIMIT))
        return True
