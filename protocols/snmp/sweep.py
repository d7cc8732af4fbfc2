"""SNMP sweep: find every SNMP agent, and which of them are printers, among many addresses.

A /16 is 65,536 addresses, nearly all silent, so the cost of a silent address decides everything:

- One UDP socket for the whole sweep (`protocols.snmp.probe_wire`).  Answers are matched to
  requests by request-id (SNMPv3: msgID) and source address; anything else that arrives
  (garbage, echoes, late or foreign answers) is dropped.
- Each probe is encoded once by pysnmp's message layer and pyasn1 (~0.3 ms), as a template whose
  4-byte request-id is patched per request (~1 µs; `protocols.snmp.probe_codec`).  Only answers
  are decoded: v1/v2c ones by printgw's BER codec, v3 ones with pyasn1.  No pysnmp engine work
  happens before an agent has answered.
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
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from protocols.snmp import oids
from protocols.snmp.client import SnmpClient
from protocols.snmp.model import (
    NO_SUCH_NAME,
    SnmpCredentials,
    SnmpError,
    SnmpTarget,
    SnmpValue,
)
from protocols.snmp.probe_codec import (
    Template,
    column_values,
    community_template,
    discovery_template,
)
from protocols.snmp.probe_wire import RateLimiter, Wire

log = logging.getLogger(__name__)

PROBE_COLUMNS = (oids.sysDescr, oids.sysObjectID, oids.hrDeviceType, oids.prtGeneralEntry,
                 oids.prtGeneralSerialNumber)
"""What the v1/v2c probe asks for with GETNEXT: each answer is the first instance below it.

prtGeneralEntry answers with the table's first cell whatever columns a printer implements
(RFC 1759 printers have no serial-number column): its presence is the Printer-MIB test.
"""
V3_SCALARS = (f"{oids.sysDescr}.0", f"{oids.sysObjectID}.0")
V3_SUBTREES = (oids.hrDeviceType, oids.prtGeneralEntry)
V3_WALK_SECONDS = 10.0
"""The walks that identify an SNMPv3 agent end by then, whatever the agent does."""
"""SnmpClient has GET and walks, no GETNEXT: v3 agents are identified with these instead."""

_REPORT_EVERY = 0.5  # seconds between progress reports at most (besides every 1 %)


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


ProbedCallback = Callable[[str, SweepHit | None], Awaitable[None]]
"""(address, hit or None), awaited as soon as the sweep is done with an address."""


def is_printer(values: dict[str, SnmpValue]) -> bool:
    """True when the values show a Printer-MIB (prtGeneral) or an hrDevicePrinter device."""
    for oid, value in values.items():
        if oid.startswith(oids.prtGeneralEntry + "."):
            return True
        if oid.startswith(oids.hrDeviceType + ".") and value == oids.hrDevicePrinter:
            return True
    return False


# -- the sweep -----------------------------------------------------------------------------------


class _Sweeper:
    def __init__(self, wire: Wire, credentials: Sequence[SnmpCredentials],
                 client: SnmpClient | None) -> None:
        self.wire = wire
        self.credentials = list(credentials)
        self.communities = [c for c in self.credentials if c.version != 3]
        self.v3_users = [c for c in self.credentials if c.version == 3]
        self.client = client
        self.owns_client = False
        self._templates: dict[tuple[SnmpCredentials, tuple[str, ...]], Template] = {}

    def close(self) -> None:
        if self.owns_client and self.client is not None:
            self.client.close()

    def _template(self, credentials: SnmpCredentials, columns: tuple[str, ...]) -> Template:
        key = (credentials, columns)
        template = self._templates.get(key)
        if template is None:
            template = self._templates[key] = community_template(credentials, columns)
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
        while (reply is not None and reply.error_status == NO_SUCH_NAME
               and 0 < reply.error_index <= len(columns) and len(columns) > 1):
            index = reply.error_index - 1
            columns = columns[:index] + columns[index + 1:]
            reply = await self.wire.ask(self._template(credentials, columns), address)
        values = {} if reply is None or reply.error_status else column_values(
            columns, reply.var_binds)
        return self._hit(address, credentials, values)

    async def _discover_engine(self, address: str) -> bytes | None:
        """The agent's engine ID (b"" if it sent none) when a v3 agent answers, else None."""
        reply = await self.wire.ask(discovery_template(), address)
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
            deadline = asyncio.get_running_loop().time() + V3_WALK_SECONDS
            values.update(await self.client.walk_many(target, V3_SUBTREES, deadline))
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
                client: SnmpClient | None = None,
                on_probed: ProbedCallback | None = None) -> list[SweepHit]:
    """Probe every IPv4 address with the credentials; the agents that answered, in input order.

    `window` bounds the addresses being probed at once, `rate` the packets sent per second;
    each request gets `retries` retransmissions `timeout` seconds apart.  `client` (else a
    private one, made only if a v3 agent answers) does the SNMPv3 identification.
    `on_probed(address, hit or None)` is awaited as each address is done with (it answered, or
    stayed silent through its retries), so that the caller can act on it before the sweep
    ends; the slot of the window waits for it, so a caller that falls behind slows the sweep
    down instead of letting results pile up.
    Raises ValueError for an address that is not IPv4 or for bad limits; an exception raised
    by `progress` or `on_probed` ends the sweep, inside an ExceptionGroup.
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
    wire = Wire(port, timeout, retries, RateLimiter(rate))
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
            if on_probed is not None:
                await on_probed(address, hit)

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(window, len(targets))):
                group.create_task(worker())
    finally:
        wire.close()
        sweeper.close()
    counter.report()
    return [hit for _, hit in sorted(found, key=lambda pair: pair[0])]
