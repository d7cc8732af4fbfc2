"""An asyncio IPP Get-Printer-Attributes client with a tolerant response parser.

The request is encoded with pyipp's serializer (`protocols.ipp.request`).  The response is
decoded by `protocols.ipp.parser` rather than by pyipp's parser, and the HTTP exchange is
printgw's own (`protocols.ipp.http_wire`: one strict, bounded POST on an asyncio protocol)
rather than `pyipp.IPP`, because real printers send answers those give up on: pyipp's parser
stops at the first malformed attribute (a bad value length, an enum it does not know, a truncated
body) and loses everything, and `pyipp.IPP` decodes HTTP error bodies as UTF-8 and hides why a
connection failed.  (aiohttp, used before, cost the gateway more CPU per reading than the IPP
parse: its connector, request and response objects and timeouts.)  Here one broken attribute is
skipped and reported in `IppReading.problems`; the rest of the answer is kept.

A printer is untrusted input, so every read is bounded:

- **Size.** The answer's body is read incrementally and given up as soon as it passes
  `max_response_bytes` (`DEFAULT_MAX_RESPONSE_BYTES`, 4 MiB; real answers to the attributes
  asked are 5-20 KB).  A `Content-Length` over the limit is refused before any of the body is
  read; an endless chunked body costs at most the limit.  The header section is bounded too
  (`http_wire.MAX_HEAD_BYTES`), and a body whose framing is broken is refused.  Compressed
  answers are not asked for (`Accept-Encoding: identity`) and refused when sent anyway: a small
  compressed body can expand without bound.
- **Time.** The whole exchange (connection, redirects, the IPP/1.1 fallback, every byte of the
  body) ends within `timeout`; a body dripped slowly ends there too, with how much had come.  A
  large answer is parsed in a worker thread, so that the event loop is never held for long.
- **Redirects.** A printer is only read at its own address: a redirect to another host, another
  port or from `https` down to `http` is refused (`IppRedirectRefused`) without any request to
  its target.  A redirect to another path on the same host and port (or from `http` up to
  `https` on the same port) is followed, at most `MAX_REDIRECTS` times, and reported in
  `IppReading.problems` with the URI to configure instead.

Reads share keep-alive connections when the caller passes a pool (`connections`: the gateway's
`protocols.ipp.connections.IppConnections`, bounded in sockets); without one a read makes its own
and closes it.  A connection the printer closed before any answer (typically a kept one it closed
just as it was reused) is replaced once by a new one.
"""

from __future__ import annotations

import asyncio
import functools
import re
import ssl
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import quote, urlsplit

from pyipp.enums import IppStatus
from yarl import URL

from protocols.ipp.connections import IppConnections
from protocols.ipp.http_wire import (
    HttpAnswer,
    HttpClosed,
    HttpCompressed,
    HttpConnection,
    HttpError,
    HttpTooLarge,
    Origin,
)
from protocols.ipp.model import (
    DECODED_PREFIXES,
    DECODED_WHEN_SENT,
    DEFAULT_MAX_RESPONSE_BYTES,
    GROUP_KEYWORDS,
    REQUESTED_ATTRIBUTES,
    IppProtocolError,
    IppReading,
    IppRedirectRefused,
    IppTlsError,
    IppTooLarge,
    IppUnreachable,
)
from protocols.ipp.parser import parse_response
from protocols.ipp.request import encode_request

IPP_VERSIONS: tuple[tuple[int, int], ...] = ((2, 0), (1, 1))

MAX_REDIRECTS = 3
"""Redirects followed within the same host and port, at most, in one read."""

_PARSE_INLINE = 256 * 1024
"""Larger answers are parsed in a worker thread: a hostile body of a few MB made of tiny
attributes takes about a second to walk, which must not stall the event loop."""
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_HTTP_SCHEMES = {"ipp": "http", "ipps": "https"}
_IPP_SCHEMES = {"http": "ipp", "https": "ipps"}
_STATUS_VERSION_NOT_SUPPORTED = IppStatus.ERROR_VERSION_NOT_SUPPORTED.value
_FIRST_ERROR_STATUS = 0x0400
_SHOWN = 120
"""Characters of a printer-sent value (a `Location`) quoted in a message, at most."""
_PATH_SAFE = "/%:@!$&'()*+,;=-._~?"
_PLAIN_URI = re.compile(r"(?i:ipps?)://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:/[A-Za-z0-9/._~-]*)?")
"""A printer URI `_target` splits itself: a host name or IPv4 address, a port, a plain path."""
_HEADERS = (b"Content-Type: application/ipp\r\nAccept: application/ipp\r\n"
            b"Accept-Encoding: identity\r\nUser-Agent: printgw\r\n")
