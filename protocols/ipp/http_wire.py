"""One HTTP/1.1 connection to a printer: a strict, bounded client exchange for IPP's POST.

Only what reading a printer needs, on an `asyncio.Protocol` (no streams, no per-request objects
beyond one future): one request at a time on a connection, the answer's status line and the
headers that frame or steer it (`Content-Length`, `Transfer-Encoding`, `Connection`, `Location`,
`Content-Encoding`); every other header is stepped over unread.  A general HTTP client
(aiohttp) cost the gateway more per reading than the IPP parse itself.

Every answer is bounded, and a connection whose answer broke a bound or the framing is aborted:

- the header section, interim `1xx` answers included: `MAX_HEAD_BYTES`, `MAX_INTERIM` answers;
- the body of a 200 answer: `cap` bytes (a `Content-Length` over it is refused before any of the
  body is read, a chunked or close-delimited body is cut there); a chunk-size line:
  `_MAX_CHUNK_LINE` bytes; the trailer: `MAX_HEAD_BYTES`;
- a compressed 200 answer is refused at its head (a small body can inflate without bound);
- any other status completes at its head: its body is never waited for, and the connection is
  kept only when that body (by its `Content-Length`) came whole with the head.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import NamedTuple, Protocol

MAX_HEAD_BYTES = 32 * 1024
"""Bytes of one answer's header section (status line and headers), and of its chunked trailer."""
MAX_INTERIM = 8
"""Interim (1xx) answers before the final one, at most."""
_MAX_CHUNK_LINE = 1024
_SHOWN = 60

_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILER, _UNTIL_CLOSE, _IDLE = range(8)
_NO_BODY = frozenset({204, 304})
_HEX = frozenset(b"0123456789abcdefABCDEF")
_WANTED = frozenset({b"content-length", b"transfer-encoding", b"connection", b"location",
                     b"content-encoding"})


class Origin(NamedTuple):
    """Where a connection goes; connections are shared only within one origin."""

    host: str
    port: int
    tls: bool
    verify: bool
    """TLS with certificate verification (always False without TLS)."""


class Transport(Protocol):
    """What a connection uses of its transport: asyncio's, or `plain_socket.PlainSocket`."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


class HttpError(Exception):
    """The answer broke HTTP's framing or a bound; its connection is closed."""


class HttpTooLarge(HttpError):
    """The body passes the cap: `announced` is its `Content-Length` when refused unread."""

    def __init__(self, announced: int | None) -> None:
        super().__init__("answer over the cap")
        self.announced = announced


class HttpCompressed(HttpError):
    """A 200 answer with a content or transfer coding other than identity and chunked."""

    def __init__(self, coding: str) -> None:
        super().__init__(f"answer compressed ({coding})")
        self.coding = coding


class HttpClosed(HttpError):
    """The connection closed before the answer was complete; `answered`: any of it came."""

    def __init__(self, reason: str, answered: bool) -> None:
        super().__init__(reason)
        self.answered = answered


@dataclass(slots=True)
class HttpAnswer:
    status: int
    location: str | None
    """The `Location` header (latin-1), if any."""
    body: bytes
    """The body of a 200 answer; empty for any other status (not read)."""


