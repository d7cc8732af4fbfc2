"""SNMPv3 (USM authPriv) for the fleet, on pysnmp's message processing and USM.

One shared pysnmp `SnmpEngine` does the v3 work (header, USM authentication and privacy,
engine-ID discovery reports, timeliness) for every printer with v3 users: one engine per printer
would cost megabytes each.  The engine never opens a socket: the fleet's UDP endpoint hands it the
datagram, a capturing transport dispatcher collects the answer, and the PDU itself is answered by
`SnmpAgent.process_pdu` (handed in as a `PduProcessor`) like v1/v2c.  Consequence: all v3 printers
share one snmpEngineID.

Access: reads need authNoPriv or better, SETs need authPriv (authorizationError otherwise).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyasn1.codec.ber import decoder, encoder
from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.carrier.base import AbstractTransportDispatcher
from pysnmp.entity import config, engine
from pysnmp.proto import api
from pysnmp.proto.rfc1902 import OctetString

from simulator import ber
from simulator.printer import VirtualPrinter

AUTH = {"MD5": config.USM_AUTH_HMAC96_MD5, "SHA": config.USM_AUTH_HMAC96_SHA,
        "SHA224": config.USM_AUTH_HMAC128_SHA224, "SHA256": config.USM_AUTH_HMAC192_SHA256,
        "SHA384": config.USM_AUTH_HMAC256_SHA384, "SHA512": config.USM_AUTH_HMAC384_SHA512}
PRIV = {"DES": config.USM_PRIV_CBC56_DES, "AES": config.USM_PRIV_CFB128_AES,
        "AES192": config.USM_PRIV_CFB192_AES, "AES256": config.USM_PRIV_CFB256_AES}
AUTH_NO_PRIV, AUTH_PRIV = 2, 3
_V2C = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
_PDU_TYPES = {ber.GET: _V2C.GetRequestPDU, ber.GETNEXT: _V2C.GetNextRequestPDU,
              ber.GETBULK: _V2C.GetBulkRequestPDU, ber.SET: _V2C.SetRequestPDU}

PduProcessor = Callable[[VirtualPrinter, int, list[tuple[ber.Oid, int, bytes]], int, int],
                        tuple[int, int, list[bytes]] | None]
"""(printer, PDU type, varbinds, non-repeaters / error status, max-repetitions / error index)
→ (error status, error index, varbind TLVs), or None to drop the request."""


@dataclass
class V3User:
    """An SNMPv3 USM user (authPriv with SHA and AES-128 by default)."""

    name: str
    auth_key: str
    priv_key: str
    auth_protocol: str = "SHA"
    """SHA, SHA224, SHA256, SHA384, SHA512 or MD5."""
    priv_protocol: str = "AES"
    """AES (AES-128), AES192, AES256 or DES."""


class _CapturingDispatcher(AbstractTransportDispatcher):
    """A transport dispatcher that only records what the engine wants to send."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []

    def send_message(self, outgoingMessage: Any, transportDomain: Any,
                     transportAddress: Any) -> None:
        self.sent.append(bytes(outgoingMessage))


class V3Responder:
    """Answers the SNMPv3 messages of every v3 printer; `process_pdu` answers the PDUs inside."""

    def __init__(self, process_pdu: PduProcessor, users: list[V3User],
                 engine_id: bytes | None = None) -> None:
        self.process_pdu = process_pdu
        # RFC 3411 engine ID: enterprise 32473 (documentation), format 4 (text)
        eid = engine_id or bytes.fromhex("80007ed904") + b"printgw-sim"
        self.engine = engine.SnmpEngine(snmpEngineID=OctetString(eid))
        self.dispatcher = _CapturingDispatcher()
        self.engine.register_transport_dispatcher(self.dispatcher)
        for u in users:
            if u.auth_protocol.upper() not in AUTH or u.priv_protocol.upper() not in PRIV:
                raise ValueError(f"v3 user {u.name}: auth {list(AUTH)}, priv {list(PRIV)}")
            config.add_v3_user(self.engine, u.name, AUTH[u.auth_protocol.upper()], u.auth_key,
                               PRIV[u.priv_protocol.upper()], u.priv_key)
        self.engine.message_dispatcher.register_context_engine_id(
            b"", [t.tagSet for t in _PDU_TYPES.values()], self._process_pdu)
        self._printer: VirtualPrinter | None = None

    @property
    def engine_id(self) -> bytes:
        return bytes(self.engine.snmpEngineID)

    def handle(self, printer: VirtualPrinter, data: bytes, addr: tuple) -> bytes | None:
        self._printer = printer
        self.dispatcher.sent.clear()
        try:
            self.engine.message_dispatcher.receive_message(
                self.engine, udp.DOMAIN_NAME, addr, data)
        finally:
            self._printer = None
        return self.dispatcher.sent[0] if self.dispatcher.sent else None

    def _process_pdu(self, snmpEngine: Any, messageProcessingModel: Any, securityModel: Any,
                     securityName: Any, securityLevel: Any, contextEngineId: Any,
                     contextName: Any, pduVersion: Any, PDU: Any,
                     maxSizeResponseScopedPDU: Any, stateReference: Any) -> None:
        printer = self._printer
        assert printer is not None
        pdu_bytes = encoder.encode(PDU)
        tag, _start, _end = ber.read_tlv(pdu_bytes, 0, len(pdu_bytes))
        # reuse the v1/v2c decoder: wrap the PDU in a v2c message shell
        shell = ber.tlv(ber.SEQUENCE, ber.enc_int(1) + ber.enc_octets(b"") + pdu_bytes)
        msg = ber.decode_message(shell)
        if securityLevel < AUTH_NO_PRIV or (tag == ber.SET and securityLevel < AUTH_PRIV):
            status, index, vbs = ber.AUTHORIZATION_ERROR, 0, ber.echo(msg.varbinds)
        else:
            result = self.process_pdu(printer, tag, msg.varbinds, msg.error_status,
                                      msg.error_index)
            if result is None:
                return
            status, index, vbs = result
        response, _ = decoder.decode(ber.response_pdu(msg.request_id, status, index, vbs),
                                     asn1Spec=_V2C.ResponsePDU())
        snmpEngine.message_dispatcher.return_response_pdu(
            snmpEngine, messageProcessingModel, securityModel, securityName, securityLevel,
            contextEngineId, contextName, pduVersion, response, maxSizeResponseScopedPDU,
            stateReference, {})
