"""Identity and values validated at the edge: hostile values a device can send, through the SNMP
and the IPP mapping (`gateway.device.fields`).  The real recordings still read as before:
`test_poll_recorded.py` and `test_real_recordings_keep_their_identity` below."""

from __future__ import annotations

import pytest

from gateway.device.fields import MAX_PLAUSIBLE_PAGES, parse_uuid
from gateway.device.ipp_mapping import apply_ipp
from gateway.device.model import DeviceStatus
from gateway.device.snmp_mapping import apply_snmp
from protocols.ipp.model import IppReading
from protocols.ipp.parser import parse_response
from protocols.snmp import oids
from protocols.snmp.printer import PrinterReading
from protocols.snmp.vendors import vendor_for
from tests.support.paths import IPP_FIXTURES

SERIAL = f"{oids.prtGeneralSerialNumber}.1"
LEVEL = f"{oids.prtMarkerSuppliesLevel}.1.1"
CAPACITY = f"{oids.prtMarkerSuppliesMaxCapacity}.1.1"
LIFE_COUNT = f"{oids.prtMarkerLifeCount}.1.1"
HR_DESCR = f"{oids.hrDeviceDescr}.1"
HP_SERIAL = "1.3.6.1.4.1.11.2.3.9.4.2.1.1.3.3.0"
"""HP's serial object (a PML object: two bytes of framing before the text)."""
HP_DEVICE_ID = "1.3.6.1.4.1.11.2.3.9.1.1.7.0"
HP = "1.3.6.1.4.1.11.2.3.9.1"


def snmp(values: dict, sys_object_id: str | None = None) -> DeviceStatus:
    if sys_object_id is not None:
        values = {**values, f"{oids.sysObjectID}.0": sys_object_id}
    status = DeviceStatus("127.0.0.1")
    apply_snmp(status, PrinterReading(values=values, vendor=vendor_for(sys_object_id)))
    return status


def ipp(attributes: dict) -> DeviceStatus:
    status = DeviceStatus("127.0.0.1")
    apply_ipp(status, IppReading("ipp://127.0.0.1/ipp/print", (2, 0), 0, attributes))
    return status


def problems(status: DeviceStatus) -> str:
    return "\n".join(f"{p.source} {p.where}: {p.message}" for p in status.problems)


# -- UUIDs -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ("urn:uuid:6D2F1B0E-8C3A-4E71-9B55-2A1C0F9E7D34", "6d2f1b0e-8c3a-4e71-9b55-2a1c0f9e7d34"),
    ("6d2f1b0e-8c3a-4e71-9b55-2a1c0f9e7d34", "6d2f1b0e-8c3a-4e71-9b55-2a1c0f9e7d34"),
    (" URN:UUID:6d2f1b0e-8c3a-4e71-9b55-2a1c0f9e7d34 ", "6d2f1b0e-8c3a-4e71-9b55-2a1c0f9e7d34"),
    ("00000000-0000-0000-0000-000000000000", None),
    ("not-a-uuid", None),
    ("urn:uuid:6d2f1b0e-8c3a-4e71-9b55-2a1c0f9e7d34; DROP TABLE devices", None),
    ("6d2f1b0e8c3a4e719b552a1c0f9e7d34", None),  # not the RFC 4122 string form
    ("x" * 60_000, None),
])
def test_printer_uuid_is_parsed_as_a_uuid(value: str, expected: str | None) -> None:
    assert parse_uuid(value) == expected
    status = ipp({"printer-uuid": value})
    assert status.identity.uuid == expected
    if expected is None and "0000" not in value:
        assert "printer-uuid: not a UUID" in problems(status)


# -- serials -----------------------------------------------------------------------------------