class HttpConnection(asyncio.Protocol):
    """One connection; `request()` sends a request and returns the future of its answer."""

    def __init__(self, origin: Origin) -> None:
        self.origin = origin
        self.transport: Transport | None = None
        self.closed = False
        """Lost, or being closed: never used again."""
        self.reusable = False
        """The last answer was complete and framed so that the connection may serve another."""
        self.idle_since = 0.0
        self.received: int | None = None
        """Body bytes of the answer being read; None before its head is complete."""
        self._answer: asyncio.Future[HttpAnswer] | None = None
        self._state = _IDLE
        self._buffer = bytearray()
        self._body = bytearray()
        self._cap = 0
        self._left = 0
        self._seen = False
        self._interim = 0
        self._status = 0
        self._location: str | None = None

    def connection_made(self, transport: Transport) -> None:  # type: ignore[override]
        self.transport = transport

    def request(self, data: bytes, cap: int) -> asyncio.Future[HttpAnswer]:
        """Send `data` (a whole request); the answer's body may be at most `cap` bytes."""
        answer = self._answer = asyncio.get_running_loop().create_future()
        if self.closed or self.transport is None:
            answer.set_exception(HttpClosed("connection closed before any answer", False))
            return answer
        self._state, self._cap, self._seen, self._interim = _HEAD, cap, False, 0
        self.reusable, self.received = False, None
        self.transport.write(data)
        return answer

    def close(self, abort: bool = False) -> None:
        """Close (gracefully, or at once with `abort`); the connection is never used again."""
        self.closed, self.reusable = True, False
        transport, self.transport = self.transport, None  # no cycle left for the collector
        if transport is not None:
            if abort:
                transport.abort()
            else:
                transport.close()

    # -- asyncio.Protocol --------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._state == _IDLE:  # bytes nobody asked for: the connection is out of step
            self.close(abort=True)
            return
        self._seen = True
        try:
            if self._state == _HEAD:
                self._buffer += data
                self._head()
            elif self._state == _LENGTH:
                self._length(data)
            elif self._state == _UNTIL_CLOSE:
                self._until_close(data)
            else:
                self._buffer += data
                self._chunked()
        except HttpError as exc:
            self._fail(exc)

    def eof_received(self) -> bool:
        return False  # the transport closes; connection_lost ends or fails the answer

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed, self.reusable, self.transport = True, False, None
        if self._state == _UNTIL_CLOSE and exc is None:
            self._finish()
        elif self._state != _IDLE:
            if not self._seen:
                reason = "connection closed before any answer"
            elif self.received is None:
                reason = "connection closed within the answer's head"
            else:
                reason = f"connection closed after {self.received:,} bytes of the body"
            detail = f" ({' '.join(str(exc).split())[:2 * _SHOWN]})" if exc else ""
            self._fail(HttpClosed(reason + detail, self._seen))

    # -- the answer --------------------------------------------------------------------------

    def _head(self) -> None:
        buffer = self._buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0 or end > MAX_HEAD_BYTES:
            if len(buffer) > MAX_HEAD_BYTES:
                raise HttpError(f"header section over {MAX_HEAD_BYTES:,} bytes")
            return
        lines = bytes(buffer[:end]).split(b"\r\n")
        del buffer[:end + 4]
        version, status, headers = _parse_head(lines)
        if status < 200:
            self._interim += 1
            if status == 101 or self._interim > MAX_INTERIM:
                raise HttpError(f"HTTP {status} answer to a POST"
                                if status == 101 else f"over {MAX_INTERIM} interim answers")
            self._head()
            return
        self._status = status
        location = headers.get(b"location")
        self._location = None if location is None else location.decode("latin-1")
        self.reusable = version == b"HTTP/1.1" and b"close" not in _tokens(
            headers.get(b"connection"))
        self._frame(status, headers)

    def _frame(self, status: int, headers: dict[bytes, bytes]) -> None:
        """Decide how the body is delimited, and read what came with the head."""
        coding = headers.get(b"transfer-encoding")
        codings = _tokens(coding)
        length = _content_length(headers.get(b"content-length"))
        content = headers.get(b"content-encoding", b"").strip().lower()
        if status == 200 and (content not in (b"", b"identity")
                              or any(c not in (b"chunked", b"identity") for c in codings)):
            raise HttpCompressed(repr(_shown(content or coding or b"")))
        rest, self._buffer = bytes(self._buffer), bytearray()
        if status != 200:
            # Not read: kept only when its whole (declared) body came with the head.
            if coding is not None:
                whole = False
            elif length is not None:
                whole = length == len(rest)
            else:
                whole = status in _NO_BODY and not rest
            self.reusable = self.reusable and whole
            self._finish()
            return
        self._body = bytearray()
        self.received = 0
        if coding is not None:
            if codings[-1:] != [b"chunked"]:
                raise HttpError(f"Transfer-Encoding {_shown(coding)!r} does not end in chunked")
            self.reusable = self.reusable and length is None
            self._state = _CHUNK_SIZE
            self._buffer += rest
            self._chunked()
        elif length is not None:
            if length > self._cap:
                raise HttpTooLarge(length)
            self._state, self._left = _LENGTH, length
            self._length(rest)
        else:
            self.reusable = False
            self._state = _UNTIL_CLOSE
            self._until_close(rest)

    def _length(self, data: bytes) -> None:
        if len(data) > self._left:
            self.reusable = False  # more than the answer: out of step
            data = data[:self._left]
        self._body += data
        self._left -= len(data)
        self.received = len(self._body)
        if not self._left:
            self._finish()

    def _until_close(self, data: bytes) -> None:
        self._body += data
        self.received = len(self._body)
        if self.received > self._cap:
            raise HttpTooLarge(None)

    def _chunked(self) -> None:
        """Walk the chunks in the buffer as far as they came."""
        buffer = self._buffer
        while True:
            if self._state == _CHUNK_DATA:
                piece = buffer[:self._left]
                del buffer[:len(piece)]
                self._body += piece
                self._left -= len(piece)
                self.received = len(self._body)
                if self._left:
                    return
                self._state = _CHUNK_END
            elif self._state == _CHUNK_END:
                if len(buffer) < 2:
                    return
                if buffer[:2] != b"\r\n":
                    raise HttpError("a chunk is not followed by CRLF")
                del buffer[:2]
                self._state = _CHUNK_SIZE
            else:
                line = self._line(buffer)
                if line is None:
                    return
                if self._state == _TRAILER:
                    if not line:
                        self.reusable = self.reusable and not buffer
                        self._finish()
                        return
                    continue
                size = _chunk_size(line)
                if size == 0:
                    self._state, self._left = _TRAILER, MAX_HEAD_BYTES
                elif len(self._body) + size > self._cap:
                    raise HttpTooLarge(None)
                else:
                    self._state, self._left = _CHUNK_DATA, size

    def _line(self, buffer: bytearray) -> bytes | None:
        """The next CRLF-ended line of a chunk size or the trailer (bounded), or None."""
        bound = _MAX_CHUNK_LINE if self._state == _CHUNK_SIZE else self._left
        end = buffer.find(b"\r\n", 0, bound + 2)
        if end < 0:
            if len(buffer) > bound:
                raise HttpError("chunk-size line too long" if self._state == _CHUNK_SIZE
                                else f"trailer over {MAX_HEAD_BYTES:,} bytes")
            return None
        line = bytes(buffer[:end])
        del buffer[:end + 2]
        if self._state == _TRAILER:
            self._left -= end + 2
        return line

    def _finish(self) -> None:
        self._state = _IDLE
        body, self._body = bytes(self._body), bytearray()
        answer = self._answer
        if answer is not None and not answer.done():
            answer.set_result(HttpAnswer(self._status, self._location, body))

    def _fail(self, exc: HttpError) -> None:
        self._state = _IDLE
        self._body = bytearray()
        self.close(abort=True)
        answer = self._answer
        if answer is not None and not answer.done():
            answer.set_exception(exc)


