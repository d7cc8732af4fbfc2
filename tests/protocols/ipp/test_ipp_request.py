"""The Get-Printer-Attributes request body (`protocols.ipp.request`): each printer's URI spliced
into one encoded template is pyipp's own encoding, byte for byte, for any number of printers."""

from __future__ import annotations

import struct

import pytest

from protocols.ipp.model import REQUESTED_ATTRIBUTES
from protocols.ipp.request import _encode, encode_request


def pyipp_body(uri: str, version: tuple[int, int], requested: tuple[str, ...]) -> bytes:
    """pyipp's own encoding of the request for `uri`, no template."""
    return _encode(uri, version, requested)


@pytest.mark.parametrize("uri", [
    "ipp://192.0.2.1:631/ipp/print", "ipps://[2001:db8::1]:443/ipp/print", "ipp://h/",
    "ipp://printer.example/ipp/print/éè" + "x" * 300, "ipp://192.0.2.1:631/printgw:printer-uri"])
@pytest.mark.parametrize("version", [(2, 0), (1, 1)])
@pytest.mark.parametrize("requested", [REQUESTED_ATTRIBUTES, ("all",), ("printer-name",)])
def test_the_body_is_pyipps_encoding(uri: str, version: tuple[int, int],
                                     requested: tuple[str, ...]) -> None:
    assert encode_request(uri, version, requested) == pyipp_body(uri, version, requested)


def test_ten_thousand_printers_each_get_their_own_uri() -> None:
    for n in range(10_000):
        uri = f"ipp://127.{n >> 8 & 255}.{n & 255}.1:631/ipp/print"
        body = encode_request(uri, (2, 0))
        value = uri.encode()
        assert struct.pack(">h", len(value)) + value in body
    assert encode_request(uri, (2, 0)) == pyipp_body(uri, (2, 0), REQUESTED_ATTRIBUTES)


def test_a_uri_too_long_for_ipp_fails_as_pyipp_does() -> None:
    uri = "ipp://h/" + "x" * 40_000
    with pytest.raises(struct.error):
        pyipp_body(uri, (2, 0), REQUESTED_ATTRIBUTES)
    with pytest.raises(struct.error):
        encode_request(uri, (2, 0))