def test_a_60000_character_serial_is_dropped_not_truncated() -> None:
    long = "A" * 60_000
    status = snmp({SERIAL: long.encode()})
    assert status.identity.serial is None
    assert "60000 characters, more than the 128 a serial may have" in problems(status)

    status = ipp({"printer-serial-number": long,
                  "printer-device-id": "MFG:HP;MDL:LaserJet M404;SN:PHBQB12345;"})
    assert status.identity.serial == "PHBQB12345"  # the next source is asked instead
    assert status.sources["identity.serial"] == "ipp:printer-device-id"
    assert "printer-serial-number: 60000 characters" in problems(status)


def test_a_serial_of_exactly_the_cloud_limit_is_kept() -> None:
    assert snmp({SERIAL: b"S" * 128}).identity.serial == "S" * 128
    assert snmp({SERIAL: b"S" * 129}).identity.serial is None


def test_a_serial_sent_as_an_integer_is_not_a_serial() -> None:
    """Decided: serials are text; an INTEGER has lost the label's leading zeros and may have
    been cut to 64 bits by the decoder, so its digits are not used (the next source is)."""
    status = snmp({SERIAL: 123456789})
    assert status.identity.serial is None
    assert "a serial sent as the INTEGER 123456789: not used" in problems(status)

    status = snmp({SERIAL: 2**64 - 1, HP_DEVICE_ID: b"MFG:HP;MDL:LaserJet;SN:CNB7K12345;"}, HP)
    assert status.identity.serial == "CNB7K12345"
    assert status.sources["identity.serial"] == "snmp:device-id"

    assert ipp({"printer-serial-number": 42}).identity.serial is None


@pytest.mark.parametrize("raw", [
    b"CNB7\x07K12345",  # a control character inside
    b"CNB7K\x00EVIL12345",  # text after a NUL: the C string would be another serial
    "CNB7K12345\u202e".encode(),  # a bidirectional override
    b"CNB7K\x9b12345",  # not UTF-8: a C1 control once decoded
    bytes(range(1, 32)) + b"\x80\x81\xfe\xff",  # an OCTET STRING of no text at all
])
def test_a_serial_with_control_characters_is_dropped_not_altered(raw: bytes) -> None:
    status = snmp({SERIAL: raw})
    assert status.identity.serial is None, status.identity.serial
    assert "not used (an altered serial is another printer's)" in problems(status)


@pytest.mark.parametrize(("raw", "expected"), [
    (b"CNB7K12345\x00\x00\x00\x00", "CNB7K12345"),  # NUL padding
    (b"  CNB7K12345  \r\n", "CNB7K12345"),  # space padding
    (b"CNB7K12345\x00   \x00", "CNB7K12345"),
    (b"0x434E42374B3132333435", "CNB7K12345"),  # hex as some agents send it
])
def test_padding_is_not_damage(raw: bytes, expected: str) -> None:
    status = snmp({SERIAL: raw})
    assert status.identity.serial == expected
    assert not status.problems


def test_hp_framing_before_the_serial_is_not_damage() -> None:
    status = snmp({HP_SERIAL: b"\x01\x15VNCRC48198"}, HP)
    assert status.identity.serial == "VNCRC48198"
    assert not status.problems


# -- models, manufacturers, firmware -------------------------------------------------------------

def test_display_fields_are_cleaned_of_control_characters_and_capped() -> None:
    status = snmp({HR_DESCR: b"HP LaserJet\x1b[31m M404\xe2\x80\x8b", f"{oids.hrDeviceType}.1":
                   oids.hrDevicePrinter})
    assert status.identity.model == "HP LaserJet[31m M404"
    assert "control characters removed" in problems(status)

    status = ipp({"printer-make-and-model": "HP " + "M" * 300,
                  "printer-device-id": "MFG:HP\tInc;MDL:LaserJet\u200b M404;",
                  "printer-firmware-string-version": ["", "x" * 129, "002.2208A"],
                  "printer-location": "Floor 2\r\nRoom 5"})
    assert status.identity.model == "LaserJet M404"  # from the device ID: make-and-model too long
    assert status.identity.manufacturer == "HP Inc"
    assert status.identity.firmware == "002.2208A"
    assert status.identity.location == "Floor 2 Room 5"
    text = problems(status)
    assert "printer-make-and-model: 303 characters, more than the 256 a model may have" in text
    assert "printer-firmware-string-version: 129 characters" in text
    assert status.identity.device_id == "MFG:HP Inc;MDL:LaserJet M404;"  # cleaned, as shown


