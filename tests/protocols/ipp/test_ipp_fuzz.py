"""Robustness of the IPP side: mutated responses, garbage attributes, arbitrary device IDs.

Property tests (hypothesis) with the edge cases they are about spelt out as examples beside them.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.device.ipp_mapping import apply_ipp
from gateway.device.model import DeviceStatus
from protocols.device_id import (
    device_id_manufacturer,
    device_id_model,
    device_id_serial,
    parse_device_id,
)
from protocols.ipp.model import IppProtocolError, IppReading, parse_printer_supply
from protocols.ipp.parser import parse_response
from tests.support.paths import FIXTURES

FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

BODIES: dict[str, bytes] = {
    path.name: path.read_bytes()
    for path in sorted((FIXTURES / "ipp" / "real").glob("*.bin"))
}
CLEAN = {name: parse_response(body) for name, body in BODIES.items()}


# --------------------------------------------------------------------------------------------
# (a) parse_response on mutated bodies


@st.composite
def mutated_bodies(draw: st.DrawFn) -> bytes:
    body = bytearray(draw(st.sampled_from(list(BODIES.values()))))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(body)))
        action = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "overwrite"]))
        if action == "flip" and position < len(body):
            body[position] ^= 1 << draw(st.integers(0, 7))
        elif action == "truncate":
            del body[position:]
        elif action == "insert":
            body[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del body[position:position + draw(st.integers(1, 8))]
        elif action == "overwrite":
            patch = draw(st.binary(min_size=1, max_size=4))
            body[position:position + len(patch)] = patch
    return bytes(body)


def _parse_or_protocol_error(body: bytes) -> tuple[int, tuple[int, int], dict[str, Any],
                                                   list[str]] | None:
    try:
        return parse_response(body)
    except IppProtocolError:
        return None


@FUZZ
@given(mutated_bodies())
def test_mutated_body_never_raises_anything_else(body: bytes) -> None:
    result = _parse_or_protocol_error(body)
    if result is not None:
        status, version, attributes, problems = result
        assert 0 <= status <= 0xFFFF and version[0] in (1, 2)
        assert isinstance(attributes, dict) and all(isinstance(p, str) for p in problems)


@FUZZ
@given(st.sampled_from(sorted(BODIES)), st.data())
def test_truncated_body_keeps_whole_attributes_only(name: str, data: st.DataObject) -> None:
    """Whatever survives a cut is exactly what the whole body says: no half lists."""
    body = BODIES[name]
    cut = data.draw(st.integers(0, len(body) - 1))
    result = _parse_or_protocol_error(body[:cut])
    if result is None:
        return
    _, _, attributes, problems = result
    clean = CLEAN[name][2]
    assert {k: clean[k] for k in attributes} == attributes
    assert problems


# Value tags a broken value can be given while the framing stays intact.
_BREAKABLE = {0x21: "integer", 0x22: "boolean", 0x23: "enum", 0x31: "dateTime",
              0x35: "textWithLanguage", 0x36: "nameWithLanguage", 0x41: "text", 0x42: "name"}


@dataclass
class _Item:
    offset: int
    end: int
    tag: int
    name: bytes
    attribute: str


def _printer_items(body: bytes) -> list[_Item]:
    """The breakable values of the printer-attributes group, with the attribute each belongs to
    (written independently of the parser under test)."""
    items, offset, group, attribute = [], 8, 0, ""
    while body[offset] != 0x03:
        tag = body[offset]
        if tag <= 0x0F:
            group, offset = tag, offset + 1
            continue
        name_length = struct.unpack_from(">H", body, offset + 1)[0]
        name = body[offset + 3:offset + 3 + name_length]
        value_length = struct.unpack_from(">H", body, offset + 3 + name_length)[0]
        end = offset + 5 + name_length + value_length
        attribute = name.decode() or attribute
        if group == 0x04 and tag in _BREAKABLE:
            items.append(_Item(offset, end, tag, name, attribute))
        offset = end
    return items


def _broken_value(tag: int, data: st.DataObject) -> bytes:
    if tag in (0x21, 0x23):
        return data.draw(st.binary(max_size=8).filter(lambda b: len(b) != 4))
    if tag == 0x22:
        return data.draw(st.one_of(st.binary(max_size=3).filter(lambda b: len(b) != 1),
                                   st.integers(2, 255).map(lambda i: bytes([i]))))
    if tag == 0x31:  # wrong size, or month 13
        month_13 = b"\x07\xe6\x0d\x01\x00\x00\x00\x00+\x00\x00"
        return data.draw(st.sampled_from([b"", b"\x07\xe6\x01", month_13]))
    if tag in (0x35, 0x36):  # inner lengths that do not add up
        return data.draw(st.sampled_from([b"\x00", b"\x00\x02en\x00\x09abc",
                                          b"\x00\x40en\x00\x01a"]))
    return b"\xff" + data.draw(st.binary(max_size=10))  # never valid UTF-8


@FUZZ
@given(st.sampled_from([n for n in sorted(BODIES) if _printer_items(BODIES[n])]), st.data())
def test_one_broken_attribute_loses_only_itself(name: str, data: st.DataObject) -> None:
    body = BODIES[name]
    item = data.draw(st.sampled_from(_printer_items(body)))
    value = _broken_value(item.tag, data)
    broken = (body[:item.offset] + bytes([item.tag]) + struct.pack(">H", len(item.name))
              + item.name + struct.pack(">H", len(value)) + value + body[item.end:])
    status, version, attributes, problems = parse_response(broken)
    clean_status, clean_version, clean, _ = CLEAN[name]
    assert (status, version) == (clean_status, clean_version)
    assert attributes == {k: v for k, v in clean.items() if k != item.attribute}
    assert any(p.startswith(f"{item.attribute}:") for p in problems)


@pytest.mark.parametrize("body", [b"", b"\x02\x00", b"<html><body>404</body></html>",
                                  b"\x02\x00\x00\x00\x00\x00\x00\x01\x41"])
def test_unreadable_body_is_a_protocol_error(body: bytes) -> None:
    with pytest.raises(IppProtocolError):
        parse_response(body)


def _with_charset(charset: bytes, location: bytes) -> bytes:
    return (b"\x02\x00\x00\x00\x00\x00\x00\x01\x01"
            + b"\x47\x00\x12attributes-charset" + struct.pack(">H", len(charset)) + charset
            + b"\x04\x41\x00\x10printer-location" + struct.pack(">H", len(location)) + location
            + b"\x03")


def test_charset_from_the_response_decodes_text() -> None:
    _, _, attributes, problems = parse_response(_with_charset(b"iso-8859-1", b"B\xfcro"))
    assert (attributes, problems) == ({"printer-location": "Büro"}, [])


@pytest.mark.parametrize("charset", [b"\x00tf-8", b"rot13", b"no-such-charset", b""])
def test_unusable_charset_reads_utf8(charset: bytes) -> None:
    _, _, attributes, problems = parse_response(_with_charset(charset, "Büro".encode()))
    assert attributes == {"printer-location": "Büro"}
    assert [p.split(":")[0] for p in problems] == ["attributes-charset"]


# --------------------------------------------------------------------------------------------
# (b) apply_ipp on garbage attributes

_GROUPS: dict[str, set[str]] = {
    "identity": {"printer-make-and-model", "printer-device-id", "printer-serial-number",
                 "printer-firmware-string-version", "printer-uuid", "printer-location"},
    "state": {"printer-state", "printer-state-reasons", "printer-state-message", "printer-alert",
              "printer-alert-description"},
    "supplies": {"marker-names", "marker-types", "marker-colors", "marker-levels",
                 "marker-low-levels", "marker-high-levels", "printer-supply",
                 "printer-supply-description"},
    "counters": {"printer-impressions-completed", "printer-impressions-completed-col"},
}
_TEXT_ATTRIBUTES = {"printer-make-and-model", "printer-device-id", "printer-serial-number",
                    "printer-uuid", "printer-location", "printer-state-message"}
_IDENTITY_ATTRIBUTES = {"printer-make-and-model", "printer-device-id", "printer-serial-number",
                        "printer-location"}
"""Text attributes read as identity fields (`fields.identity_text`, as SNMP's are): octets sent
for them are decoded as text, not a problem."""
_KNOWN = sorted(set().union(*_GROUPS.values()))

BASELINE: dict[str, Any] = {
    **CLEAN["get-printer-attributes-hp6830.bin"][2],
    "printer-serial-number": "TH55R620W0",
    "printer-firmware-string-version": ["2.4.1"],
    "printer-impressions-completed": 12345,
    "printer-impressions-completed-col": {"monochrome": 10000, "full-color": 2345},
}

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True), st.text(max_size=20), st.just(""), st.binary(max_size=20),
    st.sampled_from([-1, -2, -3, -4, 101, 2**31, 2**63, "none", "#FF00FF", "inkCartridge"]),
)
garbage = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=6), st.tuples(inner, inner),
                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)


def _mapped(attributes: Any) -> DeviceStatus:
    status = DeviceStatus(host="x")
    apply_ipp(status, IppReading("ipp://x", (2, 0), 0, attributes, []))
    json.dumps(status.to_json(), default=str)
    return status


def _sections(status: DeviceStatus) -> dict[str, Any]:
    data = status.to_json()
    return {"identity": data["identity"], "state": data["state"],
            "supplies": data["supplies"], "counters": data["counters"]}


CLEAN_SECTIONS = _sections(_mapped(BASELINE))


@FUZZ
@given(st.sampled_from([*_KNOWN, "some-other-attribute"]), garbage)
def test_one_garbage_attribute_costs_only_its_own_fields(key: str, value: Any) -> None:
    status = _mapped({**BASELINE, key: value})
    group = next((g for g, keys in _GROUPS.items() if key in keys), None)
    sections = _sections(status)
    for name, clean in CLEAN_SECTIONS.items():
        if name != group:
            assert sections[name] == clean, name
    octets_as_text = key in _IDENTITY_ATTRIBUTES and isinstance(value, bytes)
    if key in _TEXT_ATTRIBUTES and isinstance(value, float | dict | bytes) and not octets_as_text:
        assert any(p.where == key for p in status.problems)
    assert status.reachable == {"ipp": True}


@FUZZ
@given(st.dictionaries(st.one_of(st.sampled_from(_KNOWN), st.text(max_size=10)), garbage,
                       max_size=12))
def test_garbage_attributes_never_raise(attributes: dict[str, Any]) -> None:
    _mapped(attributes)


@pytest.mark.parametrize("attributes", [None, [], "text", 42])
def test_attributes_not_a_dict(attributes: Any) -> None:
    assert [p.where for p in _mapped(attributes).problems] == ["attributes"]


def test_out_of_range_levels_are_reported_not_numbers() -> None:
    status = _mapped({"marker-names": ["A", "B", "C", "D"], "marker-levels": [150, -7, "x", 40],
                      "marker-low-levels": [10, 200, None, 5]})
    a, b, c, d = status.supplies
    assert (a.level_percent, a.over_capacity, a.level_state) == (100, True, "known")
    assert (b.level_percent, b.level_state) == (None, "unknown")
    assert (c.level_percent, c.level_state) == (None, "unknown")
    assert (d.level_percent, d.low_percent, b.low_percent) == (40, 5, None)
    assert sum(p.where == "marker-levels" for p in status.problems) == 3
    assert any(p.where == "marker-low-levels" for p in status.problems)


def test_supplies_from_printer_supply_alone() -> None:
    """A printer that sends printer-supply but no marker-* attributes (Printer-MIB levels)."""
    status = _mapped({
        "printer-supply": [
            "index=1;class=supplyThatIsConsumed;type=tonerCartridge;unit=impressions;"
            "maxcapacity=8000;level=2000;colorantname=cyan;",
            b"index=2;class=receptacleThatIsFilled;type=wasteToner;maxcapacity=-2;level=-3;",
            "index=3;type=fuser;maxcapacity=100;level=lots;",
        ],
        "printer-supply-description": ["Cyan Cartridge", "Waste Box", "Fuser"],
    })
    cyan, waste, fuser = status.supplies
    assert (cyan.kind, cyan.color, cyan.level_percent, cyan.raw_level, cyan.max_capacity,
            cyan.unit, cyan.supply_class) == ("tonerCartridge", "cyan", 25, 2000, 8000,
                                              "impressions", "consumed")
    assert (waste.kind, waste.level_state, waste.level_percent, waste.supply_class) == (
        "wasteToner", "some-remaining", None, "filled")
    assert (fuser.description, fuser.level_state, fuser.level_percent) == ("Fuser", "unknown",
                                                                           None)
    assert [p.where for p in status.problems] == ["printer-supply"]


# --------------------------------------------------------------------------------------------
# (c) device IDs and printer-supply values


@FUZZ
@given(st.one_of(st.text(), st.text(alphabet=":; =\x00\t\nMFGDLSNabc-"),
                 st.lists(st.tuples(st.text(max_size=12), st.text(max_size=12)), max_size=6)
                 .map(lambda pairs: ";".join(f"{k}:{v}" for k, v in pairs))))
def test_parse_device_id_never_raises(text: str) -> None:
    parsed = parse_device_id(text)
    assert all(isinstance(k, str) and k == k.upper() and k for k in parsed)
    assert all(isinstance(v, str) for v in parsed.values())
    for helper in (device_id_serial, device_id_model, device_id_manufacturer):
        assert helper(parsed) is None or isinstance(helper(parsed), str)


@pytest.mark.parametrize(("text", "expected"), [
    ("MFG:HP;MDL:LaserJet;SN:ABC123;", ("HP", "LaserJet", "ABC123")),
    ("MANUFACTURER:Canon;MODEL:iR C3530;SERIALNUMBER:X1;", ("Canon", "iR C3530", "X1")),
    ("mfg: Brother ; mdl : HL-L2350 ;; SERIAL NUMBER: E7 ;", ("Brother", "HL-L2350", "E7")),
    ("MFG:Xerox;SERN:Q9;", ("Xerox", None, "Q9")),
    ("\x00\x2aMFG:EPSON;MDL:ET-4850;SN:X;", ("EPSON", "ET-4850", "X")),
    ("MFG:;MDL;SN:  ;", (None, None, None)),
    ("garbage without structure", (None, None, None)),
    ("", (None, None, None)),
])
def test_device_id_examples(text: str, expected: tuple[str | None, ...]) -> None:
    parsed = parse_device_id(text)
    assert (device_id_manufacturer(parsed), device_id_model(parsed),
            device_id_serial(parsed)) == expected


def test_device_id_keeps_colons_and_empty_keys() -> None:
    parsed = parse_device_id("MFG:HP;URL:http://10.0.0.1:80/x;CLS;COMMAND SET:PCL,PJL;:orphan;")
    assert parsed["URL"] == "http://10.0.0.1:80/x"
    assert parsed["CLS"] == ""
    assert parsed["CMD"] == parsed["COMMAND SET"] == "PCL,PJL"
    assert "" not in parsed


@pytest.mark.parametrize("value", [None, 5, b"\xff\xfe", "", ";;;", "x", "=;=1;"])
def test_parse_printer_supply_garbage(value: Any) -> None:
    parsed = parse_printer_supply(value)
    assert all(isinstance(k, str) and k and isinstance(v, str) for k, v in parsed.items())


def test_parse_printer_supply_pwg_example() -> None:
    value = ("type=toner;maxcapacity=100;level=75;index=1;class=supplyThatIsConsumed;"
             "unit=percent;colorantname=black;")
    assert parse_printer_supply(value) == {
        "type": "toner", "maxcapacity": "100", "level": "75", "index": "1",
        "class": "supplyThatIsConsumed", "unit": "percent", "colorantname": "black"}
