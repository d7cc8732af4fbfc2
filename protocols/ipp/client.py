"""An asyncio IPP Get-Printer-Attributes client with a tolerant response parser.

The request is encoded with pyipp's serializer (`protocols.ipp.request`).  The response is
decoded by `protocols.ipp.parser` rather than by pyipp's parser, and the HTTP exchange is done
with aiohttp rather than `pyipp.IPP`, because real printers send answers those give up on:
pyipp's parser stops at the first malformed attribute (a bad value length, an enum it does not
know, a truncated body) and loses everything, and `pyipp.IPP` decodes HTTP error bodies as UTF-8
and hides why a connection failed.  Here one broken attribute is skipped and reported in
`IppReading.problems`; the rest of the answer is kept.
"""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
from pyipp.enums import IppStatus
from yarl import URL

from protocols.ipp.model import (
    IppProtocolError,
    IppReading,
    IppTlsError,
    IppUnreachable,
)
from protocols.ipp.parser import parse_response
from protocols.ipp.request import encode_request

IPP_VERSIONS: tuple[tuple[int, int], ...] = ((2, 0), (1, 1))

_STATUS_VERSION_NOT_SUPPORTED = IppStatus.ERROR_VERSION_NOT_SUPPORTED.value
_FIRST_ERROR_STATUS = 0x0400


async def get_printer_attributes(
    uri: str,
    *,
    verify_tls: bool = False,
    timeout: float = 5.0,  # noqa: ASYNC109 - one deadline for the exchange and its fallback
    session: aiohttp.ClientSession | None = None,
) -> IppReading:
    """Get-Printer-Attributes from `ipp://host[:port]/path` or `ipps://…`.

    Asks in IPP/2.0 and falls back to IPP/1.1 when the printer answers
    `server-error-version-not-supported` or HTTP 400 (what IPP/1.1-only printers do).  The whole
    exchange, fallback included, ends within `timeout` seconds.
    """
    url = _http_url(uri)
    try:
        async with asyncio.timeout(timeout):
            if session is not None:
                return await _read(session, uri, url, verify_tls)
            async with aiohttp.ClientSession() as own_session:
                return await _read(own_session, uri, url, verify_tls)
    except TimeoutError as exc:
        raise IppUnreachable(f"{uri}: no answer within {timeout:g} s") from exc


def _http_url(uri: str) -> URL:
    url = URL(uri)
    schemes = {"ipp": "http", "ipps": "https"}
    if url.scheme not in schemes or not url.host:
        raise ValueError(f"not an ipp:// or ipps:// printer URI: {uri!r}")
    return url.with_scheme(schemes[url.scheme]).with_port(url.port or 631)


async def _read(
    session: aiohttp.ClientSession, uri: str, url: URL, verify_tls: bool
) -> IppReading:
    for version in IPP_VERSIONS[:-1]:
        with contextlib.suppress(_VersionRefused):
            return await _ask(session, uri, url, version, verify_tls)
    return await _ask(session, uri, url, IPP_VERSIONS[-1], verify_tls)


class _VersionRefused(IppProtocolError):
    """HTTP 400 or `server-error-version-not-supported`: worth asking in an older version."""


async def _ask(
    session: aiohttp.ClientSession,
    uri: str,
    url: URL,
    version: tuple[int, int],
    verify_tls: bool,
) -> IppReading:
    http_status, body = await _post(session, uri, url, version, verify_tls)
    asked = f"IPP/{version[0]}.{version[1]}"
    if http_status == 400:
        raise _VersionRefused(f"{uri}: HTTP 400 to an {asked} request")
    if http_status != 200:
        raise IppProtocolError(f"{uri}: HTTP {http_status} to an {asked} request")
    try:
        status, answered, attributes, problems = parse_response(body)
    except IppProtocolError as exc:
        raise IppProtocolError(f"{uri}: {exc} (answer to {asked})") from exc
    if status == _STATUS_VERSION_NOT_SUPPORTED:
        raise _VersionRefused(f"{uri}: printer answered {_status_name(status)} to {asked}")
    if status >= _FIRST_ERROR_STATUS:
        raise IppProtocolError(f"{uri}: printer answered {_status_name(status)} to {asked}")
    return IppReading(uri, answered, status, attributes, problems)


async def _post(
    session: aiohttp.ClientSession,
    uri: str,
    url: URL,
    version: tuple[int, int],
    verify_tls: bool,
) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/ipp", "Accept": "application/ipp"}
    try:
        async with session.post(
            url, data=encode_request(uri, version), headers=headers, ssl=verify_tls
        ) as response:
            return response.status, await response.read()
    except aiohttp.ClientConnectorCertificateError as exc:
        raise IppTlsError(
            f"{uri}: TLS certificate not trusted ({exc.certificate_error}); printers often use "
            "self-signed certificates: read with verify_tls=False or trust the printer's CA"
        ) from exc
    except aiohttp.ClientSSLError as exc:
        raise IppTlsError(f"{uri}: TLS handshake failed: {_reason(exc)}") from exc
    except aiohttp.ClientConnectorError as exc:
        raise IppUnreachable(f"{uri}: cannot connect: {_reason(exc)}") from exc
    except aiohttp.ClientError as exc:
        raise IppUnreachable(f"{uri}: connection failed: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    cause = getattr(exc, "os_error", None) or exc
    return str(cause) or type(cause).__name__


def _status_name(status: int) -> str:
    try:
        name = IppStatus(status).name.lower().replace("_", "-")
    except ValueError:
        name = "status"
    return f"{name} (0x{status:04x})"