def _parse_head(lines: list[bytes]) -> tuple[bytes, int, dict[bytes, bytes]]:
    """The HTTP version, status and the headers of `_WANTED` (names lower-case)."""
    version, _, rest = lines[0].partition(b" ")
    code = rest[:3]
    if version not in (b"HTTP/1.1", b"HTTP/1.0") or not (
            len(code) == 3 and code.isdigit() and rest[3:4] in (b"", b" ")):
        raise HttpError(f"not an HTTP/1.x status line: {_shown(lines[0])!r}")
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon:
            raise HttpError(f"malformed header line: {_shown(line)!r}")
        name = name.strip().lower()
        if name in _WANTED:
            value = value.strip()
            if name in headers and headers[name] != value:
                if name in (b"content-length", b"location"):
                    raise HttpError(f"conflicting {name.decode()} headers")
                value = headers[name] + b", " + value
            headers[name] = value
    return version, int(code), headers


def _content_length(value: bytes | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or len(value) > 18:
        raise HttpError(f"Content-Length {_shown(value)!r} is not a number")
    return int(value)


def _chunk_size(line: bytes) -> int:
    size = line.split(b";", 1)[0].strip()
    if not size or len(size) > 15 or not _HEX.issuperset(size):
        raise HttpError(f"chunk size {_shown(line)!r} is not a hexadecimal number")
    return int(size, 16)


def _tokens(value: bytes | None) -> list[bytes]:
    """A comma-separated header's tokens, lower-case."""
    if value is None:
        return []
    return [token.strip() for token in value.lower().split(b",") if token.strip()]


def _shown(value: bytes) -> str:
    """Printer-sent bytes in a one-line message, cut to `_SHOWN` characters."""
    text = value.decode("latin-1")
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"
