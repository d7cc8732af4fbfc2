"""Is an SNMPv1/v2c answer well-formed?  Checked before gufo_snmp decodes it.

gufo_snmp's Rust decoder trusts the lengths it reads: a datagram whose length fields point past
its end makes it panic (the panic message and a Rust backtrace go to stderr, whatever Python
does with the exception), and it decodes INTEGERs into 64 bits.  So every answer is checked here
first, structurally (every TLV inside its parent, the GetResponse layout of RFC 1157 / RFC 3416)
and for integers no SNMP type holds: `check_answer` returns None for an answer gufo_snmp may
decode, else what is malformed.  An integer wider than 64 bits (a Counter64 of 2^63 or more
takes 9 bytes) is malformed: pysnmp refuses one as well.  Value types gufo_snmp does not know are
left to it: it raises an error for them, and `SnmpClient` asks pysnmp instead.

A walk over the TLVs costs a few microseconds per varbind, far below the decoding itself.
"""

from __future__ import annotations

_SEQUENCE, _INTEGER, _OCTETS, _NULL, _OID = 0x30, 0x02, 0x04, 0x05, 0x06
_RESPONSE = 0xA2
_MAX_LENGTH_BYTES = 4
_INTEGER_BYTES = {_INTEGER: 8, 0x41: 8, 0x42: 8, 0x43: 8, 0x46: 9}
"""Bytes an INTEGER, Counter32, Gauge32, TimeTicks, Counter64 may take, at most: 64 bits (signed;
9 bytes for an unsigned Counter64 of 2^63 or more)."""
_EMPTY = (_NULL, 0x80, 0x81, 0x82)
"""NULL, noSuchObject, noSuchInstance, endOfMibView: no contents."""


class _Malformed(Exception):
    pass


def _tlv(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, start of contents, end of contents) of the TLV at `pos`, which must end by `end`."""
    if pos + 2 > end:
        raise _Malformed(f"a value cut short at byte {pos}")
    tag, first = data[pos], data[pos + 1]
    if tag & 0x1F == 0x1F:
        raise _Malformed(f"a multi-byte tag at byte {pos}")
    start = pos + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if not 0 < count <= _MAX_LENGTH_BYTES or start + count > end:
            raise _Malformed(f"a bad length at byte {pos}")
        length = int.from_bytes(data[start:start + count], "big")
        start += count
    if start + length > end:
        raise _Malformed(f"a length at byte {pos} that goes past its end")
    return tag, start, start + length


def _expect(data: bytes, pos: int, end: int, tag: int, what: str) -> tuple[int, int]:
    found, start, stop = _tlv(data, pos, end)
    if found != tag:
        raise _Malformed(f"{what}: tag 0x{found:02x} where 0x{tag:02x} belongs")
    return start, stop


def _integer(data: bytes, pos: int, end: int, what: str) -> int:
    start, stop = _expect(data, pos, end, _INTEGER, what)
    if not 0 < stop - start <= 8:
        raise _Malformed(f"{what}: an INTEGER of {stop - start} bytes")
    return stop


def _check_oid(data: bytes, start: int, stop: int, what: str) -> None:
    if stop == start or data[stop - 1] & 0x80 or stop - start > 512:
        raise _Malformed(f"{what}: not an OBJECT IDENTIFIER")


def _value(data: bytes, pos: int, end: int) -> None:
    tag, start, stop = _tlv(data, pos, end)
    if stop != end:
        raise _Malformed("a varbind with more than a name and a value")
    length = stop - start
    if tag in _INTEGER_BYTES and not 0 < length <= _INTEGER_BYTES[tag]:
        raise _Malformed(f"an integer of {length} bytes")
    if tag in _EMPTY and length:
        raise _Malformed(f"a NULL (0x{tag:02x}) with contents")
    if tag == _OID:
        _check_oid(data, start, stop, "a value")
    if tag == 0x40 and length != 4:
        raise _Malformed(f"an IpAddress of {length} bytes")


def check_answer(data: bytes) -> str | None:
    """None for a well-formed GetResponse, else what is malformed."""
    try:
        start, end = _expect(data, 0, len(data), _SEQUENCE, "the message")
        if end != len(data):
            raise _Malformed("bytes after the message")
        pos = _integer(data, start, end, "the version")
        _, pos = _expect(data, pos, end, _OCTETS, "the community")
        tag, pos, pdu_end = _tlv(data, pos, end)
        if tag != _RESPONSE:
            raise _Malformed(f"a PDU of type 0x{tag:02x}, not a response")
        if pdu_end != end:
            raise _Malformed("bytes after the PDU")
        for what in ("the request-id", "the error-status", "the error-index"):
            pos = _integer(data, pos, pdu_end, what)
        pos, binds_end = _expect(data, pos, pdu_end, _SEQUENCE, "the varbind list")
        if binds_end != pdu_end:
            raise _Malformed("bytes after the varbind list")
        while pos < binds_end:
            bind, bind_end = _expect(data, pos, binds_end, _SEQUENCE, "a varbind")
            name, name_end = _expect(data, bind, bind_end, _OID, "a varbind's name")
            _check_oid(data, name, name_end, "a varbind's name")
            _value(data, name_end, bind_end)
            pos = bind_end
    except _Malformed as exc:
        return f"malformed answer: {exc}"
    return None
