"""What an IPP reading of a printer is: the attributes asked for, the reading, the errors.

Kept apart from the HTTP client (`protocols.ipp.client`) and the response parser
(`protocols.ipp.parser`), which both speak in these terms, as do the gateway's mappings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REQUESTED_ATTRIBUTES: tuple[str, ...] = (
    "printer-make-and-model",
    "printer-info",
    "printer-name",
    "printer-location",
    "printer-device-id",
    "printer-uuid",
    "printer-serial-number",
    "printer-firmware-name",
    "printer-firmware-string-version",
    "printer-firmware-version",
    "printer-state",
    "printer-state-reasons",
    "printer-state-message",
    "printer-alert",
    "printer-alert-description",
    "printer-supply",
    "printer-supply-description",
    "printer-supply-info-uri",
    "marker-names",
    "marker-colors",
    "marker-types",
    "marker-levels",
    "marker-high-levels",
    "marker-low-levels",
    "printer-up-time",
    "printer-more-info",
    "printer-uri-supported",
    "printer-is-accepting-jobs",
    "printer-impressions-completed",
    "printer-impressions-completed-col",
    "printer-media-sheets-completed",
    "printer-geo-location",
    "printer-organization",
    # what the device can do (gateway/device/function_evidence.py: the registration's device type)
    "printer-kind",
    "ipp-features-supported",
    "media-supported",
    "printer-fax-modem-name",
    "printer-fax-modem-info",
)
"""Asked for by name: some printers (and ippeveprinter) only send e.g. the serial when named."""

DECODED_WHEN_SENT: frozenset[str] = frozenset({"media-size-supported", "media-ready"})
"""Not asked for (their answers are large), but read when a printer sends them anyway (a printer
that ignores `requested-attributes` and sends all): `gateway/device/function_evidence.py`."""
DECODED_PREFIXES: tuple[str, ...] = ("printer-fax-",)
"""Attributes read by the start of their name when sent: any `printer-fax-…` is fax evidence."""
GROUP_KEYWORDS: frozenset[str] = frozenset({
    "all", "printer-description", "printer-status", "job-template", "printer-defaults",
    "job-description", "job-status", "document-description", "document-template",
    "subscription-template", "subscription-description"})
"""`requested-attributes` values that name a group of attributes (RFC 8011 §4.2.5.1 and its
extensions), not one: a reading asking for one of them decodes every attribute."""

MULTI_VALUED: frozenset[str] = frozenset({
    "printer-firmware-name",
    "printer-firmware-string-version",
    "printer-firmware-version",
    "printer-state-reasons",
    "printer-alert",
    "printer-alert-description",
    "printer-supply",
    "printer-supply-description",
    "marker-names",
    "marker-colors",
    "marker-types",
    "marker-levels",
    "marker-high-levels",
    "marker-low-levels",
    "printer-uri-supported",
    "printer-organization",
    "printer-kind",
    "ipp-features-supported",
    "media-supported",
    "printer-fax-modem-name",
    "printer-fax-modem-info",
})
"""1setOf attributes among those requested: always lists in `IppReading.attributes`, even with one
value.  Other attributes are a scalar with one value and a list with several."""


DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024
"""The largest answer read by default: 4 MiB, some 200 times a real printer's answer to
`REQUESTED_ATTRIBUTES` (5-20 KB)."""


class IppError(Exception):
    """Reading a printer over IPP failed."""


class IppUnreachable(IppError):
    """No answer: the connection failed or timed out."""


class IppTlsError(IppError):
    """The TLS handshake failed, typically on a certificate that is not trusted."""


class IppProtocolError(IppError):
    """The printer answered, but not with a usable IPP response."""


class IppTooLarge(IppProtocolError):
    """The answer was larger than the reader's limit; reading stopped there."""


class IppRedirectRefused(IppProtocolError):
    """The printer redirected elsewhere than its own host and port (or too often); the target
    was not contacted."""


@dataclass
class IppReading:
    uri: str
    version: tuple[int, int]
    """The IPP version that answered."""
    status_code: int
    attributes: dict[str, Any]
    """The printer-attributes group; 1setOf values as lists (see `MULTI_VALUED`)."""
    problems: list[str] = field(default_factory=list)
    """Attributes that could not be decoded, and why."""


def parse_printer_supply(value: str | bytes | None) -> dict[str, str]:
    """One `printer-supply` value (PWG 5100.13): `type=toner;maxcapacity=100;level=75;…`.

    Keys are lower-cased; a value may itself contain `=`; segments without `=` are dropped.
    Never raises: anything that is not text gives `{}`.
    """
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return {}
    supply: dict[str, str] = {}
    for segment in value.split(";"):
        key, equals, item = segment.partition("=")
        key = key.strip().lower()
        if key and equals and key not in supply:
            supply[key] = item.strip()
    return supply
