"""IPP/2.0 message encoding and strict request parsing (RFC 8010), with pyipp's tag enums.

pyipp's serializer only writes requests with a few value types and its parser is lenient; a server
must encode responses (status code, several groups, collections, out-of-band values, octetString,
dateTime) and refuse malformed requests with client-error-bad-request, so both are done here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pyipp.enums import IppStatus, IppTag

Value = Any
"""int, bool, str, bytes, datetime, or a Collection."""


@dataclass
class Attr:
    name: str
    tag: IppTag
    values: list[Value]


@dataclass
class Collection:
    members: list[Attr]


@dataclass
class IppRequest:
    version: tuple[int, int]
    operation: int
    request_id: int
    groups: list[tuple[int, list[Attr]]] = field(default_factory=list)
    data: bytes = b""

    def operation_attrs(self) -> list[Attr]:
        return self.groups[0][1] if self.groups and self.groups[0][0] == IppTag.OPERATION else []

    def get(self, name: str) -> Attr | None:
        return next((a for a in self.operation_attrs() if a.name == name), None)


class IppParseError(ValueError):
    """The request is not well-formed IPP (→ client-error-bad-request)."""


OUT_OF_BAND = {IppTag.UNSUPPORTED_VALUE, IppTag.DEFAULT, IppTag.UNKNOWN, IppTag.NO_VALUE,
               IppTag.NOT_SETTABLE, IppTag.DELETE_ATTR, IppTag.ADMIN_DEFINE}


# -- encoding -------------------------------------------------------------------------------------

def _encode_value(tag: IppTag, value: Value) -> bytes:
    if tag in OUT_OF_BAND:
        return b""
    if tag in (IppTag.INTEGER, IppTag.ENUM):
        return struct.pack(">i", int(value))
    if tag == IppTag.BOOLEAN:
        return b"\x01" if value else b"\x00"
    if tag == IppTag.RANGE:
        return struct.pack(">ii", *value)
    if tag == IppTag.RESOLUTION:
        return struct.pack(">iib", *value)
    if tag == IppTag.DATE:
        dt = value.astimezone(UTC)
        return struct.pack(">HBBBBBBcBB", dt.year, dt.month, dt.day, dt.hour, dt.minute,
                           dt.second, dt.microsecond // 100000, b"+", 0, 0)
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8")


def encode_attr(attr: Attr) -> bytes:
    out = bytearray()
    for i, value in enumerate(attr.values):
        name = attr.name.encode("ascii") if i == 0 else b""
        if isinstance(value, Collection):
            out += struct.pack(">bH", IppTag.BEGIN_COLLECTION, len(name)) + name + b"\x00\x00"
            for member in value.members:
                for j, mvalue in enumerate(member.values):
                    mname = member.name.encode("ascii")
                    if j == 0:
                        out += struct.pack(">bHH", IppTag.MEMBER_NAME, 0, len(mname)) + mname
                    sub = encode_attr(Attr("", member.tag, [mvalue]))
                    out += sub
            out += struct.pack(">bHH", IppTag.END_COLLECTION, 0, 0)
            continue
        body = _encode_value(attr.tag, value)
        if len(body) > 0x7FFF:
            raise ValueError(f"value of {attr.name} too long")
        out += struct.pack(">bH", attr.tag, len(name)) + name + struct.pack(">H", len(body)) + body
    return bytes(out)


def encode_response(version: tuple[int, int], status: int, request_id: int,
                    groups: list[tuple[int, list[Attr]]]) -> bytes:
    out = bytearray(struct.pack(">bbHi", version[0], version[1], status, request_id))
    for group_tag, attrs in groups:
        out.append(group_tag)
        for attr in attrs:
            out += encode_attr(attr)
    out.append(IppTag.END)
    return bytes(out)


def operation_group(message: str | None = None) -> tuple[int, list[Attr]]:
    attrs = [Attr("attributes-charset", IppTag.CHARSET, ["utf-8"]),
             Attr("attributes-natural-language", IppTag.LANGUAGE, ["en"])]
    if message:
        attrs.append(Attr("status-message", IppTag.TEXT, [message[:255]]))
    return IppTag.OPERATION, attrs


# -- parsing --------------------------------------------------------------------------------------

def _decode_value(tag: int, raw: bytes) -> Value:
    if tag in (IppTag.INTEGER, IppTag.ENUM):
        if len(raw) != 4:
            raise IppParseError("integer value must be 4 octets")
        return struct.unpack(">i", raw)[0]
    if tag == IppTag.BOOLEAN:
        if len(raw) != 1:
            raise IppParseError("boolean value must be 1 octet")
        return raw != b"\x00"
    if tag == IppTag.RANGE:
        if len(raw) != 8:
            raise IppParseError("rangeOfInteger must be 8 octets")
        return struct.unpack(">ii", raw)
    if tag == IppTag.RESOLUTION:
        if len(raw) != 9:
            raise IppParseError("resolution must be 9 octets")
        return struct.unpack(">iib", raw)
    if tag in (IppTag.STRING, IppTag.DATE) or (tag < 0x40 and tag not in OUT_OF_BAND):
        return raw
    if tag in OUT_OF_BAND:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IppParseError("string value is not UTF-8") from exc


def parse_request(data: bytes) -> IppRequest:
    """Parse a request strictly; IppParseError on truncation or bad structure."""
    if len(data) < 9:
        raise IppParseError("message shorter than an IPP header")
    major, minor, op, request_id = struct.unpack(">bbHi", data[:8])
    req = IppRequest((major, minor), op, request_id)
    pos = 8
    n = len(data)
    current: list[Attr] | None = None
    stack: list[tuple[Attr, Collection]] = []
    last: Attr | None = None
    while True:
        if pos >= n:
            raise IppParseError("missing end-of-attributes-tag")
        tag = data[pos]
        pos += 1
        if tag == IppTag.END:
            break
        if tag < 0x10:
            if stack:
                raise IppParseError("group tag inside a collection")
            current = []
            req.groups.append((tag, current))
            last = None
            continue
        if current is None:
            raise IppParseError("attribute before the first group tag")
        if tag == 0x7F:
            raise IppParseError("extended type codes are not supported")
        if pos + 2 > n:
            raise IppParseError("truncated name length")
        (name_len,) = struct.unpack(">H", data[pos:pos + 2])
        pos += 2
        if pos + name_len + 2 > n:
            raise IppParseError("truncated name")
        name = data[pos:pos + name_len].decode("utf-8", "replace")
        pos += name_len
        (value_len,) = struct.unpack(">H", data[pos:pos + 2])
        pos += 2
        if pos + value_len > n:
            raise IppParseError("truncated value")
        raw = data[pos:pos + value_len]
        pos += value_len
        if stack:  # inside a collection
            _coll_attr, coll = stack[-1]
            if tag == IppTag.END_COLLECTION:
                stack.pop()
                continue
            if tag == IppTag.MEMBER_NAME:
                coll.members.append(Attr(raw.decode("utf-8", "replace"), IppTag.ZERO, []))
                continue
            if not coll.members:
                raise IppParseError("collection value without a member name")
            member = coll.members[-1]
            if tag == IppTag.BEGIN_COLLECTION:
                sub = Collection([])
                member.tag = IppTag.BEGIN_COLLECTION
                member.values.append(sub)
                stack.append((member, sub))
                continue
            member.tag = IppTag(tag) if tag in IppTag._value2member_map_ else IppTag.ZERO
            member.values.append(_decode_value(tag, raw))
            continue
        if tag in (IppTag.END_COLLECTION, IppTag.MEMBER_NAME):
            raise IppParseError("collection tag outside a collection")
        if name_len == 0:
            if last is None:
                raise IppParseError("additional value without an attribute")
            attr = last
        else:
            known = IppTag(tag) if tag in IppTag._value2member_map_ else IppTag.ZERO
            attr = Attr(name, known, [])
            current.append(attr)
            last = attr
        if tag == IppTag.BEGIN_COLLECTION:
            coll = Collection([])
            attr.values.append(coll)
            stack.append((attr, coll))
        else:
            attr.values.append(_decode_value(tag, raw))
    req.data = data[pos:]
    return req


def now() -> datetime:
    return datetime.now(UTC)


__all__ = ["Attr", "Collection", "IppParseError", "IppRequest", "IppStatus", "IppTag",
           "encode_response", "operation_group", "parse_request"]
