"""SNMP sweep: find every SNMP agent, and which of them are printers, among many addresses.

A /16 is 65,536 addresses, nearly all silent, so the cost of a silent address decides everything:

- One UDP socket for the whole sweep.  Answers are matched to requests by request-id (SNMPv3:
  msgID) and source address; anything else that arrives (garbage, echoes, late or foreign
  answers) is dropped.
- Each probe is encoded once by pysnmp's message layer and pyasn1 (~0.3 ms), as a template whose
  4-byte request-id is patched per request (~1 µs).  Only answers are decoded with pyasn1.  No
  pysnmp engine work happens before an agent has answered.
- `window` addresses are outstanding at most and packets leave at `rate` per second at most, so
  the wall time is about addresses * attempts * timeout / window, or packets / rate if larger.

v1/v2c: one GETNEXT per community, in the order given, asks for sysDescr, sysObjectID, the first
hrDeviceType row and the first prtGeneral cells; GETNEXT on a column works whatever the row index
is, and an answer that has left the column means "absent".  v3: an unauthenticated engine-ID
discovery (RFC 3414 §4) finds the agents; only those then get the identification through
`SnmpClient` (pysnmp USM) with each configured user until one authenticates.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import socket
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api
from pysnmp.proto.mpmod.rfc3412 import ScopedPDU, SNMPv3Message

from protocols.snmp import oids
from protocols.snmp.client import (
    SnmpClient,
    SnmpCredentials,
    SnmpError,
    SnmpTarget,
    SnmpValue,
    is_absent,
    to_python,
)

log = logging.getLogger(__name__)

PROBE_COLUMNS = (oids.sysDescr, oids.sysObjectID, oids.hrDeviceType, oids.prtGeneralEntry,
                 oids.prtGeneralSerialNumber)
"""What the v1/v2c probe asks for with GETNEXT: each answer is the first instance below it.

