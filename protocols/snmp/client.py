"""An asyncio SNMP client: GET of scalars, GETBULK walks of subtrees, SET.

v1/v2c reads to an address go through the fast path: one shared UDP socket per address family
(`protocols.snmp.udp_reader`), the message codec of `protocols.snmp.ber_codec`, and walks of
several subtrees in one GETBULK (`protocols.snmp.bulk_walk`, `walk_each`): ~30x less CPU than
pysnmp.  SNMPv3, SETs, host names, and every answer the codec cannot decode go through pysnmp 7.
One `SnmpClient` owns one pysnmp engine, shared by every target (a new engine per request costs
hundreds of milliseconds), made the first time it is needed: pysnmp's high-level API costs ~20 MB
of memory to import, so a gateway whose devices all answer v2c never loads it.  Values come back
as plain Python values (`int`, `bytes`, `str` for OIDs and IP addresses), keyed by numeric OID
strings; no MIB lookups happen on the hot path.

Every walk is bounded, on both paths: by a number of values (what the caller expects of the
table, or twice what the same agent's table had at its last complete walk, whichever is more,
never above `MAX_WALK_ROWS`) and by an optional deadline.  A walk that goes past either, or whose
agent answers an OID that does not increase, raises `WalkStopped` with what it read.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import socket
from collections.abc import Iterable, Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from pysnmp.proto import errind, rfc1902, rfc1905

from protocols.snmp.ber_codec import GET, Malformed, Marker, Unsure
from protocols.snmp.bulk_walk import BulkWalk, Subtree
from protocols.snmp.model import (
    AUTH_PROTOCOLS,
    NO_SUCH_NAME,
    PRIV_PROTOCOLS,
    TOO_BIG,
    SnmpCredentials,
    SnmpError,
    SnmpTarget,
    SnmpTimeout,
    SnmpValue,
    WalkStopped,
    error_status_name,
    oid_text,
    oid_tuple,
    walk_stopped,
)
from protocols.snmp.udp_reader import Answer, NoAnswer, UdpReader
from protocols.snmp.values import is_absent, to_python
from protocols.snmp.walk_memory import WalkMemory

if TYPE_CHECKING:
    from pysnmp.hlapi.v3arch.asyncio import (
        CommunityData,
        ContextData,
        SnmpEngine,
        UdpTransportTarget,
        UsmUserData,
    )


MAX_WALK_ROWS = 10_000
"""Values one walk may read, at most, whatever the table's expected size or history: a printer's
largest tables (supplies, alerts, devices) hold a few hundred."""
DEFAULT_WALK_ROWS = 2_000
"""Values a walk may read when its caller expects no particular size."""


def _hlapi() -> ModuleType:
    """pysnmp's high-level API, imported the first time it is needed."""
    return importlib.import_module("pysnmp.hlapi.v3arch.asyncio")


@functools.cache
def _connected_target() -> type[UdpTransportTarget]:
    """pysnmp's UDP target with a socket of its own, connected to its agent.

    pysnmp's own shares one socket, bound unconnected on 0.0.0.0, among all its targets: any host
    could send it datagrams, and on every interface.  Each agent here gets a transport domain of
    its own (`SnmpClient._transport`), hence a socket, connected to it: bound to the address the
    route to the agent leaves from, and taking datagrams from the agent only.
    """
    from pysnmp.carrier.asyncio.dgram import udp
    from pysnmp.carrier.error import CarrierError

    class ConnectedUdpTarget(_hlapi().UdpTransportTarget):  # type: ignore[misc]
        def open_client_mode(self) -> udp.UdpAsyncioTransport:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.setblocking(False)
                sock.connect(self.transport_address)
            except OSError as exc:
                sock.close()
                raise CarrierError(f"cannot reach {self.transport_address}: {exc}") from exc
            self.transport = udp.UdpAsyncioTransport().open_server_mode(sock=sock)
            return self.transport

    return ConnectedUdpTarget


