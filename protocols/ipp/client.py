"""An asyncio IPP Get-Printer-Attributes client with a tolerant response parser.

The request is encoded with pyipp's serializer (`protocols.ipp.request`).  The response is
decoded by `protocols.ipp.parser` rather than by pyipp's parser, and the HTTP exchange is done
with aiohttp rather than `pyipp.IPP`, because real printers send answers those give up on:
pyipp's parser stops at the first malformed attribute (a bad value length, an enum it does not
know, a truncated body) and loses everything, and `pyipp.IPP` decodes HTTP error bodies as UTF-8
and hides why a connection failed.  Here one broken attribute is skipped and reported in
`IppReading.problems`; the rest of the answer is kept.

A printer is untrusted input, so every read is bounded:

- **Size.** The answer's body is read incrementally and given up as soon as it passes
  `max_response_bytes` (`DEFAULT_MAX_RESPONSE_BYTES`, 4 MiB; real answers to the attributes
  asked are 5-20 KB).  A `Content-Length` over the limit is refused before any of the body is
  read; an endless chunked body costs at most the limit.  Compressed answers are not asked for
  (`Accept-Encoding: identity`) and refused when sent anyway: a small compressed body can expand
  without bound.
- **Time.** The whole exchange (connection, redirects, the IPP/1.1 fallback, every byte of the
  body) ends within `timeout`; a body dripped slowly ends there too, with how much had come.  A
  large answer is parsed in a worker thread, so that the event loop is never held for long.
- **Redirects.** A printer is only read at its own address: a redirect to another host, another
  port or from `https` down to `http` is refused (`IppRedirectRefused`) without any request to
  its target.  A redirect to another path on the same host and port (or from `http` up to
  `https` on the same port) is followed, at most `MAX_REDIRECTS` times, and reported in
  `IppReading.problems` with the URI to configure instead.

Reads share a session and its keep-alive connections when the caller passes one (the gateway's
`protocols.ipp.connections.IppConnections`: bounded in sockets); without one a read makes its own
and closes it.  A kept connection the printer closed just as it was reused, before any answer, is
replaced once by a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from dataclasses import dataclass, field

import aiohttp
from pyipp.enums import IppStatus
from yarl import URL

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

_READ_CHUNK = 64 * 1024
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


async def get_printer_attributes(
    uri: str,
    *,
    verify_tls: bool = False,
    timeout: float = 5.0,  # noqa: ASYNC109 - one deadline for the exchange and its fallback
    session: aiohttp.ClientSession | None = None,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> IppReading:
    """Get-Printer-Attributes from `ipp://host[:port]/path` or `ipps://…`.

    Asks in IPP/2.0 and falls back to IPP/1.1 when the printer answers
    `server-error-version-not-supported` or HTTP 400 (what IPP/1.1-only printers do).  The whole
    exchange, fallback and redirects included, ends within `timeout` seconds; an answer larger
    than `max_response_bytes` raises `IppTooLarge` after reading at most that much; redirects are
    followed only within the printer's host and port (see the module's description).  Every
    error's message is one line naming `uri`.
    """
    reading, _ = await get_printer_answer(uri, REQUESTED_ATTRIBUTES, verify_tls=verify_tls,
                                          timeout=timeout, session=session,
                                          max_response_bytes=max_response_bytes)
    return reading


async def get_printer_answer(
    uri: str,
    requested: tuple[str, ...],
    *,
    verify_tls: bool = False,
    timeout: float = 5.0,  # noqa: ASYNC109 - as get_printer_attributes
    session: aiohttp.ClientSession | None = None,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> tuple[IppReading, bytes]:
    """Get-Printer-Attributes asking for `requested`: the reading, and the answer's body as it
    came (a support recording keeps it, `printgw record`).  Bounded, and failing, as
    `get_printer_attributes`."""
    if max_response_bytes < 1:
        raise ValueError(f"max_response_bytes must be positive, not {max_response_bytes}")
    exchange = _Exchange(uri, _http_url(uri), max_response_bytes, requested=requested)
    try:
        async with asyncio.timeout(timeout):
            if session is not None:
                return await _read(session, exchange, verify_tls), exchange.body
            async with aiohttp.ClientSession() as own_session:
                return await _read(own_session, exchange, verify_tls), exchange.body
    except TimeoutError as exc:
        raise IppUnreachable(f"{uri}: {exchange.progress(timeout)}") from exc


def _http_url(uri: str) -> URL:
    url = URL(uri)
    if url.scheme not in _HTTP_SCHEMES or not url.host:
        raise ValueError(f"not an ipp:// or ipps:// printer URI: {uri!r}")
    return url.with_scheme(_HTTP_SCHEMES[url.scheme]).with_port(url.port or 631)


@dataclass
class _Exchange:
    """One read in progress: where it now asks, and what came, for the messages."""

    uri: str
    url: URL
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


async def _read(session: aiohttp.ClientSession, exchange: _Exchange,
                verify_tls: bool) -> IppReading:
    for version in IPP_VERSIONS[:-1]:
        with contextlib.suppress(_VersionRefused):
            return await _ask(session, exchange, version, verify_tls)
    return await _ask(session, exchange, IPP_VERSIONS[-1], verify_tls)


class _VersionRefused(IppProtocolError):
    """HTTP 400 or `server-error-version-not-supported`: worth asking in an older version."""


async def _ask(session: aiohttp.ClientSession, exchange: _Exchange,
               version: tuple[int, int], verify_tls: bool) -> IppReading:
    uri = exchange.uri
    http_status, body = await _post(session, exchange, version, verify_tls)
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


async def _post(session: aiohttp.ClientSession, exchange: _Exchange,
                version: tuple[int, int], verify_tls: bool) -> tuple[int, bytes]:
    """POST the request to `exchange.url`, following same-origin redirects: the HTTP status and
    the body of a 200 answer (empty for any other status, whose body is not read)."""
    while True:
        exchange.received = None
        try:
            async with session.post(
                exchange.url, data=encode_request(exchange.uri, version, exchange.requested),
                headers=_HEADERS, ssl=verify_tls, allow_redirects=False, auto_decompress=False,
            ) as response:
                if response.status in _REDIRECTS:
                    exchange.url = _redirect_target(exchange, response)
                    continue
                if response.status != 200:
                    return response.status, b""
                return 200, await _body(response, exchange)
        except aiohttp.ServerDisconnectedError as exc:
            if exchange.received is not None or exchange.resent:
                raise IppUnreachable(
                    f"{exchange.uri}: connection failed: {_reason(exc)}") from exc
            # A pooled keep-alive connection the printer closed as it was reused: ask once
            # more, on a new connection (the request only reads).
            exchange.resent = True
            continue
        except aiohttp.ClientConnectorCertificateError as exc:
            raise IppTlsError(
                f"{exchange.uri}: TLS certificate not trusted ({exc.certificate_error}); "
                "printers often use self-signed certificates: read with verify_tls=False or "
                "trust the printer's CA"
            ) from exc
        except aiohttp.ClientSSLError as exc:
            raise IppTlsError(f"{exchange.uri}: TLS handshake failed: {_reason(exc)}") from exc
        except aiohttp.ClientConnectorError as exc:
            raise IppUnreachable(f"{exchange.uri}: cannot connect: {_reason(exc)}") from exc
        except aiohttp.ClientError as exc:
            raise IppUnreachable(f"{exchange.uri}: connection failed: {_reason(exc)}") from exc


@functools.lru_cache(maxsize=16)
def wanted_attributes(requested: tuple[str, ...]) -> frozenset[str] | None:
    """The attributes the parser decodes: those asked for and those read when sent (a printer
    may send more); None, every one, when a group of attributes (`all`) is asked for."""
    if GROUP_KEYWORDS.intersection(requested):
        return None
    return frozenset(requested) | DECODED_WHEN_SENT


_HEADERS = {"Content-Type": "application/ipp", "Accept": "application/ipp",
            "Accept-Encoding": "identity"}


def _redirect_target(exchange: _Exchange, response: aiohttp.ClientResponse) -> URL:
    """Where a redirect may be followed: the same host and port, never down from https; else
    `IppRedirectRefused`.  The redirect is noted in `exchange.problems`."""
    uri, status = exchange.uri, response.status
    location = response.headers.get("Location")
    if not location:
        raise IppProtocolError(f"{uri}: HTTP {status} redirect without a Location")
    try:
        target: URL | None = exchange.url.join(URL(location))
    except ValueError:
        target = None
    if target is None or not same_printer(exchange.url, target):
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
    return target


async def _body(response: aiohttp.ClientResponse, exchange: _Exchange) -> bytes:
    """The body of a 200 answer, read in pieces and given up past `exchange.limit` bytes."""
    uri, limit = exchange.uri, exchange.limit
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        response.close()
        raise IppProtocolError(f"{uri}: answer compressed ({_shown(encoding)}) though "
                               "asked uncompressed; not read")
    length = response.content_length
    if length is not None and length > limit:
        response.close()
        raise IppTooLarge(f"{uri}: answer of {length:,} bytes refused unread: over the "
                          f"{limit:,}-byte limit (max_response_bytes)")
    body = bytearray()
    exchange.received = 0
    async for chunk in response.content.iter_chunked(_READ_CHUNK):
        body += chunk
        exchange.received = len(body)
        if len(body) > limit:
            response.close()
            raise IppTooLarge(f"{uri}: answer over the {limit:,}-byte limit "
                              "(max_response_bytes); reading stopped there")
    return bytes(body)


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
    cause = getattr(exc, "os_error", None) or exc
    text = " ".join(str(cause).split()) or type(cause).__name__
    return text if len(text) <= 2 * _SHOWN else text[:2 * _SHOWN] + "…"


def _status_name(status: int) -> str:
    try:
        name = IppStatus(status).name.lower().replace("_", "-")
    except ValueError:
        name = "status"
    return f"{name} (0x{status:04x})"
