"""A hostile SNMP agent for tests: an asyncio UDP responder on loopback that misbehaves on purpose.

It answers SNMPv1/v2c GET, GETNEXT and GETBULK like a small printer (system group, a printer in
hrDeviceTable, a serial number, two supplies), encoded here byte by byte so that it can also
send what no real encoder would:

- `endless`: a table (by default prtAlertEntry) whose walk never ends: every GETNEXT/GETBULK below
  it answers with ever-increasing OIDs and a `payload`-byte value each, forever;
- `loop`: a table whose walk goes back to its first OID after `loop_after` rows;
- `malformed`: datagrams that are not SNMP (truncated BER, bad lengths) as the answer to every
  request below the Printer-MIB (the system group still answers, so the device looks alive);
- `huge_integers`: supply levels and a page counter as 20-byte INTEGERs;
- `mute_walks`: GETs are answered, GETNEXT and GETBULK never.

Only ever bound to 127.0.0.0/8; `answered` counts the requests it answered, per PDU type.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import ipaddress
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

Value = tuple[int, bytes]
"""A BER tag and its contents."""

GET, GETNEXT, RESPONSE, GETBULK = 0xA0, 0xA1, 0xA2, 0xA5
END_OF_MIB_VIEW = (0x82, b"")
NO_SUCH_OBJECT = (0x80, b"")

PRT_ALERT_ENTRY = "1.3.6.1.2.1.43.18.1.1"
PRT_SUPPLIES_ENTRY = "1.3.6.1.2.1.43.11.1.1"
PRINTER_MIB = "1.3.6.1.2.1.43"
SERIAL = "HOSTILE-0001"


# -- BER ---------------------------------------------------------------------------------------

def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, contents: bytes) -> bytes:
    return bytes([tag]) + _length(len(contents)) + contents


def integer(n: int, size: int | None = None) -> Value:
    """An INTEGER, minimally encoded, or in exactly `size` bytes (a hostile, oversized one)."""
    width = size or max(1, (n.bit_length() + 8) // 8)
    return 0x02, n.to_bytes(width, "big", signed=True)


def octets(text: str | bytes) -> Value:
    return 0x04, text.encode() if isinstance(text, str) else text


def oid_value(oid: str) -> Value:
    return 0x06, encode_oid(oid)


def ticks(n: int) -> Value:
    return 0x43, n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big")


def encode_oid(oid: str) -> bytes:
    arcs = [int(a) for a in oid.strip(".").split(".")]
    out = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


def decode_oid(data: bytes) -> tuple[int, ...]:
    arcs: list[int] = []
    value = 0
    for byte in data:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if not arcs:
        return ()
    first = min(arcs[0] // 40, 2)
    return (first, arcs[0] - 40 * first, *arcs[1:])


def _items(data: bytes) -> list[tuple[int, bytes]]:
    """The TLVs one after another in `data`."""
    items, pos = [], 0
    while pos < len(data):
        tag, first = data[pos], data[pos + 1]
        pos += 2
        if first & 0x80:
            count = first & 0x7F
            length = int.from_bytes(data[pos:pos + count], "big")
            pos += count
        else:
            length = first
        items.append((tag, data[pos:pos + length]))
        pos += length
    return items


@dataclass
class Request:
    version: int
    community: bytes
    kind: int
    request_id: int
    non_repeaters: int
    max_repetitions: int
    oids: list[tuple[int, ...]]


def parse_request(data: bytes) -> Request | None:
    try:
        (_, message), = _items(data)
        (_, version), (_, community), (kind, pdu) = _items(message)
        (_, rid), (_, a), (_, b), (_, binds) = _items(pdu)
        oids = [decode_oid(_items(bind)[0][1]) for _, bind in _items(binds)]
    except (ValueError, IndexError):
        return None
    return Request(int.from_bytes(version, "big"), community, kind,
                   int.from_bytes(rid, "big", signed=True), int.from_bytes(a, "big", signed=True),
                   int.from_bytes(b, "big", signed=True), oids)


def response(request: Request, binds: list[tuple[tuple[int, ...], Value]],
             error_status: int = 0, error_index: int = 0) -> bytes:
    encoded = b"".join(
        tlv(0x30, tlv(0x06, encode_oid(".".join(map(str, oid)))) + tlv(tag, contents))
        for oid, (tag, contents) in binds)
    pdu = tlv(RESPONSE, tlv(0x02, integer(request.request_id)[1])
              + tlv(0x02, integer(error_status)[1]) + tlv(0x02, integer(error_index)[1])
              + tlv(0x30, encoded))
    return tlv(0x30, tlv(0x02, integer(request.version)[1]) + tlv(0x04, request.community) + pdu)


MALFORMED = (
    b"\x30\x82\xff\xff\x02\x01\x01",  # a length far beyond the datagram
    b"\x30\x10\x02\x01\x01\x04\x06public\xa2\x7f\x02\x04",  # truncated inside the PDU
    b"\x30\x0b\x02\x01\x01\x04\x06public\xa2\x00",  # an empty PDU
    b"\xff" * 64,  # not BER at all
)


# -- the agent ---------------------------------------------------------------------------------

def _tuple(oid: str) -> tuple[int, ...]:
    return tuple(int(a) for a in oid.split("."))


@dataclass
class Behaviour:
    endless: str | None = None
    """Root of a subtree whose walk never ends (ever-increasing OIDs)."""
    loop: str | None = None
    """Root of a subtree whose walk goes back to its first OID after `loop_after` rows."""
    loop_after: int = 5
    malformed: bool = False
    """Answer every request below the Printer-MIB with a malformed datagram."""
    huge_integers: bool = False
    mute_walks: bool = False
    """Answer GET only: every walk waits for its timeout and retries."""
    payload: int = 200
    """Bytes of each value of the endless table."""


HUGE = (1 << 158) + 75
"""A 20-byte INTEGER: what `huge_integers` sends as supply levels and the page counter."""


def printer_mib(huge: bool) -> dict[tuple[int, ...], Value]:
    level = integer(HUGE, size=20) if huge else integer(75)
    values: dict[str, Value] = {
        "1.3.6.1.2.1.1.1.0": octets("Hostile printer 1.0"),
        "1.3.6.1.2.1.1.2.0": oid_value("1.3.6.1.4.1.32473.99"),
        "1.3.6.1.2.1.1.3.0": ticks(123456),
        "1.3.6.1.2.1.1.5.0": octets("hostile"),
        "1.3.6.1.2.1.25.3.2.1.1.1": integer(1),
        "1.3.6.1.2.1.25.3.2.1.2.1": oid_value("1.3.6.1.2.1.25.3.1.5"),
        "1.3.6.1.2.1.25.3.2.1.3.1": octets("Hostile Laser 1"),
        "1.3.6.1.2.1.25.3.2.1.5.1": integer(2),
        "1.3.6.1.2.1.25.3.5.1.1.1": integer(3),
        "1.3.6.1.2.1.43.5.1.1.17.1": octets(SERIAL),
        "1.3.6.1.2.1.43.10.2.1.4.1.1": integer(HUGE if huge else 12345),
    }
    for row, (name, colour) in enumerate((("Black Toner", "black"), ("Cyan Toner", "cyan")), 1):
        for column, value in ((3, integer(row)), (4, integer(3)), (5, integer(3)),
                              (6, octets(f"{name} ({colour})")), (7, integer(19)),
                              (8, integer(100)), (9, level)):
            values[f"{PRT_SUPPLIES_ENTRY}.{column}.1.{row}"] = value
    return {_tuple(oid): value for oid, value in values.items()}


@dataclass
class HostileAgent(asyncio.DatagramProtocol):
    behaviour: Behaviour = field(default_factory=Behaviour)
    answered: Counter[str] = field(default_factory=Counter)
    endless_rows: int = 0
    """Rows of the endless table sent so far."""
    port: int = 0
    """The UDP port it answers on (set by `hostile_agent`)."""

    def __post_init__(self) -> None:
        self.mib = printer_mib(self.behaviour.huge_integers)
        self.order = sorted(self.mib)
        self.transport: asyncio.DatagramTransport | None = None
        self._endless = _tuple(self.behaviour.endless) if self.behaviour.endless else None
        self._loop = _tuple(self.behaviour.loop) if self.behaviour.loop else None
        self._loop_sent = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        request = parse_request(data)
        if request is None or self.transport is None:
            return
        name = {GET: "get", GETNEXT: "getnext", GETBULK: "getbulk"}.get(request.kind, "other")
        self.answered[name] += 1
        printer_mib = _tuple(PRINTER_MIB)
        if self.behaviour.malformed and any(o[:len(printer_mib)] == printer_mib
                                            or o < printer_mib < self._next(o)[0]
                                            for o in request.oids):
            self.transport.sendto(MALFORMED[self.answered[name] % len(MALFORMED)], addr)
            return
        if self.behaviour.mute_walks and request.kind != GET:
            return
        if request.kind == GET:
            binds = [(o, self.mib.get(o, NO_SUCH_OBJECT)) for o in request.oids]
        elif request.kind == GETNEXT:
            binds = [self._next(o) for o in request.oids]
        elif request.kind == GETBULK:
            binds = []
            for oid in request.oids:
                for _ in range(max(1, min(request.max_repetitions, 64))):
                    oid, value = self._next(oid)
                    binds.append((oid, value))
                    if value == END_OF_MIB_VIEW:
                        break
        else:
            return
        self.transport.sendto(response(request, binds), addr)

    def _next(self, oid: tuple[int, ...]) -> tuple[tuple[int, ...], Value]:
        """The object after `oid`, as this agent has it."""
        for root, step in ((self._endless, self._next_endless), (self._loop, self._next_loop)):
            if root is not None and (oid[:len(root)] == root or oid < root):
                found = self._static_next(oid)
                if oid[:len(root)] == root or found is None or found[0] > root:
                    return step(root, oid)
        return self._static_next(oid) or (oid, END_OF_MIB_VIEW)

    def _static_next(self, oid: tuple[int, ...]) -> tuple[tuple[int, ...], Value] | None:
        index = bisect.bisect_right(self.order, oid)
        if index == len(self.order):
            return None
        found = self.order[index]
        return found, self.mib[found]

    def _next_endless(self, root: tuple[int, ...], oid: tuple[int, ...],
                      ) -> tuple[tuple[int, ...], Value]:
        """root.8.N: the alert description column, N one more than asked for, forever."""
        row = oid[len(root) + 1] if len(oid) > len(root) + 1 else 0
        self.endless_rows += 1
        return (*root, 8, row + 1), octets(b"x" * self.behaviour.payload)

    def _next_loop(self, root: tuple[int, ...], oid: tuple[int, ...],
                   ) -> tuple[tuple[int, ...], Value]:
        """root.8.1 … root.8.K, then root.8.1 again."""
        row = oid[len(root) + 1] if len(oid) > len(root) + 1 else 0
        if row >= self.behaviour.loop_after:
            row = 0
        self._loop_sent += 1
        return (*root, 8, row + 1), octets(f"alert {row + 1}")


@contextlib.asynccontextmanager
async def hostile_agent(host: str, port: int = 0,
                        behaviour: Behaviour | None = None) -> AsyncIterator[HostileAgent]:
    """Serve a `HostileAgent` on `host` (loopback only) and `port` (0: any free one); the port
    bound is `agent.port`."""
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"hostile agents serve loopback addresses only, not {host}")
    loop = asyncio.get_running_loop()
    transport, agent = await loop.create_datagram_endpoint(
        lambda: HostileAgent(behaviour or Behaviour()), local_addr=(host, port))
    agent.port = transport.get_extra_info("sockname")[1]
    try:
        yield agent
    finally:
        transport.close()
