"""The sweep's packets: probe templates encoded once, and the answers decoded.

Each probe is encoded once by pysnmp's message layer and pyasn1 (~0.3 ms), as a template whose
4-byte request-id is patched per request (~1 µs).  A v1/v2c answer is decoded by the read path's
BER codec (`protocols.snmp.ber_codec`: ~6 µs where pyasn1 takes ~0.4 ms, some 4 s of CPU for
10,000 static hosts, an eighth of what `printgw run --once` took); what that codec does not take
(SNMPv3, a value type it does not know, garbage) goes to pyasn1.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api
from pysnmp.proto.mpmod.rfc3412 import ScopedPDU, SNMPv3Message

from protocols.snmp.ber_codec import (
    ABSENT,
    Malformed,
    Marker,
    NotAnswer,
    Unsure,
    Value,
    decode_header,
    decode_varbinds,
)
from protocols.snmp.model import SnmpCredentials, SnmpValue, oid_text
from protocols.snmp.values import is_absent, to_python

RID_MIN, RID_MAX = 0x0100_0000, 0x7FFF_FFFF  # request-ids that BER-encode in exactly 4 bytes
_RID_SENTINEL = 0x5EE9_5EE9
_MAX_UDP_PAYLOAD = 65507


@dataclass(frozen=True)
class Template:
    """An encoded request whose 4-byte request-id fields are patched per request."""

    version: int
    """SNMP message version (0 = v1, 1 = v2c, 3): an answer must come in the same one."""
    data: bytes
    offsets: tuple[int, ...]

    @classmethod
    def of(cls, version: int, encoded: bytes, slots: int) -> Template:
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


def community_template(credentials: SnmpCredentials, columns: tuple[str, ...]) -> Template:
    """A v1/v2c GETNEXT of `columns`, in the community the credentials name."""
    version = api.SNMP_VERSION_1 if credentials.version == 1 else api.SNMP_VERSION_2C
    proto = api.PROTOCOL_MODULES[version]
    pdu = proto.GetNextRequestPDU()
    proto.apiPDU.set_defaults(pdu)
    proto.apiPDU.set_request_id(pdu, _RID_SENTINEL)
    proto.apiPDU.set_varbinds(pdu, [(column, proto.Null("")) for column in columns])
    message = proto.Message()
    proto.apiMessage.set_defaults(message)
    proto.apiMessage.set_community(message, credentials.community_string.encode())
    proto.apiMessage.set_pdu(message, pdu)
    return Template.of(version, encoder.encode(message), slots=1)


def _usm_parameters() -> Any:
    """A fresh UsmSecurityParameters."""
    # imported here: pysnmp's USM module loads cryptography (~10 MB), needed only for v3 probes
    from pysnmp.proto.secmod.rfc3414.service import UsmSecurityParameters

    return UsmSecurityParameters()


@cache
def discovery_template() -> Template:
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
    return Template.of(3, encoder.encode(message), slots=2)


@dataclass
class Reply:
    version: int
    error_status: int = 0
    error_index: int = 0
    var_binds: list[tuple[str, Value]] = field(default_factory=list)
    """(numeric OID, value); noSuchObject, noSuchInstance and endOfMibView are `Marker`s."""
    engine_id: bytes | None = None


def decode_reply(data: bytes) -> tuple[int, Reply] | None:
    """(request-id, reply) of a v1/v2c Response or a plaintext v3 Report/Response, else None.

    pyasn1 raises assorted exceptions on malformed input: callers treat any as garbage.
    """
    with contextlib.suppress(NotAnswer, Malformed, Unsure):  # else pyasn1 has a go
        version, request_id, status, index, start, end = decode_header(data)
        if version in (api.SNMP_VERSION_1, api.SNMP_VERSION_2C):
            return request_id, Reply(version, status, index, decode_varbinds(data, start, end))
    version = int(api.decodeMessageVersion(data))
    if version == 3:
        message, _ = decoder.decode(data, asn1Spec=SNMPv3Message())
        pdus = message["msgData"]["plaintext"]["data"]
        if pdus.getName() not in ("report", "response"):
            return None
        security, _ = decoder.decode(message["msgSecurityParameters"].asOctets(),
                                     asn1Spec=_usm_parameters())
        engine_id = security["msgAuthoritativeEngineId"].asOctets()
        return int(message["msgGlobalData"]["msgID"]), Reply(3, engine_id=engine_id)
    proto = api.PROTOCOL_MODULES.get(version)
    if proto is None:
        return None
    message, _ = decoder.decode(data, asn1Spec=proto.Message())
    pdu = proto.apiMessage.get_pdu(message)
    if pdu.tagSet != proto.GetResponsePDU.tagSet:  # e.g. our own request echoed back
        return None
    var_binds: list[tuple[str, Value]] = [
        (oid_text(name.asTuple()), ABSENT if is_absent(value) else to_python(value))
        for name, value in proto.apiPDU.get_varbinds(pdu)]
    return int(proto.apiPDU.get_request_id(pdu)), Reply(
        version, int(proto.apiPDU.get_error_status(pdu)), int(proto.apiPDU.get_error_index(pdu)),
        var_binds)


def column_values(columns: Sequence[str], var_binds: list[tuple[str, Value]]
                  ) -> dict[str, SnmpValue]:
    """GETNEXT answers that stayed inside the column asked for, by numeric OID."""
    values: dict[str, SnmpValue] = {}
    for column, (oid, value) in zip(columns, var_binds, strict=False):
        if oid.startswith(column + ".") and not isinstance(value, Marker):
            values[oid] = value
    return values