# -- integers and counters ---------------------------------------------------------------------

@pytest.mark.parametrize("level", [2**152 - 1, 2**31, -(2**31) - 1, -(2**152)])
def test_a_level_beyond_integer32_is_a_problem_not_a_state(level: int) -> None:
    status = snmp({LEVEL: level, CAPACITY: 100})
    (supply,) = status.supplies
    assert (supply.level_state, supply.level_percent, supply.raw_level) == ("unknown", None, None)
    assert "supply 1.1 level: value out of range" in problems(status)


@pytest.mark.parametrize(("level", "state"), [(-1, "unrestricted"), (-2, "unknown"),
                                              (-3, "some-remaining"), (2**31 - 1, "known")])
def test_integer32_levels_and_their_special_values_still_read(level: int, state: str) -> None:
    (supply,) = snmp({LEVEL: level, CAPACITY: 2**31 - 1}).supplies
    assert supply.level_state == state


@pytest.mark.parametrize(("count", "message"), [
    (2**64 - 1, "the sentinel 2^64-1 is no device's page count"),
    (2**32 - 1, "the sentinel 2^32-1 is no device's page count"),
    (MAX_PLAUSIBLE_PAGES + 1, "1e+09 pages is no device's page count"),
    (2**65, "value out of range"),
])
def test_an_implausible_counter_is_a_problem_not_a_count(count: int, message: str) -> None:
    status = snmp({LIFE_COUNT: count})
    assert status.counters.total is None
    assert message in problems(status)


def test_a_plausible_counter_is_a_count() -> None:
    assert snmp({LIFE_COUNT: 271_871}).counters.total == 271_871
    assert snmp({LIFE_COUNT: MAX_PLAUSIBLE_PAGES}).counters.total == MAX_PLAUSIBLE_PAGES


def test_ipp_counters_are_checked_alike() -> None:
    status = ipp({"printer-impressions-completed": 2**31 - 1,
                  "printer-impressions-completed-col": {"monochrome": 1200,
                                                        "full-color": 2**31 - 1}})
    assert (status.counters.total, status.counters.mono, status.counters.color) == (
        None, 1200, None)
    assert "printer-impressions-completed: the sentinel 2^31-1" in problems(status)
    assert "printer-impressions-completed-col.full-color: the sentinel 2^31-1" in \
        problems(status)


# -- the real recordings -------------------------------------------------------------------------

EXPECTED_IPP = {
    "brother-mfcj5320dw": (None, "Brother", "MFC-J5320DW"),
    "epsonxp6000": ("583434593035343012", "EPSON", "XP-6000"),  # "Series" is no model
    "hp6830": ("TH55R620W0", "HP", "Officejet Pro 6830"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED_IPP))
def test_real_ipp_recordings_keep_their_identity(name: str) -> None:
    body = (IPP_FIXTURES / "real" / f"get-printer-attributes-{name}.bin").read_bytes()
    code, version, attributes, parse_problems = parse_response(body)
    status = DeviceStatus("127.0.0.1")
    apply_ipp(status, IppReading("ipp://127.0.0.1/ipp/print", version, code, attributes,
                                 parse_problems))
    identity = status.identity
    assert (identity.serial, identity.manufacturer, identity.model) == EXPECTED_IPP[name]
    assert identity.uuid is not None and parse_uuid(identity.uuid) == identity.uuid
    assert not [p for p in status.problems if p.where.startswith("printer-")], problems(status)
