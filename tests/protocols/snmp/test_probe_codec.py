"""The sweep's answer decoding: v1/v2c answers through printgw's BER codec, the rest through
pyasn1, the same values either way (no network: the answers are encoded here by pysnmp)."""

from __future__ import annotations

import pytest
from pyasn1.codec.ber import encoder
from pysnmp.proto import api, rfc1905

from protocols.snmp import oids, probe_codec
from protocols.snmp.ber_codec import Marker, NotAnswer
from protocols.snmp.model import SnmpCredentials
from protocols.snmp.probe_codec import Reply, column_values, community_template, decode_reply

COLUMNS = (oids.sysDescr, oids.sysObjectID, oids.hrDeviceType, oids.prtGeneralEntry,
           oids.prtGeneralSerialNumber)


def response(version: int, request_id: int, binds: list[tuple[str, object]],
             error_status: int = 0, error_index: int = 0) -> bytes:
    proto = api.PROTOCOL_MODULES[version]
    pdu = proto.GetResponsePDU()
    proto.apiPDU.set_defaults(pdu)
    proto.apiPDU.set_request_id(pdu, request_id)
    proto.apiPDU.set_error_status(pdu, error_status)
    proto.apiPDU.set_error_index(pdu, error_index)
    proto.apiPDU.set_varbinds(pdu, binds)
    message = proto.Message()
    proto.apiMessage.set_defaults(message)
    proto.apiMessage.set_community(message, b"public")
    proto.apiMessage.set_pdu(message, pdu)
    return encoder.encode(message)


def printer_answer(version: int) -> bytes:
    proto = api.PROTOCOL_MODULES[version]
    last: object = rfc1905.endOfMibView if version else proto.OctetString(b"")
    return response(version, 0x0123_4567, [
        (f"{oids.sysDescr}.0", proto.OctetString(b"Colour MFP \xe9")),
        (f"{oids.sysObjectID}.0", proto.ObjectIdentifier("1.3.6.1.4.1.2435.2.3.9.1")),
        (f"{oids.hrDeviceType}.1", proto.ObjectIdentifier(oids.hrDevicePrinter)),
        (f"{oids.prtGeneralEntry}.1.1", proto.Integer(-7)),
        (f"{oids.prtGeneralSerialNumber}.1", last)])


class Refused:
    """Stands in for one of the two decoders: refuses everything."""

    def __call__(self, *_: object, **__: object) -> None:
        raise NotAnswer("refused by the test")

    decode = __call__


def decoded_without(name: str, data: bytes, monkeypatch: pytest.MonkeyPatch
                    ) -> tuple[int, Reply] | None:
    """`decode_reply` with `decode_header` (printgw's codec) or pyasn1's `decoder` refusing."""
    with monkeypatch.context() as patch:
        patch.setattr(probe_codec, name, Refused())
        return decode_reply(data)


@pytest.mark.parametrize("version", [api.SNMP_VERSION_1, api.SNMP_VERSION_2C])
def test_both_decoders_give_the_same_values(version: int,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    data = printer_answer(version)
    fast = decoded_without("decoder", data, monkeypatch)  # pyasn1 is not needed
    slow = decoded_without("decode_header", data, monkeypatch)
    assert fast is not None and slow is not None
    (rid, reply), (slow_rid, slow_reply) = fast, slow
    assert rid == slow_rid == 0x0123_4567
    assert (reply.version, reply.error_status, reply.error_index) == (version, 0, 0) == (
        slow_reply.version, slow_reply.error_status, slow_reply.error_index)
    expected = {f"{oids.sysDescr}.0": b"Colour MFP \xe9",
                f"{oids.sysObjectID}.0": "1.3.6.1.4.1.2435.2.3.9.1",
                f"{oids.hrDeviceType}.1": oids.hrDevicePrinter,
                f"{oids.prtGeneralEntry}.1.1": -7}
    if not version:
        expected[f"{oids.prtGeneralSerialNumber}.1"] = b""
    assert column_values(COLUMNS, reply.var_binds) == expected
    assert column_values(COLUMNS, slow_reply.var_binds) == expected
    assert isinstance(reply.var_binds[-1][1], Marker) == bool(version)


def test_an_error_answer_and_what_is_no_answer() -> None:
    proto = api.PROTOCOL_MODULES[api.SNMP_VERSION_1]
    decoded = decode_reply(response(api.SNMP_VERSION_1, 0x0200_0000,
                                    [(oids.sysDescr, proto.Null(""))], error_status=2,
                                    error_index=1))
    assert decoded is not None
    assert decoded[0] == 0x0200_0000
    assert (decoded[1].error_status, decoded[1].error_index) == (2, 1)
    request = community_template(SnmpCredentials(community="public"), COLUMNS
                                 ).render(0x0300_0000)
    assert decode_reply(request) is None  # our own request echoed back