prtGeneralEntry answers with the table's first cell whatever columns a printer implements
(RFC 1759 printers have no serial-number column): its presence is the Printer-MIB test.
"""
V3_SCALARS = (f"{oids.sysDescr}.0", f"{oids.sysObjectID}.0")
V3_SUBTREES = (oids.hrDeviceType, oids.prtGeneralEntry)
"""SnmpClient has GET and walks, no GETNEXT: v3 agents are identified with these instead."""

_RID_MIN, _RID_MAX = 0x0100_0000, 0x7FFF_FFFF  # request-ids that BER-encode in exactly 4 bytes
_RID_SENTINEL = 0x5EE9_5EE9
_MAX_UDP_PAYLOAD = 65507
_NO_SUCH_NAME = 2
_REPORT_EVERY = 0.5  # seconds between progress reports at most (besides every 1 %)
_RCVBUF = 4 << 20  # answers to hundreds of outstanding probes must not be dropped


@dataclass(frozen=True)
class SweepHit:
    address: str
    port: int
    credentials: SnmpCredentials
    """The credentials that got an answer (v3: the user that authenticated)."""
    values: dict[str, SnmpValue]
    """What the probe read: numeric instance OID → value."""
    sys_object_id: str | None
    is_printer: bool
    """Printer-MIB present (prtGeneral) or an hrDeviceType row is hrDevicePrinter."""
    engine_id: bytes | None = None
    """The SNMPv3 authoritative engine ID, when the agent answered the v3 discovery."""


@dataclass
class SweepProgress:
    total: int
    probed: int = 0
    """Addresses finished: answered or given up."""
    answered: int = 0
    printers: int = 0


def is_printer(values: dict[str, SnmpValue]) -> bool:
    """True when the values show a Printer-MIB (prtGeneral) or an hrDevicePrinter device."""
    for oid, value in values.items():
        if oid.startswith(oids.prtGeneralEntry + "."):
            return True
        if oid.startswith(oids.hrDeviceType + ".") and value == oids.hrDevicePrinter:
            return True
    return False


# -- packets -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Template:
    """An encoded request whose 4-byte request-id fields are patched per request."""

    version: int
    """SNMP message version (0 = v1, 1 = v2c, 3): an answer must come in the same one."""
    data: bytes
    offsets: tuple[int, ...]

    @classmethod
    def of(cls, version: int, encoded: bytes, slots: int) -> _Template:
        needle = b"\x02\x04" + _RID_SENTINEL.to_bytes(4, "big")
        offsets, start = [], 0
        while (found := encoded.find(needle, start)) >= 0:
            offsets.append(found + 2)
            start = found + len(needle)
        if len(offsets) != slots:
            raise AssertionError(f"request-id found {len(offsets)} times, expected {slots}")
        return cls(version, encoded, tuple(offsets))

    def render(self, request_id: int) -> bytes:
        packet = bytearray(self.data)
        rid = request_id.to_bytes(4, "big")
        for offset in self.offsets:
            packet[offset:offset + 4] = rid
        return bytes(packet)


def _community_template(credentials: SnmpCredentials, columns: tuple[str, ...]) -> _Template:
    """A v1/v2c GETNEXT of `columns`, in the community the credentials name."""
    version = api.SNMP_VERSION_1 if credentials.version == 1 else api.SNMP_VERSION_2C
    proto = api.PROTOCOL_MODULES[version]
    pdu = proto.GetNextRequestPDU()
    proto.apiPDU.set_defaults(pdu)
    proto.apiPDU.set_request_id(pdu, _RID_SENTINEL)
    proto.apiPDU.set_varbinds(pdu, [(column, proto.Null("")) for column in columns])
    message = proto.Message()
    proto.apiMessage.set_defaults(message)
    community = credentials.community
    if credentials.context:  # the way SnmpClient sends a context with v1/v2c
        community = f"{community}@{credentials.context}"
    proto.apiMessage.set_community(message, community.encode())
    proto.apiMessage.set_pdu(message, pdu)
    return _Template.of(version, encoder.encode(message), slots=1)


def _usm_parameters() -> Any:
    """A fresh UsmSecurityParameters."""
    # imported here: pysnmp's USM module loads cryptography (~10 MB), needed only for v3 probes
    from pysnmp.proto.secmod.rfc3414.service import UsmSecurityParameters

    return UsmSecurityParameters()


@cache
def _discovery_template() -> _Template:
    """RFC 3414 §4 engine-ID discovery: an empty GET, noAuthNoPriv, reportable, no engine ID.

    Any v3 agent answers it with a Report (usmStatsUnknownEngineIDs) carrying its engine ID.
    msgID and request-id are both patched with the same value.
    """
    proto = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
    pdu = proto.GetRequestPDU()
    proto.apiPDU.set_defaults(pdu)
    proto.apiPDU.set_request_id(pdu, _RID_SENTINEL)
    security = _usm_parameters()
    for name, value in (("msgAuthoritativeEngineId", b""), ("msgAuthoritativeEngineBoots", 0),
                        ("msgAuthoritativeEngineTime", 0), ("msgUserName", b""),
                        ("msgAuthenticationParameters", b""), ("msgPrivacyParameters", b"")):
        security[name] = value
    scoped = ScopedPDU()
    scoped["contextEngineId"] = b""
    scoped["contextName"] = b""
    scoped["data"]["get-request"] = pdu
    message = SNMPv3Message()
    message["msgVersion"] = 3
    header = message["msgGlobalData"]
    header["msgID"] = _RID_SENTINEL
    header["msgMaxSize"] = _MAX_UDP_PAYLOAD
    header["msgFlags"] = b"\x04"  # reportable, noAuthNoPriv
    header["msgSecurityModel"] = 3  # USM
    message["msgSecurityParameters"] = encoder.encode(security)
    message["msgData"]["plaintext"] = scoped
    return _Template.of(3, encoder.encode(message), slots=2)


@dataclass
class _Reply:
    version: int
    error_status: int = 0
    error_index: int = 0
    var_binds: list = field(default_factory=list)
    engine_id: bytes | None = None


def _decode(data: bytes) -> tuple[int, _Reply] | None:
    """(request-id, reply) of a v1/v2c Response or a plaintext v3 Report/Response, else None.

    pyasn1 raises assorted exceptions on malformed input: callers treat any as garbage.
    """
    version = int(api.decodeMessageVersion(data))
    if version == 3:
        message, _ = decoder.decode(data, asn1Spec=SNMPv3Message())
        pdus = message["msgData"]["plaintext"]["data"]
        if pdus.getName() not in ("report", "response"):
            return None
        security, _ = decoder.decode(message["msgSecurityParameters"].asOctets(),
                                     asn1Spec=_usm_parameters())
        engine_id = security["msgAuthoritativeEngineId"].asOctets()
        return int(message["msgGlobalData"]["msgID"]), _Reply(3, engine_id=engine_id)
    proto = api.PROTOCOL_MODULES.get(version)
    if proto is None:
        return None
    message, _ = decoder.decode(data, asn1Spec=proto.Message())
    pdu = proto.apiMessage.get_pdu(message)
    if pdu.tagSet != proto.GetResponsePDU.tagSet:  # e.g. our own request echoed back
        return None
    return int(proto.apiPDU.get_request_id(pdu)), _Reply(
        version, int(proto.apiPDU.get_error_status(pdu)), int(proto.apiPDU.get_error_index(pdu)),
        proto.apiPDU.get_varbinds(pdu))


def _column_values(columns: Sequence[str], var_binds: list) -> dict[str, SnmpValue]:
    """GETNEXT answers that stayed inside the column asked for, by numeric OID."""
    values: dict[str, SnmpValue] = {}
    for column, (name, value) in zip(columns, var_binds, strict=False):
        oid = ".".join(map(str, name.asTuple()))
        if oid.startswith(column + ".") and not is_absent(value):
            values[oid] = to_python(value)
    return values


# -- the wire ------------------------------------------------------------------------------------


class _RateLimiter:
    """Token bucket: `rate` packets per second, in bursts of at most two ticks' worth.

    Waiters queue in order and are released in batches by one timer every `_TICK` at least:
    a sleep per packet would cost a loop iteration and a timer each (2.5x the CPU at 1,000/s).
    The bucket holds two ticks' worth so that a timer firing late loses no tokens.
    """

    _TICK = 0.01

    def __init__(self, rate: float) -> None:
        self._rate = rate
        self._burst = max(1.0, 2 * rate * self._TICK)
        self._tokens = self._burst
        self._stamp = 0.0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    async def acquire(self) -> None:
        self._refill()
        if not self._waiters and self._tokens >= 1:
            self._tokens -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._schedule()
        await waiter

    def _refill(self) -> None:
        now = asyncio.get_running_loop().time()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now

    def _schedule(self) -> None:
        if self._timer is None:
            delay = max(self._TICK, (1 - self._tokens) / self._rate)
            self._timer = asyncio.get_running_loop().call_later(delay, self._release)

    def _release(self) -> None:
        self._timer = None
        self._refill()
        while self._waiters and self._tokens >= 1:
            waiter = self._waiters.popleft()
            if not waiter.done():  # a cancelled waiter takes no token
                self._tokens -= 1
                waiter.set_result(None)
        if self._waiters:
            self._schedule()


def _expire(waiter: asyncio.Future[_Reply | None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class _Wire(asyncio.DatagramProtocol):
    """One UDP socket: sends probes at a bounded rate and hands answers to their waiters."""

    def __init__(self, port: int, timeout: float, retries: int, limiter: _RateLimiter) -> None:
        self.port = port
        self.timeout = timeout
        self.retries = retries
        self._limiter = limiter
        self._transport: asyncio.DatagramTransport | None = None
        self._pending: dict[int, tuple[str, int, asyncio.Future[_Reply | None]]] = {}
        """request-id → (address, SNMP version, waiter) of the requests awaiting an answer."""
        self._next_rid = _RID_MIN + random.randrange(1 << 24)

    async def open(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
            sock.bind(("0.0.0.0", 0))
            sock.setblocking(False)
            await asyncio.get_running_loop().create_datagram_endpoint(lambda: self, sock=sock)
        except BaseException:
            sock.close()
            raise

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            decoded = _decode(data)
        except Exception as exc:  # garbage from the network must never end the sweep
            log.debug("undecodable datagram from %s: %s", addr[0], exc)
            return
        if decoded is None:
            return
        request_id, reply = decoded
        entry = self._pending.get(request_id)
        if entry is None:
            return
        address, version, waiter = entry
        if address == addr[0] and version == reply.version and not waiter.done():
            waiter.set_result(reply)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors (unreachable, refused), EACCES for broadcast addresses: that target fails
        log.debug("UDP error during sweep: %s", exc)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _request_id(self) -> int:
        rid = self._next_rid
        self._next_rid = rid + 1 if rid < _RID_MAX else _RID_MIN
        return rid

    async def ask(self, template: _Template, address: str) -> _Reply | None:
        """Send one request (the same request-id on every retry), return the answer or None.

        An answer to an earlier attempt is accepted until the last attempt times out: a slow
        (sleeping) printer may answer the first packet only after the retry went out.
        """
        assert self._transport is not None
        loop = asyncio.get_running_loop()
        rid = self._request_id()
        packet = template.render(rid)
        try:
            for _ in range(self.retries + 1):
                waiter: asyncio.Future[_Reply | None] = loop.create_future()
                self._pending[rid] = (address, template.version, waiter)
                await self._limiter.acquire()  # an answer may arrive meanwhile
                if not waiter.done():
                    self._transport.sendto(packet, (address, self.port))
                    timer = loop.call_later(self.timeout, _expire, waiter)
                    await waiter
                    timer.cancel()
                reply = waiter.result()
                if reply is not None:
                    return reply
            return None
        finally:
            del self._pending[rid]


# -- the sweep -----------------------------------------------------------------------------------


class _Sweeper:
    def __init__(self, wire: _Wire, credentials: Sequence[SnmpCredentials],
                 client: SnmpClient | None) -> None:
        self.wire = wire
        self.credentials = list(credentials)
        self.communities = [c for c in self.credentials if c.version != 3]
        self.v3_users = [c for c in self.credentials if c.version == 3]
        self.client = client
        self.owns_client = False
        self._templates: dict[tuple[SnmpCredentials, tuple[str, ...]], _Template] = {}

    def close(self) -> None:
        if self.owns_client and self.client is not None:
            self.client.close()

    def _template(self, credentials: SnmpCredentials, columns: tuple[str, ...]) -> _Template:
        key = (credentials, columns)
        template = self._templates.get(key)
        if template is None:
            template = self._templates[key] = _community_template(credentials, columns)
        return template

    async def probe(self, address: str) -> SweepHit | None:
        """The hit for the first credentials, in the order given, that get an answer."""
        if self.communities and self.v3_users:
            community_hit, engine_id = await asyncio.gather(
                self._try_communities(address), self._discover_engine(address))
        elif self.communities:
            community_hit, engine_id = await self._try_communities(address), None
        else:
            community_hit, engine_id = None, await self._discover_engine(address)
        for credentials in self.credentials:
            if credentials.version != 3:
                if community_hit is not None and community_hit.credentials == credentials:
                    return replace(community_hit, engine_id=engine_id or None)
            elif engine_id is not None:
                hit = await self._identify_v3(address, credentials, engine_id)
                if hit is not None:
                    return hit
        if engine_id is not None and community_hit is None:
            log.info("SNMPv3 agent at %s: none of the configured users authenticated", address)
        return None

    async def _try_communities(self, address: str) -> SweepHit | None:
        for credentials in self.communities:
            hit = await self._ask_community(address, credentials)
            if hit is not None:
                return hit
        return None

    async def _ask_community(self, address: str, credentials: SnmpCredentials
                             ) -> SweepHit | None:
        """GETNEXT of the probe columns; any answer, even an error, proves an agent is there.

        A v1 agent fails the whole GETNEXT with noSuchName when one column runs past the end
        of its MIB: that column is dropped and the rest asked again.
        """
        columns = PROBE_COLUMNS
        reply = await self.wire.ask(self._template(credentials, columns), address)
        if reply is None:
            return None
        while (reply is not None and reply.error_status == _NO_SUCH_NAME
               and 0 < reply.error_index <= len(columns) and len(columns) > 1):
            index = reply.error_index - 1
            columns = columns[:index] + columns[index + 1:]
            reply = await self.wire.ask(self._template(credentials, columns), address)
        values = {} if reply is None or reply.error_status else _column_values(
            columns, reply.var_binds)
        return self._hit(address, credentials, values)

    async def _discover_engine(self, address: str) -> bytes | None:
        """The agent's engine ID (b"" if it sent none) when a v3 agent answers, else None."""
        reply = await self.wire.ask(_discovery_template(), address)
        return None if reply is None else reply.engine_id or b""

    async def _identify_v3(self, address: str, credentials: SnmpCredentials, engine_id: bytes
                           ) -> SweepHit | None:
        if self.client is None:
            self.client, self.owns_client = SnmpClient(), True
        wire = self.wire
        target = SnmpTarget(address, wire.port, credentials, wire.timeout, wire.retries)
        try:
            values = await self.client.get(target, V3_SCALARS)  # fails unless authenticated
        except SnmpError as exc:
            log.debug("SNMPv3 user %s at %s: %s", credentials.user, address, exc)
            return None
        try:
            values.update(await self.client.walk_many(target, V3_SUBTREES))
        except SnmpError as exc:  # authenticated: a hit, with what could be read
            log.debug("SNMPv3 identification of %s incomplete: %s", address, exc)
        return replace(self._hit(address, credentials, values), engine_id=engine_id or None)

    def _hit(self, address: str, credentials: SnmpCredentials, values: dict[str, SnmpValue]
             ) -> SweepHit:
        sys_object_id = values.get(f"{oids.sysObjectID}.0")
        return SweepHit(address, self.wire.port, credentials, values,
                        sys_object_id if isinstance(sys_object_id, str) else None,
                        is_printer(values))


