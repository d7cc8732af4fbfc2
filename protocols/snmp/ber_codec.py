"""SNMPv1/v2c messages of the read path: requests encoded, GetResponse PDUs decoded and checked.

Requests (GET, GETNEXT, GETBULK) are built from cached pieces: each OID's varbind (the OID and a
NULL) is encoded once; the request-id always takes 4 bytes (`probe_codec.RID_MIN`..`RID_MAX`).

Answers are decoded in two steps: `decode_header` (version, request-id, error-status and -index:
what the reader matches the answer to its request with) and, for an answer that is awaited,
`decode_varbinds`.  Every length is checked against its parent and the datagram, so that nothing
is read past the end: a datagram that is not a GetResponse raises `NotAnswer`, a response whose
values are malformed (a length past its end, an integer no SNMP type holds, a bad OBJECT
IDENTIFIER) raises `Malformed`, and a value type this module does not know (NsapAddress, ...)
raises `Unsure`: `SnmpClient` then asks pysnmp.  Values are the `SnmpValue`s pysnmp's path gives
(`protocols.snmp.values.to_python`); absent objects and the end of the MIB view are `ABSENT` and
`END_OF_MIB`.  OIDs are decoded to dotted text through a bounded cache: a fleet answers the same
OIDs at every poll, so most cost a dictionary look-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from protocols.snmp.model import SnmpValue


class Malformed(Exception):
    """A response with a malformed value or structure; the message says what."""


class NotAnswer(Exception):
    """A datagram that is no SNMPv1/v2c GetResponse (garbage, or cut before its varbinds)."""


class Unsure(Exception):
    """A well-formed answer with a value type this decoder does not know: ask pysnmp."""


class Marker:
    """A varbind without a value: noSuchObject/noSuchInstance (`ABSENT`), endOfMibView."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


ABSENT: Final = Marker("absent")
END_OF_MIB: Final = Marker("endOfMibView")
Value = SnmpValue | Marker

GET, GETNEXT, GETBULK = 0xA0, 0xA1, 0xA5
RESPONSE = 0xA2
MAX_OID_BYTES = 512
"""Bytes an OBJECT IDENTIFIER may take (128 sub-identifiers and more): longer is malformed."""
CACHE_SIZE = 16_384
"""OIDs whose encoding and text are kept (each cache on its own), about 2 MB in all: the objects
a fleet's printers answer; the caches start again when full (a hostile agent cannot grow them)."""

_INTEGER_TAGS = {0x02: 8, 0x41: 8, 0x42: 8, 0x43: 8, 0x46: 9}
"""INTEGER, Counter32, Gauge32, TimeTicks, Counter64 → bytes they may take at most."""
_UNSIGNED_MAX = {0x41: 1 << 32, 0x42: 1 << 32, 0x43: 1 << 32, 0x46: 1 << 64}
_varbinds: dict[str, bytes] = {}
_texts: dict[bytes, str] = {}


# -- requests ------------------------------------------------------------------------------------

def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def _tlv(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes((tag, size)) + body
    return bytes((tag,)) + _length(size) + body


def _small_int(value: int) -> bytes:
    if 0 <= value < 0x80:
        return _INTEGERS[value]
    return _tlv(0x02, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))


_INTEGERS = tuple(bytes((0x02, 1, n)) for n in range(0x80))
_messages: dict[tuple[int, bytes], bytes] = {}
"""The version and community of a message, encoded, by (version, community)."""


def _oid_body(oid: str) -> bytes:
    arcs = [int(arc) for arc in oid.strip(".").split(".")]
    if len(arcs) < 2 or arcs[0] > 2 or min(arcs) < 0:
        raise ValueError(f"not an OID: {oid!r}")
    out = bytearray()
    for arc in (arcs[0] * 40 + arcs[1], *arcs[2:]):
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out.extend(reversed(chunk))
    return bytes(out)


def _varbind(oid: str) -> bytes:
    encoded = _varbinds.get(oid)
    if encoded is None:
        encoded = _tlv(0x30, _tlv(0x06, _oid_body(oid)) + b"\x05\x00")
        if len(_varbinds) >= CACHE_SIZE:
            _varbinds.clear()
        _varbinds[oid] = encoded
    return encoded


