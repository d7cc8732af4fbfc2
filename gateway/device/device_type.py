"""The device type the gateway registers (S0603), decided from what the device showed it can do.

The mappings record each function with its first evidence in `DeviceStatus.functions`
(`gateway.device.function_evidence`): HOST-RESOURCES device entries, the IEEE 1284 device ID's
command sets and classes, IPP `printer-kind`/`ipp-features-supported`/fax attributes, DNS-SD scan
and fax services, roll or A2-and-larger media.  The type follows from the functions:

- `large-format`: prints on roll media or sheets of A2 and larger (even when it also scans);
- `label`: a label printer (a label language in its device ID, a label printer's model name or
  maker, label media only: `gateway.device.function_evidence`);
- `mfp`: prints and scans, copies or faxes;
- `printer`: prints only;
- `unknown`: the reading showed nothing (neither protocol answered usefully).
"""

from __future__ import annotations

from gateway.device.model import DeviceStatus

PRINT, SCAN, FAX, COPY, LARGE_FORMAT, LABEL = (
    "print", "scan", "fax", "copy", "large-format", "label")
MFP_FUNCTIONS = frozenset({SCAN, FAX, COPY})
"""A printer that also does one of these is a multi-function device."""


def device_functions(status: DeviceStatus) -> frozenset[str]:
    """The functions the device showed (`print`, `scan`, `fax`, `copy`, `large-format`,
    `label`).

    A device that showed any other function, or a printer's marker or supplies, prints.
    """
    functions = set(status.functions)
    if functions or status.supplies:
        functions.add(PRINT)
    return frozenset(functions)


def device_type(status: DeviceStatus) -> str:
    """`large-format`, `label`, `mfp`, `printer` or `unknown` (the registration's
    `DeviceType`)."""
    functions = device_functions(status)
    if LARGE_FORMAT in functions:
        return "large-format"
    if LABEL in functions:
        return "label"
    if functions & MFP_FUNCTIONS:
        return "mfp"
    return "printer" if PRINT in functions else "unknown"


def type_evidence(status: DeviceStatus) -> dict[str, str]:
    """For diagnostics: each function the type was decided from → its first evidence."""
    evidence = dict(status.functions)
    if PRINT in device_functions(status) and PRINT not in evidence:
        evidence[PRINT] = "supplies" if status.supplies else "other functions"
    return evidence
