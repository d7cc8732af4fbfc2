"""The Get-Printer-Attributes request body, encoded with pyipp's serializer."""

from __future__ import annotations

import functools

from pyipp.enums import IppOperation
from pyipp.serializer import encode_dict

from protocols.ipp.model import REQUESTED_ATTRIBUTES


@functools.lru_cache(maxsize=4096)
def encode_request(uri: str, version: tuple[int, int],
                   requested: tuple[str, ...] = REQUESTED_ATTRIBUTES) -> bytes:
    """The request body; the same for every reading of a printer, so encoded once."""
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
