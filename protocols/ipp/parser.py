"""A tolerant IPP response parser: one broken attribute is skipped, the rest is kept.

pyipp's parser stops at the first malformed attribute (a bad value length, an enum it does not
know, a truncated body) and loses everything; real printers send such answers.  Here each broken
attribute is reported as a problem and the rest of the answer is kept.
"""

from __future__ import annotations

import codecs
import functools
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from protocols.ipp.model import MULTI_VALUED, IppProtocolError

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
_UTF8_TAGS = frozenset(range(0x44, 0x4B))
"""keyword, uri, uriScheme, charset, naturalLanguage, mimeMediaType, memberAttrName: US-ASCII by
RFC 8011, read as UTF-8."""
_UTF8_VALUE_TAGS = _UTF8_TAGS - {_TAG_MEMBER_NAME}
"""The UTF-8 syntaxes `_Parser._run` decodes itself (a member name steers a collection)."""
_TEXT_TAGS = frozenset({_TAG_TEXT, _TAG_NAME})
_NUMBER_TAGS = frozenset({_TAG_INTEGER, _TAG_ENUM})
_FIXED_SIZES = {_TAG_INTEGER: 4, _TAG_ENUM: 4, _TAG_BOOLEAN: 1, _TAG_DATE: 11,
                _TAG_RESOLUTION: 9, _TAG_RANGE: 8}

MAX_PROBLEMS = 20
"""Problems listed for one response, at most; the rest are counted in one last problem (a hostile
body of a few MB could otherwise yield hundreds of thousands)."""
MAX_ATTRIBUTES = 1000
"""Printer attributes kept from one response, at most (a printer sending every attribute it has
sends a few hundred); further ones are skipped and counted."""
_SHOWN = 80
"""Characters of a printer-sent name quoted in a problem, at most."""


class _BadValue(ValueError):
    """One value that cannot be decoded; its attribute is dropped, the rest of the body is kept."""


class _Attribute:
    """One attribute being read (a plain class: one is made per attribute of every reading)."""

    __slots__ = ("error", "name", "values")

    def __init__(self, name: str, error: str | None = None) -> None:
        self.name = name
        self.values: list[Any] = []
        self.error = error


@dataclass
class _Collection:
    """A collection being read: its members so far and the name of the member being read."""

    members: dict[str, Any] = field(default_factory=dict)
    member: str | None = None


def parse_response(body: bytes, wanted: frozenset[str] | None = None,
                   wanted_prefixes: tuple[str, ...] = (),
                   ) -> tuple[int, tuple[int, int], dict[str, Any], list[str]]:
    """Decode an IPP response: `(status_code, version, printer attributes, problems)`.

    Tolerant: an attribute that cannot be decoded (bad length, undecodable text, broken
    collection) is dropped with a problem, and the rest is kept; a truncated body keeps what came
    before the cut.  Raises `IppProtocolError` only for a body that is not an IPP response at all.
    Bounded for hostile bodies: at most `MAX_ATTRIBUTES` printer attributes are kept and
    `MAX_PROBLEMS` problems listed (the others counted), each one line.

    `wanted`: the printer attributes to decode (those asked for), and `wanted_prefixes` the
    starts of further names to decode; every other attribute, and every group but the operation
    and printer groups, is stepped over by its lengths without decoding its values (printers
    answer with more than they are asked).  The framing of the whole body is still checked; a
    value that cannot be decoded is a problem only in the attributes decoded.  None decodes
    every attribute.
    """
    if len(body) < 9:
        raise IppProtocolError(f"not an IPP response: only {len(body)} bytes")
    version = (body[0], body[1])
    if version[0] not in (1, 2):
        raise IppProtocolError(f"not an IPP response: version bytes {bytes(body[:2]).hex()}")
    status = struct.unpack_from(">H", body, 2)[0]
    if body[8] > _DELIMITER_MAX:
        raise IppProtocolError(f"not an IPP response: byte 8 is 0x{body[8]:02x}, not a group tag")
    parser = _Parser(bytes(body), wanted, wanted_prefixes)
    parser.run()
    return status, version, parser.printer, parser.problems