class SnmpClient:
    """GET, GETBULK walks and SET against any number of agents.

    `fast=False` sends everything through pysnmp (for comparisons: `bench/fleet.py`, tests).
    """

    def __init__(self, max_repetitions: int = 25, fast: bool = True) -> None:
        self._engine: SnmpEngine | None = None
        self._transports: dict[tuple[str, int, float, int], UdpTransportTarget] = {}
        self._domains: dict[tuple[str, int], tuple[int, ...]] = {}
        """pysnmp's transport domain of each agent (address, port): one socket each."""
        self._fast = UdpReader() if fast else None
        self.max_repetitions = max_repetitions
        self.memory = WalkMemory()
        """Each agent's subtree sizes at their last complete walks (`walk_limit`, the rows
        asked for)."""

    @property
    def pysnmp_loaded(self) -> bool:
        """Whether anything needed pysnmp's engine yet (see the module's docstring)."""
        return self._engine is not None

    def _pysnmp_engine(self) -> SnmpEngine:
        if self._engine is None:
            self._engine = _hlapi().SnmpEngine()
        return self._engine

    def _fast_for(self, target: SnmpTarget) -> UdpReader | None:
        """The fast path for v1/v2c to an address (pysnmp resolves host names)."""
        fast = self._fast
        if fast is None or target.credentials.version == 3 or fast.address(target.host) is None:
            return None
        return fast

    def close(self) -> None:
        if self._fast is not None:
            self._fast.close()
        if self._engine is not None:
            self._engine.close_dispatcher()

    async def aclose(self) -> None:
        """Close from a running loop: stop the sockets first and let the answers already read
        be dispatched while their transports are still registered (pysnmp raises CarrierError
        from a loop callback for a datagram that arrives after its transport was unregistered,
        e.g. the answer to a poll cancelled by shutdown), then close the dispatcher."""
        for target in self._transports.values():
            carrier = getattr(target, "transport", None)
            if carrier is not None and carrier.transport is not None:
                carrier.transport.close()
        for _ in range(3):
            await asyncio.sleep(0)
        self.close()

    async def __aenter__(self) -> SnmpClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        self.close()

    async def _transport(self, target: SnmpTarget) -> UdpTransportTarget:
        key = (target.host, target.port, target.timeout, target.retries)
        transport = self._transports.get(key)
        if transport is None:
            try:
                transport = await _connected_target().create(
                    (target.host, target.port), timeout=target.timeout, retries=target.retries)
            except Exception as exc:  # name resolution and socket errors
                raise SnmpError(f"{target.host}:{target.port}: {exc}") from exc
            address = tuple(transport.transport_address)
            domain = self._domains.get(address)
            if domain is None:
                from pysnmp.carrier.asyncio.dgram import udp
                domain = self._domains[address] = (*udp.DOMAIN_NAME, len(self._domains) + 1)
            transport.TRANSPORT_DOMAIN = domain  # its own socket (see `_connected_target`)
            self._transports[key] = transport
        return transport

    @staticmethod
    def _auth(credentials: SnmpCredentials) -> CommunityData | UsmUserData:
        hlapi = _hlapi()
        if credentials.version == 3:
            return hlapi.UsmUserData(
                credentials.user or "",
                authKey=credentials.auth_key,
                privKey=credentials.priv_key,
                authProtocol=getattr(hlapi.auth, AUTH_PROTOCOLS[credentials.auth_protocol.upper()])
                if credentials.auth_key else hlapi.auth.USM_AUTH_NONE,
                privProtocol=getattr(hlapi.auth, PRIV_PROTOCOLS[credentials.priv_protocol.upper()])
                if credentials.priv_key else hlapi.auth.USM_PRIV_NONE,
            )
        return hlapi.CommunityData(credentials.community_string,
                                   mpModel=0 if credentials.version == 1 else 1)

    @staticmethod
    def _context(credentials: SnmpCredentials) -> ContextData:
        if credentials.version == 3 and credentials.context:
            return _hlapi().ContextData(contextName=credentials.context)
        return _hlapi().ContextData()

    async def _call(self, command: str, target: SnmpTarget, *args: int,
                    variables: Sequence[str | tuple[str, object]]) -> tuple[int, int, Any]:
        """One pysnmp command (`get_cmd`, `next_cmd`, `bulk_cmd`, `set_cmd`): its positional
        arguments, then the variables as OIDs or (OID, value) pairs."""
        hlapi = _hlapi()
        transport = await self._transport(target)
        var_binds = [hlapi.ObjectType(hlapi.ObjectIdentity(v[0]), v[1]) if isinstance(v, tuple)
                     else hlapi.ObjectType(hlapi.ObjectIdentity(v)) for v in variables]
        try:
            error_indication, error_status, error_index, var_binds = await getattr(
                hlapi, command)(self._pysnmp_engine(), self._auth(target.credentials), transport,
                                self._context(target.credentials), *args, *var_binds,
                                lookupMib=False)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # pysnmp raises PySnmpError and friends for malformed input
            raise SnmpError(f"{target.host}:{target.port}: {exc}") from exc
        if error_indication:
            if isinstance(error_indication, errind.RequestTimedOut):
                raise _no_response(target)
            raise SnmpError(f"{target.host}:{target.port}: {error_indication}")
        return int(error_status), int(error_index), var_binds

    async def get(self, target: SnmpTarget, oids: Sequence[str]) -> dict[str, SnmpValue]:
        """GET the given instance OIDs; absent objects are left out of the result.

        A v1 agent fails a whole GET for one missing OID (noSuchName): the OID is dropped and the
        request retried, so one absent object never loses the others.
        """
        wanted = list(oids)
        while wanted:
            status, index, values = await self._get_once(target, wanted)
            if status == 0:
                return values
            if status == NO_SUCH_NAME and 0 < index <= len(wanted):  # v1
                del wanted[index - 1]
                continue
            raise SnmpError(f"{target.host}:{target.port}: GET failed: "
                            f"{error_status_name(status)} at index {index}")
        return {}

    async def _get_once(self, target: SnmpTarget,
                        wanted: list[str]) -> tuple[int, int, dict[str, SnmpValue]]:
        """(error-status, error-index, values present) of one GET."""
        fast = self._fast_for(target)
        if fast is not None:
            try:
                answer: Answer = await fast.request(target, GET, 0, 0, wanted)
            except NoAnswer:
                raise _no_response(target) from None
            except Malformed as exc:
                raise SnmpError(f"{target.host}:{target.port}: {exc}") from None
            except Unsure:
                pass  # pysnmp decodes what the codec does not
            else:
                if answer.status:
                    return answer.status, answer.index, {}
                return 0, 0, {oid: value for oid, value in answer.varbinds  # type: ignore[misc]
                              if not isinstance(value, Marker)}
        status, index, var_binds = await self._call("get_cmd", target, variables=wanted)
        return status, index, {str(name): to_python(value) for name, value in var_binds
                               if not is_absent(value)}

    def walk_limit(self, target: SnmpTarget, root: str, expected: int | None = None) -> int:
        """The most values a walk of `root` may read: `expected` (else `DEFAULT_WALK_ROWS`), or
        twice the subtree's size at its last complete walk if more (a table may grow), at most
        `MAX_WALK_ROWS`."""
        return _walk_limit(expected, self.memory.rows(target, root.strip(".")))

    async def walk(self, target: SnmpTarget, root: str, expected: int | None = None,
                   deadline: float | None = None) -> dict[str, SnmpValue]:
        """Every object below `root`, in order; stops at the end of the subtree or of the MIB view.

        GETBULK for v2c/v3, GETNEXT for v1.  Bounded (see the module's docstring): raises
        `WalkStopped` when the agent answers an OID that does not increase (the values before it
        are kept), when the subtree has more values than `walk_limit(target, root, expected)`,
        or when the walk is not over by `deadline` (the event loop's clock); `SnmpTimeout` when
        the agent stops answering, `SnmpError` for an error status.
        """
        expectations = {root.strip("."): expected} if expected is not None else {}
        outcome = (await self.walk_each(target, [root], deadline, expectations))[root.strip(".")]
        if isinstance(outcome, SnmpError):
            raise outcome
        return outcome

    async def walk_each(self, target: SnmpTarget, roots: Iterable[str],
                        deadline: float | None = None,
                        expected: Mapping[str, int | None] | None = None,
                        ) -> dict[str, dict[str, SnmpValue] | SnmpError]:
        """Walk several subtrees of one agent together (several per GETBULK where the agent
        allows: `protocols.snmp.bulk_walk`); each root's values, or why its walk failed (as
        `walk` raises it), by root without a leading dot.  `expected` holds the values each
        root may be expected to have."""
        expected = expected or {}
        roots = [root.strip(".") for root in roots]
        subtrees = {root: Subtree(root, _walk_limit(expected.get(root), size), size)
                    for root, size in zip(roots, self.memory.sizes(target, roots), strict=True)}
        walking = list(subtrees.values())
        fast = self._fast_for(target)
        try:
            async with asyncio.timeout_at(deadline):
                if fast is not None:
                    await BulkWalk(fast, self.memory, target, self.max_repetitions).run(walking)
                slow = [s for s in walking if s.resume or not s.done]
                if slow:
                    await asyncio.gather(*(self._pysnmp_walk(target, s) for s in slow))
        except TimeoutError:
            for subtree in walking:
                if not subtree.done or subtree.resume:
                    subtree.fail(walk_stopped(target, subtree.root, "time", subtree.values))
        self.memory.remember(target, [(s.root, s.read) for s in walking if s.failure is None])
        return {root: subtree.failure or subtree.values for root, subtree in subtrees.items()}

    async def _pysnmp_walk(self, target: SnmpTarget, subtree: Subtree) -> None:
        """Walk `subtree` with pysnmp from where it is; its end or failure go into it."""
        try:
            await self._walk(target, subtree)
        except SnmpError as exc:
            subtree.fail(exc)
        else:
            subtree.done, subtree.resume = True, False

    async def _walk(self, target: SnmpTarget, subtree: Subtree) -> None:
        """The pysnmp walk, from `subtree.cursor` on."""
        root, root_tuple, result = subtree.root, subtree.root_tuple, subtree.values
        current = oid_tuple(subtree.cursor)
        repetitions = self.max_repetitions
        prefix_len = len(root_tuple)
        while True:
            oid = oid_text(current)
            if target.credentials.version == 1:
                status, _, var_binds = await self._call("next_cmd", target, variables=[oid])
                if status == NO_SUCH_NAME:  # the end of the MIB view in v1
                    return
            else:
                status, _, var_binds = await self._call("bulk_cmd", target, 0, repetitions,
                                                        variables=[oid])
                if status == TOO_BIG and repetitions > 1:  # ask for fewer rows
                    repetitions = max(1, repetitions // 2)
                    continue
            if status != 0:
                raise SnmpError(f"{target.host}:{target.port}: walk of {root} failed: "
                                f"{error_status_name(status)}")
            if not var_binds:
                return
            for name, value in var_binds:
                name_tuple = name.asTuple()
                if (isinstance(value, rfc1905.EndOfMibView)
                        or name_tuple[:prefix_len] != root_tuple):
                    return
                if name_tuple <= current:
                    raise walk_stopped(target, root, "loop", result,
                                       went_back=(oid_text(name_tuple), oid_text(current)))
                current = name_tuple
                if subtree.read >= subtree.max_rows:
                    raise walk_stopped(target, root, "rows", result)
                subtree.read += 1
                if not is_absent(value):
                    result[oid_text(name_tuple)] = to_python(value)

    async def walk_many(self, target: SnmpTarget, roots: Iterable[str],
                        deadline: float | None = None) -> dict[str, SnmpValue]:
        """Walk several subtrees together and merge the results; a walk that looped gives the
        values it read, any other failure raises."""
        merged: dict[str, SnmpValue] = {}
        for part in (await self.walk_each(target, roots, deadline)).values():
            if isinstance(part, WalkStopped) and part.usable:
                merged.update(part.values)
            elif isinstance(part, SnmpError):
                raise part
            else:
                merged.update(part)
        return merged

    async def set(
        self, target: SnmpTarget, values: Sequence[tuple[str, int | str | bytes]]
    ) -> None:
        """SET instance OIDs: `int` → Integer32, `str`/`bytes` → OCTET STRING."""
        var_binds: list[tuple[str, object]] = []
        for oid, value in values:
            if isinstance(value, bool) or not isinstance(value, (int, str, bytes)):
                raise SnmpError(f"cannot SET {oid} to a {type(value).__name__}")
            encoded = (rfc1902.Integer32(value) if isinstance(value, int)
                       else rfc1902.OctetString(value))
            var_binds.append((oid, encoded))
        status, index, _ = await self._call("set_cmd", target, variables=var_binds)
        if status != 0:
            name = values[index - 1][0] if 0 < index <= len(values) else "?"
            raise SnmpError(f"{target.host}:{target.port}: SET of {name} refused: "
                            f"{error_status_name(status)}")


def _walk_limit(expected: int | None, last: int | None) -> int:
    return min(MAX_WALK_ROWS, max(expected or DEFAULT_WALK_ROWS, 2 * (last or 0)))


def _no_response(target: SnmpTarget) -> SnmpTimeout:
    return SnmpTimeout(f"{target.host}:{target.port}: no SNMP response within {target.timeout:g} s")