class _Progress:
    """Counts finished addresses; reports at least every 1 % and every 0.5 s, and at the end."""

    def __init__(self, total: int, callback: Callable[[SweepProgress], None] | None) -> None:
        self.state = SweepProgress(total)
        self._callback = callback
        self._step = max(1, total // 100)
        self._next_count = 0
        self._next_time = 0.0
        self._reported: SweepProgress | None = None

    def finished(self, hit: SweepHit | None) -> None:
        state = self.state
        state.probed += 1
        if hit is not None:
            state.answered += 1
            state.printers += hit.is_printer
        if self._callback is not None and (
                state.probed >= self._next_count
                or asyncio.get_running_loop().time() >= self._next_time):
            self.report()

    def report(self) -> None:
        if self._callback is not None and self.state != self._reported:
            self._next_count = self.state.probed + self._step
            self._next_time = asyncio.get_running_loop().time() + _REPORT_EVERY
            self._reported = replace(self.state)
            self._callback(replace(self.state))


def _ipv4(address: str) -> str:
    try:
        return str(ipaddress.IPv4Address(address))
    except ValueError:
        raise ValueError(f"cannot sweep {address!r}: not an IPv4 address") from None


async def sweep(addresses: Iterable[str], credentials: Sequence[SnmpCredentials], *,
                port: int = 161, timeout: float = 1.0,  # noqa: ASYNC109 (per request)
                retries: int = 1, rate: float = 1000.0,
                window: int = 512, progress: Callable[[SweepProgress], None] | None = None,
                client: SnmpClient | None = None) -> list[SweepHit]:
    """Probe every IPv4 address with the credentials; the agents that answered, in input order.

    `window` bounds the addresses being probed at once, `rate` the packets sent per second;
    each request gets `retries` retransmissions `timeout` seconds apart.  `client` (else a
    private one, made only if a v3 agent answers) does the SNMPv3 identification.
    Raises ValueError for an address that is not IPv4 or for bad limits; an exception raised
    by `progress` ends the sweep, inside an ExceptionGroup.
    """
    targets = [_ipv4(address) for address in addresses]
    if not credentials:
        raise ValueError("sweep needs at least one set of SNMP credentials")
    if timeout <= 0 or retries < 0 or rate <= 0 or window < 1:
        raise ValueError("sweep needs timeout > 0, retries >= 0, rate > 0 and window >= 1")
    counter = _Progress(len(targets), progress)
    counter.report()
    if not targets:
        return []
    wire = _Wire(port, timeout, retries, _RateLimiter(rate))
    await wire.open()
    sweeper = _Sweeper(wire, credentials, client)
    found: list[tuple[int, SweepHit]] = []
    queue = iter(enumerate(targets))

    async def worker() -> None:
        for index, address in queue:
            hit = await sweeper.probe(address)
            if hit is not None:
                found.append((index, hit))
            counter.finished(hit)

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(window, len(targets))):
                group.create_task(worker())
    finally:
        wire.close()
        sweeper.close()
    counter.report()
    return [hit for _, hit in sorted(found, key=lambda pair: pair[0])]
