"""The hand-written BER hot path agrees with pyasn1 (pysnmp.proto.api) both ways."""

from __future__ import annotations

import contextlib

from hypothesis import given
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api

from simulator import ber

V2C = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]

oids_st = st.tuples(st.integers(0, 2), st.integers(0, 39),
                    st.lists(st.integers(0, 2**32 - 1), max_size=12)).map(
    lambda t: (t[0], t[1], *t[2]))


@given(oids_st, st.integers(-(2**31), 2**31 - 1), st.binary(max_size=300),
       st.integers(0, 2**32 - 1), st.integers(0, 2**31 - 1))
def test_response_decodes_with_pyasn1(oid, number, text, counter, request_id) -> None:
    vbs = [ber.varbind(ber.enc_oid(oid), ber.enc_int(number)),
           ber.varbind(ber.enc_oid(oid), ber.enc_octets(text)),
           ber.varbind(ber.enc_oid(oid), ber.enc_unsigned(counter, ber.COUNTER32)),
           ber.varbind(ber.enc_oid(oid), ber.enc_unsigned(counter, ber.TIMETICKS)),
           ber.varbind(ber.enc_oid(oid), ber.tlv(ber.END_OF_MIB_VIEW, b""))]
    raw = ber.encode_response(1, b"public", request_id, 0, 0, vbs)
    msg, rest = decoder.decode(raw, asn1Spec=V2C.Message())
    assert rest == b""
    pdu = V2C.apiMessage.get_pdu(msg)
    assert int(V2C.apiPDU.get_request_id(pdu)) == request_id
    got = V2C.apiPDU.get_varbinds(pdu)
    assert tuple(got[0][0]) == oid
    assert int(got[0][1]) == number
    assert bytes(got[1][1]) == text
    assert int(got[2][1]) == counter and int(got[3][1]) == counter
    # No byte comparison with pyasn1's re-encoding: pyasn1 0.6 writes -128 as 02 02 ff 80,
    # which is not the minimal encoding X.690 asks for (02 01 80, as ours is).
    assert decoder.decode(encoder.encode(msg), asn1Spec=V2C.Message())[0] == msg


def test_integers_use_the_minimal_encoding() -> None:
    assert ber.enc_int(-128) == bytes.fromhex("020180")
    assert ber.enc_int(128) == bytes.fromhex("02020080")
    assert ber.enc_int(-129) == bytes.fromhex("0202ff7f")


@given(st.lists(oids_st, min_size=1, max_size=5), st.integers(0, 2**31 - 1),
       st.integers(0, 3), st.integers(0, 50))
def test_requests_from_pysnmp_decode(oid_list, request_id, non_rep, max_rep) -> None:
    pdu = V2C.GetBulkRequestPDU()
    V2C.apiBulkPDU.set_defaults(pdu)
    V2C.apiBulkPDU.set_request_id(pdu, request_id)
    V2C.apiBulkPDU.set_non_repeaters(pdu, non_rep)
    V2C.apiBulkPDU.set_max_repetitions(pdu, max_rep)
    V2C.apiBulkPDU.set_varbinds(pdu, [(o, V2C.Null()) for o in oid_list])
    msg = V2C.Message()
    V2C.apiMessage.set_defaults(msg)
    V2C.apiMessage.set_community(msg, "public")
    V2C.apiMessage.set_pdu(msg, pdu)
    decoded = ber.decode_message(encoder.encode(msg))
    assert decoded.version == 1 and decoded.community == b"public"
    assert decoded.pdu_type == ber.GETBULK and decoded.request_id == request_id
    assert (decoded.error_status, decoded.error_index) == (non_rep, max_rep)
    assert [v[0] for v in decoded.varbinds] == [tuple(o) for o in oid_list]


@given(st.binary(max_size=200))
def test_garbage_raises_only_ber_error(data) -> None:
    with contextlib.suppress(ber.BerError):
        ber.decode_message(data)
