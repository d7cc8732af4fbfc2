"""The parser decodes only the attributes asked for (`parse_response(body, wanted)`): the others
are stepped over by their lengths, the framing of the whole body is still checked, and what is
decoded is decoded as before."""

from __future__ import annotations

import struct

import pytest

from protocols.ipp.model import REQUESTED_ATTRIBUTES
from protocols.ipp.parser import parse_response
from tests.support.paths import IPP_FIXTURES

WANTED = frozenset(REQUESTED_ATTRIBUTES)
REAL = sorted((IPP_FIXTURES / "real").glob("*.bin"))


def _item(tag: int, name: bytes, value: bytes) -> bytes:
    return struct.pack(">BH", tag, len(name)) + name + struct.pack(">H", len(value)) + value


def _body(*printer: bytes, charset: bytes = b"utf-8", end: bool = True) -> bytes:
    return b"".join((struct.pack(">BBHI", 2, 0, 0, 1), b"\x01",
                     _item(0x47, b"attributes-charset", charset),
                     _item(0x48, b"attributes-natural-language", b"en"),
                     b"\x04", *printer, b"\x03" if end else b""))


@pytest.mark.parametrize("path", REAL, ids=[p.stem for p in REAL])
def test_real_answers_parse_as_before_for_the_attributes_asked(path) -> None:  # type: ignore[no-untyped-def]
    body = path.read_bytes()
    status, version, everything, problems = parse_response(body)
    assert parse_response(body, WANTED) == (
        status, version, {k: v for k, v in everything.items() if k in WANTED}, problems)


def test_unrequested_attributes_are_stepped_over_unread() -> None:
    body = _body(
        _item(0x44, b"marker-names", b"Black"), _item(0x44, b"", b"Cyan"),
        _item(0x21, b"media-ready", b"\1"),  # broken INTEGER (1 byte), not asked
        _item(0x21, b"", b"\0\0"),
        _item(0x34, b"media-col-ready", b""),  # a broken collection, not asked
        _item(0x4A, b"", b"media-size"), _item(0x37, b"", b""), _item(0x37, b"", b""),
        _item(0x44, b"marker-colors", b"#000000"), _item(0x44, b"", b"#00FFFF"),
        _item(0x23, b"printer-state", struct.pack(">i", 4)),
    )
    _, _, attributes, problems = parse_response(body, WANTED)
    assert attributes == {"marker-names": ["Black", "Cyan"],
                          "marker-colors": ["#000000", "#00FFFF"], "printer-state": 4}
    assert problems == []
    _, _, everything, all_problems = parse_response(body)
    assert len(all_problems) == 2 and "media-ready" not in everything


def test_broken_requested_attributes_are_still_problems() -> None:
    body = _body(_item(0x21, b"printer-up-time", b"\1"),
                 _item(0x41, b"printer-info", b"\xff\xfe"),
                 _item(0x42, b"printer-name", b"Laser"))
    _, _, attributes, problems = parse_response(body, WANTED)
    assert attributes == {"printer-name": "Laser"}
    assert [p.split(":")[0] for p in problems] == ["printer-up-time", "printer-info"]


def test_the_framing_is_checked_inside_unrequested_attributes() -> None:
    cut = _body(_item(0x42, b"printer-name", b"Laser"),
                _item(0x44, b"media-size-supported", b"iso_a4_210x297mm"),
                _item(0x44, b"", b"iso_a3_297x420mm"), end=False)[:-5]
    _, _, attributes, problems = parse_response(cut, WANTED)
    assert attributes == {"printer-name": "Laser"}
    assert len(problems) == 1 and problems[0].startswith("body truncated: item at byte ")


def test_a_value_without_a_name_is_still_reported() -> None:
    body = _body(_item(0x44, b"", b"orphan"), _item(0x42, b"printer-name", b"Laser"))
    _, _, attributes, problems = parse_response(body, WANTED)
    assert attributes == {"printer-name": "Laser"}
    assert problems == parse_response(body)[3]
    assert len(problems) == 1 and problems[0].endswith(": value without an attribute name, skipped")


def test_other_groups_are_skipped_and_the_charset_still_read() -> None:
    job_group = b"\x02" + _item(0x21, b"job-id", b"\1")  # broken, and not the printer's
    body = _body(charset=b"iso-8859-1")[:-2] + job_group + b"\x04" + _item(
        0x41, b"printer-location", b"B\xfcro") + b"\x03"
    _, _, attributes, problems = parse_response(body, WANTED)
    assert (attributes, problems) == ({"printer-location": "Büro"}, [])


def test_values_that_steer_a_collection_are_not_read_as_text() -> None:
    """Keyword and integer values are decoded on the parser's fast path; a member name (UTF-8
    too) or a collection's end out of place are still problems of their attribute."""
    body = _body(_item(0x4A, b"printer-name", b"Laser"),
                 _item(0x37, b"printer-info", b""),
                 _item(0x44, b"marker-names", b"Black"), _item(0x4A, b"", b"x"),
                 _item(0x21, b"printer-up-time", b"\0\0\0\7"))
    _, _, attributes, problems = parse_response(body, WANTED)
    assert attributes == {"printer-up-time": 7}
    assert [p.split(":")[0] for p in problems] == ["printer-name", "printer-info", "marker-names"]
    assert "memberAttrName outside a collection" in problems[0]
    assert "endCollection without begCollection" in problems[1]
