"""An asyncio IPP Get-Printer-Attributes client with a tolerant response parser.

The request is encoded with pyipp's serializer.  The response is decoded here rather than with
pyipp's parser, and the HTTP exchange is done with aiohttp rather than `pyipp.IPP`, because real
printers send answers those give up on: pyipp's parser stops at the first malformed attribute
(a bad value length, an enum it does not know, a truncated body) and loses everything, and
`pyipp.IPP` decodes HTTP error bodies as UTF-8 and hides why a connection failed.  Here one broken
attribute is skipped and reported in `IppReading.problems`; the rest of the answer is kept.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import functools
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import aiohttp
from pyipp.enums import IppOperation, IppStatus
from pyipp.serializer import encode_dict
from yarl import URL

REQUESTED_ATTRIBUTES: tuple[str, ...] = (
    "printer-make-and-model",
    "printer-info",
    "printer-name",
    "printer-location",
    "printer-device-id",
    "printer-uuid",
    "printer-serial-number",
    "printer-firmware-name",
    "printer-firmware-string-version",
    "printer-firmware-version",
    "printer-state",
    "printer-state-reasons",
    "printer-state-message",
    "printer-alert",
    "printer-alert-description",
    "printer-supply",
    "printer-supply-description",
    "printer-supply-info-uri",
    "marker-names",
    "marker-colors",
    "marker-types",
    "marker-levels",
    "marker-high-levels",
    "marker-low-levels",
    "printer-up-time",
    "printer-more-info",
    "printer-uri-supported",
    "printer-is-accepting-jobs",
    "printer-impressions-completed",
    "printer-impressions-completed-col",
    "printer-media-sheets-completed",
    "printer-geo-location",
    "printer-organization",
)
"""Asked for by name: some printers (and ippeveprinter) only send e.g. the serial when named."""

MULTI_VALUED: frozenset[str] = frozenset({
    "printer-firmware-name",
    "printer-firmware-string-version",
    "printer-firmware-version",
    "printer-state-reasons",
    "printer-alert",
    "printer-alert-description",
    "printer-supply",
    "printer-supply-description",
    "marker-names",
    "marker-colors",
    "marker-types",
    "marker-levels",
    "marker-high-levels",
    "marker-low-levels",
    "printer-uri-supported",
    "printer-organization",
})
"""1setOf attributes among those requested: always lists in `IppReading.attributes`, even with one
value.  Other attributes are a scalar with one value and a list with several."""

IPP_VERSIONS: tuple[tuple[int, int], ...] = ((2, 0), (1, 1))

_STATUS_VERSION_NOT_SUPPORTED = IppStatus.ERROR_VERSION_NOT_SUPPORTED.value
_FIRST_ERROR_STATUS = 0x0400


class IppError(Exception):
    """Reading a printer over IPP failed."""


class IppUnreachable(IppError):
    """No answer: the connection failed or timed out."""


class IppTlsError(IppError):
    """The TLS handshake failed, typically on a certificate that is not trusted."""


class IppProtocolError(IppError):
    """The printer answered, but not with a usable IPP response."""


@dataclass
class IppReading:
    uri: str
    version: tuple[int, int]
    """The IPP version that answered."""
    status_code: int
    attributes: dict[str, Any]
    """The printer-attributes group; 1setOf values as lists (see `MULTI_VALUED`)."""
    problems: list[str] = field(default_factory=list)
    """Attributes that could not be decoded, and why."""


def parse_printer_supply(value: str | bytes | None) -> dict[str, str]:
    """One `printer-supply` value (PWG 5100.13): `type=toner;maxcapacity=100;level=75;…`.

    Keys are lower-cased; a value may itself contain `=`; segments without `=` are dropped.
    Never raises: anything that is not text gives `{}`.
    """
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return {}
    supply: dict[str, str] = {}
    for segment in value.split(";"):
        key, equals, item = segment.partition("=")
        key = key.strip().lower()
        if key and equals and key not in supply:
            supply[key] = item.strip()
    return supply


# --------------------------------------------------------------------------------------------
# Client


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
            url, data=_request(uri, version), headers=headers, ssl=verify_tls
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


@functools.lru_cache(maxsize=4096)
def _request(uri: str, version: tuple[int, int]) -> bytes:
    """The request body; the same for every reading of a printer, so encoded once."""
    return encode_dict({
        "version": version,
        "operation": IppOperation.GET_PRINTER_ATTRIBUTES,
        "request-id": 1,
        "operation-attributes-tag": {
            "attributes-charset": "utf-8",
            "attributes-natural-language": "en",
            "printer-uri": uri,
            "requesting-user-name": "printgw",
            "requested-attributes": list(REQUESTED_ATTRIBUTES),
        },
    })


def _reason(exc: BaseException) -> str:
    cause = getattr(exc, "os_error", None) or exc
    return str(cause) or type(cause).__name__


def _status_name(status: int) -> str:
    try:
        name = IppStatus(status).name.lower().replace("_", "-")
    except ValueError:
        name = "status"
    return f"{name} (0x{status:04x})"


# --------------------------------------------------------------------------------------------
# Tolerant response parser

_TAG_OPERATION = 0x01
_TAG_END = 0x03
_TAG_PRINTER = 0x04
_DELIMITER_MAX = 0x0F
_OUT_OF_BAND_MAX = 0x1F  # unsupported, unknown, no-value, …: the attribute has no value
_TAG_INTEGER = 0x21
_TAG_BOOLEAN = 0x22
_TAG_ENUM = 0x23
_TAG_OCTET_STRING = 0x30
_TAG_DATE = 0x31
_TAG_RESOLUTION = 0x32
_TAG_RANGE = 0x33
_TAG_BEGIN_COLLECTION = 0x34
_TAG_TEXT_LANG = 0x35
_TAG_NAME_LANG = 0x36
_TAG_END_COLLECTION = 0x37
_TAG_TEXT = 0x41
_TAG_NAME = 0x42
_TAG_MEMBER_NAME = 0x4A
_CHARSET_TEXT_TAGS = frozenset({_TAG_TEXT, _TAG_NAME, _TAG_TEXT_LANG, _TAG_NAME_LANG})
_ASCII_TAGS = frozenset(range(0x44, 0x4A))  # keyword, uri, uriScheme, charset, language, mime
_FIXED_SIZES = {_TAG_INTEGER: 4, _TAG_ENUM: 4, _TAG_BOOLEAN: 1, _TAG_DATE: 11,
                _TAG_RESOLUTION: 9, _TAG_RANGE: 8}


class _BadValue(ValueError):
    """One value that cannot be decoded; its attribute is dropped, the rest of the body is kept."""


@dataclass(slots=True)
class _Field:
    """One tag-length-value item of the body, framing checked, value not decoded yet."""

    offset: int
    tag: int
    name: bytes
    value: bytes


@dataclass
class _Attribute:
    name: str
    values: list[Any] = field(default_factory=list)
    error: str | None = None


@dataclass
class _Collection:
    """A collection being read: its members so far and the name of the member being read."""

    members: dict[str, Any] = field(default_factory=dict)
    member: str | None = None


def parse_response(body: bytes) -> tuple[int, tuple[int, int], dict[str, Any], list[str]]:
    """Decode an IPP response: `(status_code, version, printer attributes, problems)`.

    Tolerant: an attribute that cannot be decoded (bad length, undecodable text, broken
    collection) is dropped with a problem, and the rest is kept; a truncated body keeps what came
    before the cut.  Raises `IppProtocolError` only for a body that is not an IPP response at all.
    """
    if len(body) < 9:
        raise IppProtocolError(f"not an IPP response: only {len(body)} bytes")
    version = (body[0], body[1])
    if version[0] not in (1, 2):
        raise IppProtocolError(f"not an IPP response: version bytes {bytes(body[:2]).hex()}")
    status = struct.unpack_from(">H", body, 2)[0]
    if body[8] > _DELIMITER_MAX:
        raise IppProtocolError(f"not an IPP response: byte 8 is 0x{body[8]:02x}, not a group tag")
    parser = _Parser(bytes(body))
    parser.run()
    return status, version, parser.printer, parser.problems


class _Parser:
    """Walks the body's attribute groups and keeps the printer-attributes group."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.problems: list[str] = []
        self.printer: dict[str, Any] = {}
        self.charset = "utf-8"
        self.group = 0
        self.attribute: _Attribute | None = None
        self.stack: list[_Collection] = []
        """Collections open in the current attribute, innermost last."""

    def run(self) -> None:
        for item in self._fields():
            if item.tag <= _DELIMITER_MAX:
                self._close_attribute()
                if item.tag == _TAG_END:
                    return
                self.group = item.tag
            else:
                self._field(item)
        if self.attribute is not None:
            # More of its values may have been cut off: a partial marker list would misalign.
            self.attribute.error = self.attribute.error or "the body ends inside it"
        self._close_attribute()

    def _fields(self) -> Iterator[_Field]:
        """The body's items; stops with a problem where the framing runs past the end."""
        body, offset, size = self.body, 8, len(self.body)
        while offset < size:
            tag = body[offset]
            if tag <= _DELIMITER_MAX:
                yield _Field(offset, tag, b"", b"")
                if tag == _TAG_END:
                    return
                offset += 1
                continue
            if offset + 3 > size:
                break
            name_end = offset + 3 + (body[offset + 1] << 8 | body[offset + 2])
            if name_end + 2 > size:
                break
            value_end = name_end + 2 + (body[name_end] << 8 | body[name_end + 1])
            if value_end > size:
                break
            yield _Field(offset, tag, body[offset + 3:name_end], body[name_end + 2:value_end])
            offset = value_end
        if offset < len(body):
            self.problems.append(f"body truncated: item at byte {offset} runs past the end "
                                 f"({len(body)} bytes); rest lost")
        else:
            self.problems.append("body ends without end-of-attributes tag")

    def _field(self, item: _Field) -> None:
        if item.name:
            self._close_attribute()
            try:
                name = item.name.decode("ascii")
            except UnicodeDecodeError:
                name = item.name.decode("ascii", "replace")
                self.attribute = _Attribute(name, error="attribute name is not ASCII")
                return
            self.attribute = _Attribute(name)
        elif self.attribute is None:
            self.problems.append(f"byte {item.offset}: value without an attribute name, skipped")
            return
        if self.attribute.error is None:
            try:
                self._value(item)
            except _BadValue as exc:
                self.attribute.error = f"byte {item.offset}: {exc}"

    def _value(self, item: _Field) -> None:
        if item.tag == _TAG_BEGIN_COLLECTION:
            self.stack.append(_Collection())
        elif item.tag == _TAG_MEMBER_NAME:
            self._member_name(item)
        elif item.tag == _TAG_END_COLLECTION:
            self._end_collection()
        else:
            self._add(_decode(item.tag, item.value, self.charset))

    def _member_name(self, item: _Field) -> None:
        if not self.stack:
            raise _BadValue("memberAttrName outside a collection")
        self.stack[-1].member = _decode(item.tag, item.value, self.charset)

    def _end_collection(self) -> None:
        if not self.stack:
            raise _BadValue("endCollection without begCollection")
        self._add(self.stack.pop().members)

    def _add(self, value: Any) -> None:
        """Add a value to the innermost open collection member, or else to the attribute."""
        if self.stack:
            collection = self.stack[-1]
            if collection.member is None:
                raise _BadValue("collection value without a member name")
            _append(collection.members, collection.member, value)
        else:
            assert self.attribute is not None
            self.attribute.values.append(value)

    def _close_attribute(self) -> None:
        attribute, self.attribute = self.attribute, None
        if attribute is None:
            return
        if self.stack:
            self.stack.clear()
            attribute.error = attribute.error or "collection not closed"
        if attribute.error:
            self.problems.append(f"{attribute.name}: {attribute.error}; attribute skipped")
        elif self.group == _TAG_OPERATION:
            self._operation_attribute(attribute)
        elif self.group == _TAG_PRINTER:
            self._printer_attribute(attribute)

    def _operation_attribute(self, attribute: _Attribute) -> None:
        if attribute.name == "attributes-charset" and attribute.values:
            charset = attribute.values[0]
            try:
                # A text encoding Python knows (not "rot13"); b"" would skip that check.
                b"\0\0\0\0".decode(str(charset))
                self.charset = codecs.lookup(str(charset)).name
            except (LookupError, ValueError):  # ValueError: a name with a NUL in it
                self.problems.append(f"attributes-charset: unknown charset {charset!r}, "
                                     "reading text as UTF-8")

    def _printer_attribute(self, attribute: _Attribute) -> None:
        if attribute.name in self.printer:
            self.problems.append(f"{attribute.name}: sent twice; second one skipped")
            return
        values = attribute.values
        if attribute.name in MULTI_VALUED:
            # An out-of-band value (no-value, unknown) alone means "no values".
            self.printer[attribute.name] = [] if values == [None] else values
        else:
            self.printer[attribute.name] = values[0] if len(values) == 1 else values


