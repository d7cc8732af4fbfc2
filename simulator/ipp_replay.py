"""A recorded IPP Get-Printer-Attributes answer (`printgw record`), served again: the bytes as
the printer sent them, with the request's id, and only the printer attributes the request asked
for (as the simulator's own answers, `ipp_server.select`).

The body is cut attribute by attribute without decoding values (RFC 8010 §3.1): an item with a
name starts an attribute, items without one (further values, collection members) belong to it,
so a recording's quirks come through untouched.
"""

from __future__ import annotations

from collections.abc import Callable

_PRINTER_GROUP = 0x04
_END = 0x03
_DELIMITER_MAX = 0x0F


def replay_answer(recorded: bytes, request_id: int, wanted: Callable[[str], bool]) -> bytes:
    """`recorded` answering request `request_id`, its printer attributes those `wanted`."""
    out = bytearray(recorded[:4] + request_id.to_bytes(4, "big", signed=True))
    pos, size, group, keep = 8, len(recorded), 0, True
    while pos < size:
        tag = recorded[pos]
        if tag <= _DELIMITER_MAX:
            out.append(tag)
            pos += 1
            group = tag
            if tag == _END:
                break
            continue
        if pos + 3 > size:
            break
        name_end = pos + 3 + int.from_bytes(recorded[pos + 1:pos + 3], "big")
        if name_end + 2 > size:
            break
        end = name_end + 2 + int.from_bytes(recorded[name_end:name_end + 2], "big")
        if end > size:
            break
        if name_end > pos + 3:  # a named item: a new attribute
            name = recorded[pos + 3:name_end].decode("ascii", "replace")
            keep = group != _PRINTER_GROUP or wanted(name)
        if keep:
            out += recorded[pos:end]
        pos = end
    out += recorded[pos:]  # whatever could not be cut (a truncated recording) as it came
    return bytes(out)
