"""Support recordings' parts that need no peer: snmprec lines and the masking of secrets
(end to end: tests/app/test_record_command.py)."""

from __future__ import annotations

import re

from protocols.masking import Masker
from protocols.snmp.recording import snmprec_line, to_snmprec
from simulator import ber
from simulator.profiles import read_snmprec


def test_snmprec_lines_keep_each_value_and_read_back_in_the_simulator() -> None:
    values = {
        "1.3.6.1.2.1.1.3.0": 12345,
        "1.3.6.1.2.1.1.2.0": "1.3.6.1.4.1.11.2.3.9.1",
        "1.3.6.1.2.1.1.1.0": b"HP LaserJet 4250",
        "1.3.6.1.2.1.2.2.1.6.1": b"\x00\x1b\x2c\x3d\x4e\x5f",
        "1.3.6.1.2.1.43.11.1.1.6.1.1": b"Toner \xe9 ",
        "1.3.6.1.2.1.43.10.2.1.4.1.1": 3_000_000_000,
        "1.3.6.1.2.1.43.11.1.1.9.1.1": -3,
        "1.3.6.1.4.1.9.9.9.0": 2**40,
        "1.3.6.1.4.1.9.9.10.0": "10.1.2.3",
    }
    text = to_snmprec(values)
    assert text.splitlines()[0] == "1.3.6.1.2.1.1.1.0|4|HP LaserJet 4250"
    assert snmprec_line("1.3.6.1.2.1.1.3.0", 12345) == "1.3.6.1.2.1.1.3.0|67|12345"
    assert snmprec_line("1.3.6.1.2.1.2.2.1.6.1", values["1.3.6.1.2.1.2.2.1.6.1"]) == (
        "1.3.6.1.2.1.2.2.1.6.1|4x|001b2c3d4e5f")
    assert snmprec_line("1.3.6.1.4.1.9.9.9.0", 2**40) == f"1.3.6.1.4.1.9.9.9.0|70|{2**40}"
    assert snmprec_line("1.3.6.1.4.1.9.9.10.0", "10.1.2.3") == "1.3.6.1.4.1.9.9.10.0|64|10.1.2.3"
    served = read_snmprec(text.splitlines())
    assert len(served) == len(values)
    for oid, value in values.items():
        tlv = served[ber.parse_oid(oid)]
        tag, start, end = ber.read_tlv(tlv, 0, len(tlv))
        body = tlv[start:end]
        if isinstance(value, bytes):
            assert body == value
        elif isinstance(value, int):
            assert int.from_bytes(body, "big", signed=tag == ber.INTEGER) == value


def test_masks_are_consistent_and_keep_type_and_length() -> None:
    masker = Masker(b"k" * 32)
    serial = masker.serial("CNB7K12345")
    assert serial != "CNB7K12345" and masker.serial("CNB7K12345") == serial
    assert re.fullmatch(r"[A-Z]{3}\d[A-Z]\d{5}", serial)
    assert Masker(b"j" * 32).serial("CNB7K12345") != serial
    address = masker.ipv4("192.168.1.20")
    assert address != "192.168.1.20" and [len(o) for o in address.split(".")] == [3, 3, 1, 2]
    mac = bytes.fromhex("001b2c3d4e5f")
    masked_mac = masker.mac(mac)
    assert masked_mac[:3] == mac[:3] and masked_mac != mac and len(masked_mac) == 6

    masker.add_serial("CNB7K12345")
    masker.add_mac(mac)
    text = (b"MFG:HP;SN:CNB7K12345;MAC 00:1B:2C:3D:4E:5F at 192.168.1.20, fe80::21b:2cff:fe3d:4e5f"
            b" urn:uuid:cfbee887-24ab-5b6f-9554-149e65665b4e version 1.0.2")
    masked = masker.text(text)
    assert len(masked) == len(text)
    for secret in (b"CNB7K12345", b"00:1B:2C:3D:4E:5F", b"192.168.1.20", b"fe80::21b:2cff",
                   b"cfbee887-24ab"):
        assert secret not in masked
    assert serial.encode() in masked and address.encode() in masked
    assert masked.endswith(b"version 1.0.2") and masked.startswith(b"MFG:HP;SN:")
    assert masker.text(text) == masked