"""Every request's headers but Host and Content-Length."""


async def get_printer_attributes(
    uri: str,
    *,
    verify_tls: bool = False,
    timeout: float = 5.0,  # noqa: ASYNC109 - one deadline for the exchange and its fallback
    connections: IppConnections | None = None,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> IppReading:
    """Get-Printer-Attributes from `ipp://host[:port]/path` or `ipps://…`.

    Asks in IPP/2.0 and falls back to IPP/1.1 when the printer answers
    `server-error-version-not-supported` or HTTP 400 (what IPP/1.1-only printers do).  The whole
    exchange, fallback and redirects included, ends within `timeout` seconds; an answer larger
    than `max_response_bytes` raises `IppTooLarge` after reading at most that much; redirects are
    followed only within the printer's host and port (see the module's description).  Every
    error's message is one line naming `uri`.  `connections`: the pool to take connections from
    (and keep them in); without one the read's own connections are closed at its end.
    """
    reading, _ = await get_printer_answer(uri, REQUESTED_ATTRIBUTES, verify_tls=verify_tls,
                                          timeout=timeout, connections=connections,
                                          max_response_bytes=max_response_bytes)
    return reading


async def get_printer_answer(
    uri: str,
    requested: tuple[str, ...],
    *,
    verify_tls: bool = False,
    timeout: float = 5.0,  # noqa: ASYNC109 - as get_printer_attributes
    connections: IppConnections | None = None,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> tuple[IppReading, bytes]:
    """Get-Printer-Attributes asking for `requested`: the reading, and the answer's body as it
    came (a support recording keeps it, `printgw record`).  Bounded, and failing, as
    `get_printer_attributes`."""
    if max_response_bytes < 1:
        raise ValueError(f"max_response_bytes must be positive, not {max_response_bytes}")
    exchange = _Exchange(uri, _target(uri), max_response_bytes, requested=requested)
    pool = connections if connections is not None else IppConnections()
    try:
        async with asyncio.timeout(timeout):
            return await _read(pool, exchange, verify_tls), exchange.body
    except TimeoutError as exc:
        raise IppUnreachable(f"{uri}: {exchange.progress(timeout)}") from exc
    finally:
        if connections is None:
            await pool.close()


class _Target(NamedTuple):
    """Where a request goes: the printer's URI as HTTP, or where it redirected to."""

    tls: bool
    host: str
    port: int
    path: str
    """The request line's target: path and query, percent-encoded."""
    head: bytes
    """The request's head up to its `Content-Length`."""

    def url(self) -> URL:
        return URL(f"{'https' if self.tls else 'http'}://{_bracketed(self.host)}:{self.port}"
                   f"{self.path}")


def _target(uri: str) -> _Target:
    try:
        if _PLAIN_URI.fullmatch(uri):  # the usual printer URI, split without urlsplit's cost
            scheme, _, rest = uri.partition("://")
            authority, slash, path = rest.partition("/")
            host, colon, port = authority.rpartition(":")
            if not colon:
                host, port = port, ""
            number = int(port) if port else 0
            if number > 65535:
                raise ValueError(port)
            return _http_target(scheme.lower() == "ipps", host.lower(), number or 631,
                                slash + path, "")
        parts = urlsplit(uri)
        scheme, host = parts.scheme.lower(), parts.hostname
        if scheme in _HTTP_SCHEMES and host:
            return _http_target(scheme == "ipps", host, parts.port or 631, parts.path,
                                parts.query)
    except ValueError:  # a port that is not a number, a host name IDNA refuses
        pass
    raise ValueError(f"not an ipp:// or ipps:// printer URI: {uri!r}")


def _http_target(tls: bool, host: str, port: int, path: str, query: str) -> _Target:
    if not host.isascii():
        host = host.encode("idna").decode("ascii")
    target = (path or "/") + (f"?{query}" if query else "")
    if not (target.isascii() and target.isprintable()) or " " in target:
        target = quote(target, safe=_PATH_SAFE)
    address = _bracketed(host)
    header = address if port == (443 if tls else 80) else f"{address}:{port}"
    head = f"POST {target} HTTP/1.1\r\nHost: {header}\r\n".encode("ascii")
    return _Target(tls, host, port, target, head + _HEADERS)


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@dataclass
class _Exchange:
    """One read in progress: where it now asks, and what came, for the messages."""

    uri: str
    target: _Target
    """Where the next request goes: the printer's URI as HTTP, or where it redirected to."""
    limit: int
    received: int | None = None
    """Body bytes of the answer being read; None before its headers."""
    problems: list[str] = field(default_factory=list)
    redirects: int = 0
    requested: tuple[str, ...] = REQUESTED_ATTRIBUTES
    body: bytes = b""
    """The body of the answer read."""
    resent: bool = False
    """The request was sent again after the connection closed before any answer."""

    def progress(self, timeout: float) -> str:
        if self.received is None:
            return f"no answer within {timeout:g} s"
        return (f"answer not complete within {timeout:g} s "
                f"({self.received:,} bytes of body received)")


async def _read(pool: IppConnections, exchange: _Exchange, verify_tls: bool) -> IppReading:
    for version in IPP_VERSIONS[:-1]:
        try:
            return await _ask(pool, exchange, version, verify_tls)
        except _VersionRefused:
            continue
    return await _ask(pool, exchange, IPP_VERSIONS[-1], verify_tls)


class _VersionRefused(IppProtocolError):
    """HTTP 400 or `server-error-version-not-supported`: worth asking in an older version."""


async def _ask(pool: IppConnections, exchange: _Exchange, version: tuple[int, int],
               verify_tls: bool) -> IppReading:
    uri = exchange.uri
    http_status, body = await _post(pool, exchange, version, verify_tls)
    exchange.body = body
    asked = f"IPP/{version[0]}.{version[1]}"
    if http_status == 400:
        raise _VersionRefused(f"{uri}: HTTP 400 to an {asked} request")
    if http_status != 200:
        raise IppProtocolError(f"{uri}: HTTP {http_status} to an {asked} request")
    try:
        wanted = wanted_attributes(exchange.requested)
        if len(body) > _PARSE_INLINE:
            status, answered, attributes, problems = await asyncio.to_thread(
                parse_response, body, wanted, DECODED_PREFIXES)
        else:
            status, answered, attributes, problems = parse_response(body, wanted,
                                                                    DECODED_PREFIXES)
    except IppProtocolError as exc:
        raise IppProtocolError(f"{uri}: {exc} (answer to {asked})") from exc
    if status == _STATUS_VERSION_NOT_SUPPORTED:
        raise _VersionRefused(f"{uri}: printer answered {_status_name(status)} to {asked}")
    if status >= _FIRST_ERROR_STATUS:
        raise IppProtocolError(f"{uri}: printer answered {_status_name(status)} to {asked}")
    return IppReading(uri, answered, status, attributes, [*exchange.problems, *problems])


async def _post(pool: IppConnections, exchange: _Exchange, version: tuple[int, int],
                verify_tls: bool) -> tuple[int, bytes]:
    """POST the request to `exchange.target`, following same-origin redirects: the HTTP status
    and the body of a 200 answer (empty for any other status, whose body is not read)."""
    uri = exchange.uri
    while True:
        target = exchange.target
        request = _request(target, encode_request(uri, version, exchange.requested))
        exchange.received = None
        conn = await _connection(pool, exchange, verify_tls)
        complete = False
        try:
            answer = await conn.request(request, exchange.limit)
            complete = True
        except HttpClosed as exc:
            if exc.answered or exchange.resent:
                raise IppUnreachable(f"{uri}: connection failed: {exc}") from exc
            # Closed before any answer, as a kept connection the printer closed just as it was
            # reused: ask once more, on a new connection (the request only reads).
            exchange.resent = True
            continue
        except HttpError as exc:
            raise _refused(exchange, exc) from exc
        finally:
            exchange.received = conn.received
            pool.release(conn, keep=complete)
        if answer.status in _REDIRECTS:
            exchange.target = _redirect_target(exchange, answer)
            continue
        return answer.status, answer.body


def _request(target: _Target, body: bytes) -> bytes:
    return b"%sContent-Length: %d\r\n\r\n%s" % (target.head, len(body), body)


async def _connection(pool: IppConnections, exchange: _Exchange,
                      verify_tls: bool) -> HttpConnection:
    target = exchange.target
    try:
        return await pool.acquire(Origin(target.host, target.port, target.tls,
                                         verify_tls and target.tls))
    except ssl.SSLCertVerificationError as exc:
        raise IppTlsError(
            f"{exchange.uri}: TLS certificate not trusted ({_reason(exc)}); printers often use "
            "self-signed certificates: read with verify_tls=False or trust the printer's CA"
        ) from exc
    except ssl.SSLError as exc:
        raise IppTlsError(f"{exchange.uri}: TLS handshake failed: {_reason(exc)}") from exc
    except OSError as exc:
        raise IppUnreachable(f"{exchange.uri}: cannot connect: {_reason(exc)}") from exc


def _refused(exchange: _Exchange, exc: HttpError) -> IppProtocolError:
    """The error of an answer `http_wire` refused: over the limit, compressed, or broken."""
    uri, limit = exchange.uri, exchange.limit
    if isinstance(exc, HttpTooLarge):
        if exc.announced is not None:
            return IppTooLarge(f"{uri}: answer of {exc.announced:,} bytes refused unread: over "
                               f"the {limit:,}-byte limit (max_response_bytes)")
        return IppTooLarge(f"{uri}: answer over the {limit:,}-byte limit "
                           "(max_response_bytes); reading stopped there")
    if isinstance(exc, HttpCompressed):
        return IppProtocolError(f"{uri}: answer compressed ({exc.coding}) though asked "
                                "uncompressed; not read")
    return IppProtocolError(f"{uri}: unusable HTTP answer: {exc}")


@functools.lru_cache(maxsize=16)
def wanted_attributes(requested: tuple[str, ...]) -> frozenset[str] | None:
    """The attributes the parser decodes: those asked for and those read when sent (a printer
    may send more); None, every one, when a group of attributes (`all`) is asked for."""
    if GROUP_KEYWORDS.intersection(requested):
        return None
    return frozenset(requested) | DECODED_WHEN_SENT


def _redirect_target(exchange: _Exchange, answer: HttpAnswer) -> _Target:
    """Where a redirect may be followed: the same host and port, never down from https; else
    `IppRedirectRefused`.  The redirect is noted in `exchange.problems`."""
    uri, status, location = exchange.uri, answer.status, answer.location
    if not location:
        raise IppProtocolError(f"{uri}: HTTP {status} redirect without a Location")
    current = exchange.target.url()
    try:
        target: URL | None = current.join(URL(location))
    except ValueError:
        target = None
    if target is None or not same_printer(current, target):
        raise IppRedirectRefused(
            f"{uri}: HTTP {status} redirect to {_shown(location)} refused: a printer is read "
            "only at its own host and port")
    exchange.redirects += 1
    if exchange.redirects > MAX_REDIRECTS:
        raise IppRedirectRefused(f"{uri}: more than {MAX_REDIRECTS} redirects (the last to "
                                 f"{_shown(location)})")
    moved = _shown(str(target.with_scheme(_IPP_SCHEMES[target.scheme])), quoted=False)
    exchange.problems.append(f"HTTP {status} redirect from {uri} to {moved} followed (same "
                             f"host and port); read {moved} directly")
    assert target.host is not None and target.port is not None  # same_printer checked them
    return _http_target(target.scheme == "https", target.host, target.port, target.raw_path,
                        target.raw_query_string)


def same_printer(current: URL, target: URL) -> bool:
    """Whether a redirect from `current` to `target` (both absolute HTTP URLs) stays on the same
    printer, and so may be followed: the same host (by name as written, any case) and port, no
    user name or password, and `http` or `https`, never from `https` down to `http`."""
    try:
        port = target.port
    except ValueError:
        return False
    return (target.scheme in _IPP_SCHEMES and target.host is not None
            and target.host.lower() == (current.host or "").lower() and port == current.port
            and target.user is None and target.password is None
            and not (current.scheme == "https" and target.scheme != "https"))


def _shown(value: str, quoted: bool = True) -> str:
    """A printer-sent value in a one-line message: repr (or as it is, if it is one line already
    as a URL is), cut to `_SHOWN` characters."""
    text = repr(value) if quoted else value
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"


def _reason(exc: BaseException) -> str:
    """Why a connection failed, on one line and bounded (it may quote what the printer sent)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 2 * _SHOWN else text[:2 * _SHOWN] + "…"


def _status_name(status: int) -> str:
    try:
        name = IppStatus(status).name.lower().replace("_", "-")
    except ValueError:
        name = "status"
    return f"{name} (0x{status:04x})"
