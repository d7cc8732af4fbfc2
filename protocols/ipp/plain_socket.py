"""A plain TCP connection to a numeric address, driven straight from the event loop's selector.

What `loop.create_connection` does for an `http_wire.HttpConnection` over plain HTTP, with less:
no name resolution, no transport object with its flow control and callbacks scheduled through the
loop, the socket's readiness read directly (`add_reader`).  At 10,000 printers nearly every read
opens a new connection (the pool keeps idle ones for a few printers only), so this is paid per
reading; TLS and host names still go through `loop.create_connection`.

The protocol sees the transport interface it uses (`write`, `close`, `abort`) and its usual
callbacks: `data_received`, and `connection_lost` when the printer closes the connection or it
fails; closing it from this side reports nothing (the protocol knows).
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket

from protocols.ipp.http_wire import HttpConnection

_READ = 256 * 1024


def numeric_family(host: str) -> socket.AddressFamily | None:
    """The address family of a numeric IPv4 or IPv6 address (no zone), else None."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        return family
    return None


class PlainSocket:
    """The transport of one `HttpConnection` on a non-blocking socket."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket,
                 protocol: HttpConnection) -> None:
        self._loop = loop
        self._sock: socket.socket | None = sock
        self._fd = sock.fileno()
        self._protocol = protocol
        self._pending = b""
        """Bytes of a request the socket did not take at once (sent when it is writable)."""

    @classmethod
    async def connect(cls, loop: asyncio.AbstractEventLoop, family: socket.AddressFamily,
                      host: str, port: int, protocol: HttpConnection) -> PlainSocket:
        """Connect to `host` (numeric, of `family`) and `port`; raises `OSError`."""
        sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        try:
            error = sock.connect_ex((host, port))
            if error in (errno.EINPROGRESS, errno.EAGAIN):
                error = 0 if _connected(sock) else await _handshake(loop, sock)
            if error:
                raise OSError(error, f"Connect call failed {(host, port)}: "
                                     f"{os.strerror(error)}")
        except BaseException:
            sock.close()
            raise
        transport = cls(loop, sock, protocol)
        protocol.connection_made(transport)  # type: ignore[arg-type]
        loop.add_reader(transport._fd, transport._read_ready)
        return transport

    def write(self, data: bytes) -> None:
        sock = self._sock
        if sock is None:
            return
        if self._pending:
            self._pending += data
            return
        try:
            sent = sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self._lose(exc)
            return
        if sent < len(data):
            self._pending = data[sent:]
            self._loop.add_writer(self._fd, self._write_ready)

    def close(self) -> None:
        """Close the socket (the kernel sends what is queued, then FIN)."""
        sock, self._sock = self._sock, None
        if sock is not None:
            self._loop.remove_reader(self._fd)
            if self._pending:
                self._loop.remove_writer(self._fd)
                self._pending = b""
            sock.close()

    abort = close
    """Nothing of ours is ever queued unsent but a request's tail: closing is aborting."""

    def is_closing(self) -> bool:
        return self._sock is None

    def _read_ready(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            data = sock.recv(_READ)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lose(exc)
            return
        if data:
            self._protocol.data_received(data)
        else:
            self._lose(None)

    def _write_ready(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            sent = sock.send(self._pending)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lose(exc)
            return
        self._pending = self._pending[sent:]
        if not self._pending:
            self._loop.remove_writer(self._fd)

    def _lose(self, exc: Exception | None) -> None:
        """The printer closed the connection, or it failed."""
        if self._sock is not None:
            self.close()
            self._protocol.connection_lost(exc)


def _connected(sock: socket.socket) -> bool:
    """Whether a connection in progress is up already (on loopback and a quiet LAN the handshake
    often ends within the `connect` call): one system call instead of a wait for writability."""
    try:
        sock.getpeername()
    except OSError:
        return False
    return True


async def _handshake(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> int:
    """Wait for a connection in progress: its error number, 0 when it is up."""
    connected = loop.create_future()
    loop.add_writer(sock.fileno(), _set_done, connected)
    try:
        await connected
    finally:
        loop.remove_writer(sock.fileno())
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)


def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