class _Parser:
    """Walks the body's attribute groups and keeps the printer-attributes group."""

    def __init__(self, body: bytes, wanted: frozenset[str] | None = None,
                 wanted_prefixes: tuple[str, ...] = ()) -> None:
        self.body = body
        self.wanted = None if wanted is None else _wanted_names(wanted)
        """The printer attributes to decode, as the names' bytes; None: all."""
        self.wanted_prefixes = _prefix_names(wanted_prefixes)
        self.problems: list[str] = []
        self.unlisted = 0
        """Problems beyond `MAX_PROBLEMS`, only counted."""
        self.printer: dict[str, Any] = {}
        self.dropped = 0
        """Printer attributes beyond `MAX_ATTRIBUTES`, skipped."""
        self.charset = "utf-8"
        self.group = 0
        self.attribute: _Attribute | None = None
        self.stack: list[_Collection] = []
        """Collections open in the current attribute, innermost last."""

    def problem(self, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)
        else:
            self.unlisted += 1

    def run(self) -> None:
        self._run()
        if self.dropped:
            self.problem(f"{self.dropped} printer attributes beyond the first {MAX_ATTRIBUTES} "
                         "skipped")
        if self.unlisted:
            self.problems.append(f"and {self.unlisted} more problems, not listed")

    def _run(self) -> None:
        """Walk the body's items (tag, name length, name, value length, value), checking that
        each fits in the body; stops with a problem where one runs past the end.

        The items of the common syntaxes (text, keyword, uri, integer, enum: nearly every value
        a printer sends), outside collections, are decoded here rather than through `_field`:
        a reading walks some hundred items, and the calls cost more than the decoding."""
        body, offset, size = self.body, 8, len(self.body)
        wanted, prefixes, stack = self.wanted, self.wanted_prefixes, self.stack
        skipping, decoding_all = False, wanted is None
        utf8_tags, text_tags, number_tags = _UTF8_VALUE_TAGS, _TEXT_TAGS, _NUMBER_TAGS
        while offset < size:
            tag = body[offset]
            if tag <= _DELIMITER_MAX:
                self._close_attribute()
                skipping = False
                if tag == _TAG_END:
                    return
                self.group = tag
                decoding_all = wanted is None or tag == _TAG_OPERATION
                offset += 1
                continue
            name_start = offset + 3
            if name_start > size:
                break
            name_end = name_start + (body[offset + 1] << 8 | body[offset + 2])
            value_start = name_end + 2
            if value_start > size:
                break
            value_end = value_start + (body[name_end] << 8 | body[name_end + 1])
            if value_end > size:
                break
            item, offset = offset, value_end
            if name_end != name_start:
                raw_name = body[name_start:name_end]
                attribute = self.attribute
                if attribute is not None:
                    if attribute.error is None and not stack and self.group == _TAG_PRINTER:
                        self.attribute = None  # `_close_attribute`'s usual case, without its call
                        self._printer_attribute(attribute)
                    else:
                        self._close_attribute()
                if not decoding_all and (
                        self.group != _TAG_PRINTER or (raw_name not in wanted  # type: ignore[operator]
                                                       and not raw_name.startswith(prefixes))):
                    skipping = True
                    continue
                skipping = False
                if not raw_name.isascii():
                    self._field(item, tag, raw_name, body[value_start:value_end])
                    continue
                self.attribute = _Attribute(raw_name.decode("ascii"))
            elif skipping:
                continue
            attribute = self.attribute
            if attribute is None:
                self._field(item, tag, b"", body[value_start:value_end])
            elif attribute.error is None:
                raw = body[value_start:value_end]
                try:
                    if stack:
                        self._value(tag, raw)
                    elif tag in utf8_tags:
                        attribute.values.append(raw.decode("utf-8"))
                    elif tag in text_tags:
                        attribute.values.append(raw.decode(self.charset))
                    elif tag in number_tags and len(raw) == 4:
                        attribute.values.append(int.from_bytes(raw, "big", signed=True))
                    else:
                        self._value(tag, raw)
                except UnicodeDecodeError:
                    charset = "utf-8" if tag in _UTF8_TAGS else self.charset
                    attribute.error = f"byte {item}: {_not_text(raw, charset)}"
                except _BadValue as exc:
                    attribute.error = f"byte {item}: {exc}"
        if offset < size:
            self.problem(f"body truncated: item at byte {offset} runs past the end "
                         f"({size} bytes); rest lost")
        else:
            self.problem("body ends without end-of-attributes tag")
        if self.attribute is not None:
            # More of its values may have been cut off: a partial marker list would misalign.
            self.attribute.error = self.attribute.error or "the body ends inside it"
        self._close_attribute()

    def _field(self, offset: int, tag: int, raw_name: bytes, raw: bytes) -> None:
        """One item (at byte `offset`) of an attribute decoded: its first value when it has a
        name, else a further value or a collection's part."""
        if raw_name:
            self._close_attribute()
            try:
                name = raw_name.decode("ascii")
            except UnicodeDecodeError:
                name = raw_name.decode("ascii", "replace")
                self.attribute = _Attribute(name, error="attribute name is not ASCII")
                return
            self.attribute = _Attribute(name)
        elif self.attribute is None:
            self.problem(f"byte {offset}: value without an attribute name, skipped")
            return
        if self.attribute.error is None:
            try:
                self._value(tag, raw)
            except _BadValue as exc:
                self.attribute.error = f"byte {offset}: {exc}"

    def _value(self, tag: int, raw: bytes) -> None:
        if tag == _TAG_BEGIN_COLLECTION:
            self.stack.append(_Collection())
        elif tag == _TAG_MEMBER_NAME:
            if not self.stack:
                raise _BadValue("memberAttrName outside a collection")
            self.stack[-1].member = _decode(tag, raw, self.charset)
        elif tag == _TAG_END_COLLECTION:
            self._end_collection()
        else:
            self._add(_decode(tag, raw, self.charset))

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
            self.problem(f"{_shown(attribute.name)}: {attribute.error}; attribute skipped")
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
                self.problem(f"attributes-charset: unknown charset {_shown(repr(charset))}, "
                             "reading text as UTF-8")

    def _printer_attribute(self, attribute: _Attribute) -> None:
        if attribute.name in self.printer:
            self.problem(f"{_shown(attribute.name)}: sent twice; second one skipped")
            return
        if len(self.printer) >= MAX_ATTRIBUTES:
            self.dropped += 1
            return
        values = attribute.values
        if attribute.name in MULTI_VALUED:
            # An out-of-band value (no-value, unknown) alone means "no values".
            self.printer[attribute.name] = [] if values == [None] else values
        else:
            self.printer[attribute.name] = values[0] if len(values) == 1 else values