def encode_request(version: int, community: bytes, tag: int, request_id: int, first: int,
                   second: int, oids: Sequence[str]) -> bytes:
    """A GET/GETNEXT/GETBULK message; `version` as on the wire (0 = v1, 1 = v2c); `first` and
    `second` are error-status and -index (0, 0), or non-repeaters and max-repetitions."""
    head = _messages.get((version, community))
    if head is None:
        if len(_messages) >= CACHE_SIZE:
            _messages.clear()
        head = _messages[version, community] = _small_int(version) + _tlv(0x04, community)
    pdu = (b"\x02\x04" + request_id.to_bytes(4, "big") + _small_int(first) + _small_int(second)
           + _tlv(0x30, b"".join(map(_varbind, oids))))
    return _tlv(0x30, head + _tlv(tag, pdu))


# -- answers -------------------------------------------------------------------------------------

def _tlv_at(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, start, end of contents) of the TLV at `pos`, which must end by `end`."""
    if pos + 2 > end:
        raise Malformed(f"a value cut short at byte {pos}")
    tag, length = data[pos], data[pos + 1]
    start = pos + 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4 or start + count > end:
            raise Malformed(f"a bad length at byte {pos}")
        length = int.from_bytes(data[start:start + count], "big")
        start += count
    if start + length > end:
        raise Malformed(f"a length at byte {pos} that goes past its end")
    return tag, start, start + length


def _integer(data: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    tag, start, stop = _tlv_at(data, pos, end)
    if tag != 0x02 or not 0 < stop - start <= 8:
        raise Malformed(f"{what}: not an INTEGER")
    return int.from_bytes(data[start:stop], "big", signed=True), stop


def _small(data: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    """The INTEGER at `pos` (one byte, inline: error-status and -index, the version)."""
    if data[pos] == 0x02 and data[pos + 1] == 1 and pos + 3 <= end:
        value = data[pos + 2]
        return (value - 0x100 if value & 0x80 else value), pos + 3
    return _integer(data, pos, end, what)


def decode_header(data: bytes) -> tuple[int, int, int, int, int, int]:
    """(version, request-id, error-status, error-index, start, end of the varbind list) of a
    GetResponse; raises `NotAnswer` for anything else."""
    try:
        tag, pos, end = _tlv_at(data, 0, len(data))
        if tag != 0x30 or end != len(data):
            raise Malformed("not one message")
        version, pos = _small(data, pos, end, "the version")
        tag, _, pos = _tlv_at(data, pos, end)
        if tag != 0x04:
            raise Malformed("no community")
        tag, pos, pdu_end = _tlv_at(data, pos, end)
        if tag != RESPONSE or pdu_end != end:
            raise Malformed(f"a PDU of type 0x{tag:02x}, not a response")
        request_id, pos = _integer(data, pos, end, "the request-id")
        status, pos = _small(data, pos, end, "the error-status")
        index, pos = _small(data, pos, end, "the error-index")
        tag, pos, binds_end = _tlv_at(data, pos, end)
        if tag != 0x30 or binds_end != end:
            raise Malformed("no varbind list")
    except IndexError:
        raise NotAnswer("malformed answer: a message cut short") from None
    except Malformed as exc:
        raise NotAnswer(f"malformed answer: {exc}") from None
    return version, request_id, status, index, pos, end


def oid_text(raw: bytes) -> str:
    """The dotted text of an OBJECT IDENTIFIER's contents; raises `Malformed`."""
    text = _texts.get(raw)
    if text is not None:
        return text
    if not raw or raw[-1] & 0x80 or len(raw) > MAX_OID_BYTES:
        raise Malformed("not an OBJECT IDENTIFIER")
    arcs: list[int] = []
    arc = 0
    fresh = True
    for byte in raw:
        if fresh and byte == 0x80:
            raise Malformed("an OBJECT IDENTIFIER with a padded sub-identifier")
        arc = (arc << 7) | (byte & 0x7F)
        fresh = not byte & 0x80
        if fresh:
            arcs.append(arc)
            arc = 0
    first = arcs[0]
    head = (first // 40, first % 40) if first < 80 else (2, first - 80)
    text = ".".join(map(str, (*head, *arcs[1:])))
    if len(_texts) >= CACHE_SIZE:
        _texts.clear()
    _texts[raw] = text
    return text


def _value(tag: int, body: bytes) -> Value:
    """A value's contents as `SnmpValue` (see `protocols.snmp.values.to_python`)."""
    if tag == 0x04 or tag == 0x44:  # OCTET STRING, Opaque
        return body
    widest = _INTEGER_TAGS.get(tag)
    if widest is not None:
        if not 0 < len(body) <= widest:
            raise Malformed(f"an integer of {len(body)} bytes")
        number = int.from_bytes(body, "big", signed=True)
        top = _UNSIGNED_MAX.get(tag)
        if top is not None and not 0 <= number < top:
            raise Unsure(f"a value of type 0x{tag:02x} out of its range")
        return number
    if tag == 0x06:
        return oid_text(body)
    if tag == 0x40:
        if len(body) != 4:
            raise Malformed(f"an IpAddress of {len(body)} bytes")
        return ".".join(map(str, body))
    if tag in (0x05, 0x80, 0x81, 0x82):
        if body:
            raise Malformed(f"a NULL (0x{tag:02x}) with contents")
        return None if tag == 0x05 else END_OF_MIB if tag == 0x82 else ABSENT
    raise Unsure(f"a value of type 0x{tag:02x}")


def decode_varbinds(data: bytes, pos: int, end: int) -> list[tuple[str, Value]]:
    """The varbinds of a response, from `decode_header`'s bounds; raises `Malformed`, `Unsure`.

    Short-form lengths (every varbind of a printer's answer but long strings) are read inline,
    as are INTEGERs, OCTET STRINGs, the unsigned types and OIDs already seen: ~0.6 µs per
    varbind; the rest goes through `_tlv_at`."""
    out: list[tuple[str, Value]] = []
    append, texts, from_bytes = out.append, _texts, int.from_bytes
    try:
        while pos < end:
            if data[pos] == 0x30 and (size := data[pos + 1]) < 0x80 and data[pos + 2] == 0x06 \
                    and (name_size := data[pos + 3]) < 0x80:
                bind_end = pos + 2 + size
                name_end = pos + 4 + name_size
                if bind_end > end or name_end + 2 > bind_end:
                    raise Malformed(f"a varbind cut short at byte {pos}")
                name = data[pos + 4:name_end]
                tag, length = data[name_end], data[name_end + 1]
                if length < 0x80 and name_end + 2 + length == bind_end:
                    body = data[name_end + 2:bind_end]
                    if tag == 0x04:
                        value: Value = body
                    elif tag == 0x02 and 0 < length <= 8:
                        value = from_bytes(body, "big", signed=True)
                    elif 0x41 <= tag <= 0x43 and 0 < length <= 4 and not body[0] & 0x80:
                        value = from_bytes(body, "big")  # Counter32, Gauge32, TimeTicks
                    elif tag == 0x06:
                        value = texts.get(body) or oid_text(body)
                    else:
                        value = _value(tag, body)
                else:
                    tag, start, stop = _tlv_at(data, name_end, bind_end)
                    if stop != bind_end:
                        raise Malformed("a varbind with more than a name and a value")
                    value = _value(tag, data[start:stop])
            else:
                tag, bind, bind_end = _tlv_at(data, pos, end)
                name_tag, start, name_end = _tlv_at(data, bind, bind_end)
                if tag != 0x30 or name_tag != 0x06:
                    raise Malformed("a varbind that is not an OID and a value")
                name = data[start:name_end]
                tag, start, stop = _tlv_at(data, name_end, bind_end)
                if stop != bind_end:
                    raise Malformed("a varbind with more than a name and a value")
                value = _value(tag, data[start:stop])
            append((texts.get(name) or oid_text(name), value))
            pos = bind_end
    except IndexError:
        raise Malformed(f"a varbind cut short at byte {pos}") from None
    return out