def _append(members: dict[str, Any], name: str, value: Any) -> None:
    """A member's first value is a scalar; further values (1setOf members) make it a list."""
    if name not in members:
        members[name] = value
    elif isinstance(members[name], list):
        members[name].append(value)
    else:
        members[name] = [members[name], value]


def _decode(tag: int, raw: bytes, charset: str) -> Any:
    """One value by its tag (RFC 8010 §3.9); raises `_BadValue`."""
    expected = _FIXED_SIZES.get(tag)
    if expected is not None and len(raw) != expected:
        raise _BadValue(f"value tag 0x{tag:02x} needs {expected} bytes, got {len(raw)}")
    if tag <= _OUT_OF_BAND_MAX:
        return None
    if tag in (_TAG_INTEGER, _TAG_ENUM):
        return struct.unpack(">i", raw)[0]
    if tag == _TAG_BOOLEAN:
        if raw[0] > 1:
            raise _BadValue(f"boolean value {raw[0]}")
        return raw[0] == 1
    if tag == _TAG_DATE:
        return _date(raw)
    if tag == _TAG_RESOLUTION:
        return struct.unpack(">iib", raw)
    if tag == _TAG_RANGE:
        return struct.unpack(">ii", raw)
    if tag in (_TAG_TEXT_LANG, _TAG_NAME_LANG):
        return _text(_without_language(raw), charset)
    if tag in _CHARSET_TEXT_TAGS:
        return _text(raw, charset)
    if tag in _ASCII_TAGS or tag == _TAG_MEMBER_NAME:
        return _text(raw, "utf-8")
    if tag == _TAG_OCTET_STRING:
        return _octets(raw)
    return raw