@functools.lru_cache(maxsize=16)
def _prefix_names(prefixes: tuple[str, ...]) -> tuple[bytes, ...]:
    return tuple(prefix.encode("ascii") for prefix in prefixes)


@functools.lru_cache(maxsize=16)
def _wanted_names(wanted: frozenset[str]) -> frozenset[bytes]:
    return frozenset(name.encode("ascii", "replace") for name in wanted)


def _shown(name: str) -> str:
    """A printer-sent name in a problem: as it is when short and printable, else its repr, cut
    to `_SHOWN` characters (a problem is one line)."""
    text = name if name.isprintable() else repr(name)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"


def _append(members: dict[str, Any], name: str, value: Any) -> None:
    """A member's first value is a scalar; further values (1setOf members) make it a list."""
    if name not in members:
        members[name] = value
    elif isinstance(members[name], list):
        members[name].append(value)
    else:
        members[name] = [members[name], value]


def _decode(tag: int, raw: bytes, charset: str) -> Any:
    """One value by its tag (RFC 8010 §3.9); raises `_BadValue`.  The most frequent syntaxes
    (keyword, uri, text, integer, enum) are tested first."""
    if tag in _UTF8_TAGS:
        return _text(raw, "utf-8")
    if tag in (_TAG_TEXT, _TAG_NAME):
        return _text(raw, charset)
    expected = _FIXED_SIZES.get(tag)
    if expected is not None and len(raw) != expected:
        raise _BadValue(f"value tag 0x{tag:02x} needs {expected} bytes, got {len(raw)}")
    if tag in (_TAG_INTEGER, _TAG_ENUM):
        return int.from_bytes(raw, "big", signed=True)
    if tag <= _OUT_OF_BAND_MAX:
        return None
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
    if tag == _TAG_OCTET_STRING:
        return _octets(raw)
    return raw


def _text(raw: bytes, charset: str) -> str:
    try:
        return raw.decode(charset)
    except UnicodeDecodeError as exc:
        raise _BadValue(_not_text(raw, charset)) from exc


def _not_text(raw: bytes, charset: str) -> str:
    return f"text is not valid {charset}: {raw[:40]!r}"


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
