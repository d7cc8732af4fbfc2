"""The fleet's SNMP command responder: one asyncio UDP endpoint per printer address.

v1/v2c messages are decoded and answered by `simulator.ber` against the printer's `MibStore`
(no pysnmp engine per printer: it would not scale to a thousand printers).  SNMPv3 messages are
handed to `simulator.snmp_v3` (pysnmp's USM), which calls back into `process_pdu` with the
decoded request, so both paths share the same semantics.

Error behaviour follows RFC 3416 / RFC 2576: unknown community and malformed messages are
dropped silently (as real agents do, counted in `stats`); SETs get noAccess, notWritable,
noCreation, wrongType, wrongLength, wrongValue (v1: noSuchName / badValue).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from protocols.snmp import oids
from simulator import ber
from simulator.ber import (
    AUTHORIZATION_ERROR,
    BAD_VALUE,
    INCONSISTENT_VALUE,
    NO_ACCESS,
    NO_CREATION,
    NO_ERROR,
    NO_SUCH_NAME,
    NOT_WRITABLE,
    TOO_BIG,
    WRONG_LENGTH,
    WRONG_TYPE,
    WRONG_VALUE,
)
from simulator.mib_view import CONTRACT_BASE, MibStore, contract_oid
from simulator.printer import VirtualPrinter
from simulator.snmp_v3 import V3Responder

log = logging.getLogger(__name__)

V1_ERRORS = {NO_ACCESS: NO_SUCH_NAME, NOT_WRITABLE: NO_SUCH_NAME, NO_CREATION: NO_SUCH_NAME,
             WRONG_TYPE: BAD_VALUE, WRONG_LENGTH: BAD_VALUE, WRONG_VALUE: BAD_VALUE,
             INCONSISTENT_VALUE: BAD_VALUE, AUTHORIZATION_ERROR: NO_SUCH_NAME}

_NO_SUCH_OBJECT = ber.tlv(ber.NO_SUCH_OBJECT, b"")
_NO_SUCH_INSTANCE = ber.tlv(ber.NO_SUCH_INSTANCE, b"")
_END_OF_MIB = ber.tlv(ber.END_OF_MIB_VIEW, b"")
MAX_VARBINDS = 2000


@dataclass
class AgentStats:
    requests: int = 0
    responses: int = 0
    dropped_bad_community: int = 0
    dropped_malformed: int = 0
    dropped_unreachable: int = 0
    v3_requests: int = 0


@dataclass
class AgentConfig:
    read_community: bytes = b"public"
    write_community: bytes = b"private"
    max_message_size: int = 65000
    sleep_delay: float = 0.8
    """Seconds a sleeping printer takes to answer."""
    contract_root: ber.Oid = CONTRACT_BASE


# -- SET ----------------------------------------------------------------------------------------

SetCheck = Callable[[int, bytes], int]
"""(value tag, value contents) → error status (0 = acceptable)."""


def _int_in(lo: int, hi: int) -> SetCheck:
    def check(tag: int, body: bytes) -> int:
        if tag != ber.INTEGER:
            return WRONG_TYPE
        try:
            value = ber.dec_int(body, 0, len(body))
        except ber.BerError:
            return WRONG_TYPE
        return NO_ERROR if lo <= value <= hi else WRONG_VALUE
    return check


def _text(max_len: int) -> SetCheck:
    def check(tag: int, body: bytes) -> int:
        if tag != ber.OCTET_STRING:
            return WRONG_TYPE
        if len(body) > max_len:
            return WRONG_LENGTH
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return WRONG_VALUE
        return NO_ERROR
    return check


def writable_objects(printer: VirtualPrinter, root: ber.Oid
                     ) -> dict[ber.Oid, tuple[SetCheck, Callable[[bytes], None]]]:
    """Writable instances of one printer: OID → (check, apply)."""
    state = printer.state

    def r(name: str) -> ber.Oid:
        return (*contract_oid(root, name), 0)

    def as_int(body: bytes) -> int:
        return ber.dec_int(body, 0, len(body))

    def set_attr(name: str) -> Callable[[bytes], None]:
        def apply(body: bytes) -> None:
            setattr(state, name, body.decode("utf-8"))
            state.touch()
        return apply

    def set_prohibited(body: bytes) -> None:
        state.contract_printing_prohibited = as_int(body) == 1
        state.touch()

    w: dict[ber.Oid, tuple[SetCheck, Callable[[bytes], None]]] = {
        (*ber.parse_oid(oids.sysContact), 0): (_text(255), set_attr("sys_contact")),
        (*ber.parse_oid(oids.sysName), 0): (_text(255), set_attr("sys_name")),
        (*ber.parse_oid(oids.sysLocation), 0): (_text(255), set_attr("sys_location")),
    }
    if state.has_contract_mib:
        w[r("pgwContractMode")] = (_int_in(1, 3),
                                   lambda body: state.set_contract_mode(as_int(body)))
        w[r("pgwContractPrintingProhibited")] = (_int_in(1, 2), set_prohibited)
        w[r("pgwPanelMessage")] = (_text(255), set_attr("panel_message"))
    return w


class SnmpAgent:
    """Answers SNMP for every printer of a fleet; `endpoint()` makes one printer's UDP protocol."""

    def __init__(self, config: AgentConfig | None = None) -> None:
        self.config = config or AgentConfig()
        self.stats = AgentStats()
        self.v3: V3Responder | None = None
        """Set (by the fleet) when v3 users are configured."""

    def endpoint(self, printer: VirtualPrinter) -> SnmpEndpoint:
        return SnmpEndpoint(self, printer)

    # -- request handling ----------------------------------------------------------------------

    def handle(self, printer: VirtualPrinter, data: bytes, addr: tuple,
               transport: asyncio.DatagramTransport) -> None:
        stats = self.stats
        stats.requests += 1
        if printer.state.unreachable:
            stats.dropped_unreachable += 1
            return
        try:
            version = ber.peek_version(data)
            if version == 3:
                stats.v3_requests += 1
                if self.v3 is None or not printer.v3_enabled:
                    stats.dropped_malformed += 1
                    return
                response = self.v3.handle(printer, data, addr)
            elif version in (0, 1):
                response = self.handle_community(printer, data)
            else:
                stats.dropped_malformed += 1
                return
        except ber.BerError:
            stats.dropped_malformed += 1
            return
        except Exception:  # never let one bad datagram take the endpoint down
            log.exception("SNMP request from %s to %s failed", addr, printer.ip)
            stats.dropped_malformed += 1
            return
        if response is None:
            return
        stats.responses += 1
        if printer.state.asleep:
            asyncio.get_running_loop().call_later(
                self.config.sleep_delay, _send_if_open, transport, response, addr)
        else:
            transport.sendto(response, addr)

    def handle_community(self, printer: VirtualPrinter, data: bytes) -> bytes | None:
        msg = ber.decode_message(data)
        cfg = self.config
        write = msg.community == cfg.write_community
        context = ""
        if not write and msg.community != cfg.read_community:
            community, _, named = msg.community.partition(b"@")
            context = named.decode("utf-8", "replace")
            if community != cfg.read_community or printer.context_view(context) is None:
                self.stats.dropped_bad_community += 1
                return None
        if msg.pdu_type == ber.GETBULK and msg.version == 0:
            raise ber.BerError("GETBULK in an SNMPv1 message")
        if msg.pdu_type == ber.SET and (not write or printer.v3_enabled):
            status, index, vbs = NO_ACCESS, 1, ber.echo(msg.varbinds)
        else:
            result = self.process_pdu(printer, msg.pdu_type, msg.varbinds, msg.error_status,
                                      msg.error_index, v1=msg.version == 0,
                                      context=context)
            if result is None:
                return None
            status, index, vbs = result
        if msg.version == 0 and status:
            status = V1_ERRORS.get(status, status)
            vbs = ber.echo(msg.varbinds)
        out = ber.encode_response(msg.version, msg.community, msg.request_id, status, index, vbs)
        if len(out) > cfg.max_message_size:
            out = ber.encode_response(msg.version, msg.community, msg.request_id, TOO_BIG, 0, ())
        return out

    def process_pdu(self, printer: VirtualPrinter, pdu_type: int,
                    varbinds: list[tuple[ber.Oid, int, bytes]], non_repeaters: int,
                    max_repetitions: int, v1: bool = False, context: str = "",
                    ) -> tuple[int, int, list[bytes]] | None:
        """Answer one PDU: (error status, error index, varbind TLVs), None to drop it.
        `context`: a named context of a replayed recording (read only)."""
        store = printer.context_view(context) if context else printer.view()
        if store is None:
            return None
        out: list[bytes] = []
        if pdu_type == ber.GET:
            for i, (oid, _t, _b) in enumerate(varbinds, 1):
                vb = store.get(oid)
                if vb is None:
                    if v1:
                        return NO_SUCH_NAME, i, []
                    vb = ber.varbind(ber.enc_oid(oid), _NO_SUCH_INSTANCE if store.has_object(oid)
                                     else _NO_SUCH_OBJECT)
                out.append(vb)
            return NO_ERROR, 0, out
        if pdu_type == ber.GETNEXT:
            n = len(store.keys)
            for i, (oid, _t, _b) in enumerate(varbinds, 1):
                j = store.next_index(oid)
                if j >= n:
                    if v1:
                        return NO_SUCH_NAME, i, []
                    out.append(ber.varbind(ber.enc_oid(oid), _END_OF_MIB))
                else:
                    out.append(store.vb_at(j))
            return NO_ERROR, 0, out
        if pdu_type == ber.GETBULK:
            return NO_ERROR, 0, self._bulk(store, varbinds, non_repeaters, max_repetitions)
        if pdu_type == ber.SET:
            return self._set(printer, store, varbinds)
        return None  # Response, Trap, Report, Inform: not for a command responder

    def _bulk(self, store: MibStore, varbinds: list[tuple[ber.Oid, int, bytes]],
              non_repeaters: int, max_repetitions: int) -> list[bytes]:
        n_keys = len(store.keys)
        n = min(max(0, non_repeaters), len(varbinds))
        m = max(0, max_repetitions)
        budget = self.config.max_message_size - 100
        out: list[bytes] = []
        size = 0
        for oid, _t, _b in varbinds[:n]:
            j = store.next_index(oid)
            vb = store.vb_at(j) if j < n_keys else ber.varbind(ber.enc_oid(oid), _END_OF_MIB)
            out.append(vb)
            size += len(vb)
        repeaters = varbinds[n:]
        if not repeaters or m == 0:
            return out
        pos = [store.next_index(oid) for oid, _t, _b in repeaters]
        last = [oid for oid, _t, _b in repeaters]
        for _rep in range(m):
            ended = 0
            for k in range(len(pos)):
                j = pos[k]
                if j < n_keys:
                    vb = store.vb_at(j)
                    last[k] = store.keys[j]
                    pos[k] = j + 1
                else:
                    vb = ber.varbind(ber.enc_oid(last[k]), _END_OF_MIB)
                    ended += 1
                size += len(vb)
                if size > budget or len(out) >= MAX_VARBINDS:
                    return out
                out.append(vb)
            if ended == len(pos):
                break
        return out

    def _set(self, printer: VirtualPrinter, store: MibStore,
             varbinds: list[tuple[ber.Oid, int, bytes]]) -> tuple[int, int, list[bytes]]:
        writable = writable_objects(printer, self.config.contract_root)
        echo = ber.echo(varbinds)
        for i, (oid, tag, body) in enumerate(varbinds, 1):
            entry = writable.get(oid)
            if entry is None:
                return (NOT_WRITABLE if store.get(oid) is not None or store.has_object(oid)
                        else NO_CREATION), i, echo
            status = entry[0](tag, body)
            if status:
                return status, i, echo
        for oid, _tag, body in varbinds:
            writable[oid][1](body)
        return NO_ERROR, 0, echo


def _send_if_open(transport: asyncio.DatagramTransport, data: bytes, addr: tuple) -> None:
    if not transport.is_closing():
        transport.sendto(data, addr)


class SnmpEndpoint(asyncio.DatagramProtocol):
    def __init__(self, agent: SnmpAgent, printer: VirtualPrinter) -> None:
        self.agent = agent
        self.printer = printer
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        assert self.transport is not None
        self.agent.handle(self.printer, data, addr, self.transport)

    def error_received(self, exc: Exception) -> None:  # ICMP unreachable etc.: ignore
        log.debug("UDP error on %s: %s", self.printer.ip, exc)