def _text(raw: bytes, charset: str) -> str:
    try:
        return raw.decode(charset)
    except UnicodeDecodeError as exc:
        raise _BadValue(f"text is not valid {charset}: {raw[:40]!r}") from exc


def _octets(raw: bytes) -> str | bytes:
    """octetString: text in practice (printer-supply), binary sometimes: kept as bytes then."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


def _without_language(raw: bytes) -> bytes:
    """textWithLanguage: 2-byte language length, language, 2-byte text length, text."""
    if len(raw) < 4:
        raise _BadValue("textWithLanguage value too short")
    language_end = 2 + int.from_bytes(raw[:2], "big")
    if language_end + 2 > len(raw):
        raise _BadValue("textWithLanguage language length runs past the value")
    text_end = language_end + 2 + int.from_bytes(raw[language_end:language_end + 2], "big")
    if text_end != len(raw):
        raise _BadValue("textWithLanguage text length does not match the value")
    return raw[language_end + 2:]


def _date(raw: bytes) -> datetime:
    """RFC 2579 DateAndTime with time zone, as IPP sends it."""
    year, month, day, hour, minute, second, decis, sign, tz_h, tz_m = struct.unpack(
        ">HBBBBBBcBB", raw)
    if sign not in (b"+", b"-"):
        raise _BadValue(f"dateTime with time-zone sign {sign!r}")
    offset = timedelta(hours=tz_h, minutes=tz_m) * (1 if sign == b"+" else -1)
    try:
        zone = UTC if not offset else timezone(offset)
        return datetime(year, month, day, hour, minute, min(second, 59), decis * 100_000,
                        tzinfo=zone)
    except ValueError as exc:
        raise _BadValue(f"dateTime out of range: {exc}") from exc
