"""The Get-Printer-Attributes request body, encoded with pyipp's serializer.

Every request of one IPP version asking for the same attributes is the same bytes but for the
printer's URI, so the body is encoded once per version and attribute list, and each printer's URI
spliced into it (a two-byte length and the URI's UTF-8 bytes, as pyipp writes it): no per-printer
cache to outgrow (a cache of 4,096 bodies missed every read of a larger fleet read in turn).
"""

from __future__ import annotations

import functools
import struct

from pyipp.enums import IppOperation
from pyipp.serializer import encode_dict

from protocols.ipp.model import REQUESTED_ATTRIBUTES

_MARKER = "printgw:printer-uri"
"""Stands for the printer's URI in the encoded template; no other value of the request holds it."""


def encode_request(uri: str, version: tuple[int, int],
                   requested: tuple[str, ...] = REQUESTED_ATTRIBUTES) -> bytes:
    """The request body: pyipp's encoding, byte for byte."""
    head, tail = _template(version, requested)
    value = uri.encode("utf-8")
    return b"".join((head, struct.pack(">h", len(value)), value, tail))


@functools.lru_cache(maxsize=16)
def _template(version: tuple[int, int], requested: tuple[str, ...]) -> tuple[bytes, bytes]:
    """The body around the URI's length and value."""
    body = _encode(_MARKER, version, requested)
    marker = _MARKER.encode("utf-8")
    at = body.index(struct.pack(">h", len(marker)) + marker)
    return body[:at], body[at + 2 + len(marker):]


def _encode(uri: str, version: tuple[int, int], requested: tuple[str, ...]) -> bytes:
    return encode_dict({
        "version": version,
        "operation": IppOperation.GET_PRINTER_ATTRIBUTES,
        "request-id": 1,
        "operation-attributes-tag": {
            "attributes-charset": "utf-8",
            "attributes-natural-language": "en",
            "printer-uri": uri,
            "requesting-user-name": "printgw",
            "requested-attributes": list(requested),
        },
    })
