"""A support recording of a printer's SNMP agent: everything printgw reads, in every context, as
snmpsim `.snmprec` text (`OID|TAG|VALUE`, sorted by OID), optionally masked.

What is recorded is what the reader reads, by construction: the reading itself
(`read_printer`) runs through a `RecordingClient`, which keeps every value any GET or walk
returned, by context; then every context the vendor keeps data in (`Vendor.contexts`) is read in
full by `reading_plan`, also where the reader would not have needed it.  Each walk is bounded as
the reader's are (`EXPECTED_ROWS`, the deadline).

The client returns plain Python values (`SnmpValue`), so the wire type of an integer is inferred:
the counters and time ticks printgw reads are written as Counter32 (65) and TimeTicks (67), other
integers as INTEGER (2), or Counter32/Counter64 beyond its range; a dotted quad as IpAddress (64),
other OIDs as OBJECT IDENTIFIER (6).  The reader reads back exactly the values it read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from protocols.device_id import device_id_serial, parse_device_id
from protocols.masking import Masker
from protocols.snmp import contract_mib, oids
from protocols.snmp.client import SnmpClient
from protocols.snmp.model import (
    SnmpError,
    SnmpTarget,
    SnmpTimeout,
    SnmpValue,
    WalkStopped,
    oid_tuple,
)
from protocols.snmp.printer import EXPECTED_ROWS, PrinterReading, read_printer, reading_plan
from protocols.snmp.vendors import Vendor

COUNTER32, TIMETICKS = "65", "67"
_TAG_BY_COLUMN = {
    oids.sysUpTime: TIMETICKS,
    oids.prtMarkerLifeCount: COUNTER32,
    oids.prtMarkerPowerOnCount: COUNTER32,
    oids.prtAlertTime: TIMETICKS,
    oids.hrDeviceErrors: COUNTER32,
    contract_mib.pgwContractPageCount: COUNTER32,
    contract_mib.pgwCartridgeReplacementCount: COUNTER32,
    contract_mib.pgwColorPageCount: COUNTER32,
    contract_mib.pgwMonochromePageCount: COUNTER32,
}
"""Integer objects of another type than INTEGER, by column (or scalar) OID."""
_SERIAL_IN_TEXT = re.compile(
    r"\b(?:S/N|SN|SERIAL(?:[ _-]?NUMBER)?)\s*[:#=]?\s*([A-Z0-9][A-Z0-9-]{3,})", re.IGNORECASE)
"""A serial number quoted in `sysDescr` ("…; SN CNB1234567", "S/N: E7…")."""
_INT32 = range(-(2**31), 2**31)
_UINT32 = range(2**32)


@dataclass
class SnmpRecording:
    """The values read, by context ("" = default) and numeric OID; what went wrong."""

    contexts: dict[str, dict[str, SnmpValue]] = field(default_factory=dict)
    vendor: Vendor | None = None
    problems: list[str] = field(default_factory=list)


class RecordingClient(SnmpClient):
    """An `SnmpClient` that keeps every value a GET or a walk returned, by context; of a walk
    that stopped early, what the reader uses (the values before a loop; nothing of a table cut
    at its row limit or deadline, which the manifest's problems name)."""

    def __init__(self) -> None:
        super().__init__()
        self.recorded: dict[str, dict[str, SnmpValue]] = {}

    def _keep(self, target: SnmpTarget, values: dict[str, SnmpValue]) -> None:
        self.recorded.setdefault(target.credentials.context, {}).update(values)

    async def get(self, target: SnmpTarget, wanted: Sequence[str]) -> dict[str, SnmpValue]:
        values = await super().get(target, wanted)
        self._keep(target, values)
        return values

    async def walk_each(self, target: SnmpTarget, roots: Iterable[str],
                        deadline: float | None = None,
                        expected: Mapping[str, int | None] | None = None,
                        ) -> dict[str, dict[str, SnmpValue] | SnmpError]:
        outcomes = await super().walk_each(target, roots, deadline, expected)
        for outcome in outcomes.values():
            if isinstance(outcome, WalkStopped):
                if outcome.usable:  # a cut table is not used by the reader: not recorded either
                    self._keep(target, outcome.values)
            elif not isinstance(outcome, SnmpError):
                self._keep(target, outcome)
        return outcomes


async def record_snmp(client: RecordingClient, target: SnmpTarget,
                      deadline: float | None = None) -> SnmpRecording:
    """Record the agent at `target`: the reader's reading, then each of the vendor's contexts in
    full.  Raises `SnmpTimeout` when the agent does not answer at all; a context that does not
    answer, or a walk that fails, is a problem of the recording."""
    reading: PrinterReading = await read_printer(client, target, deadline)
    recording = SnmpRecording(vendor=reading.vendor, problems=list(reading.problems))
    subtrees, scalars = reading_plan(reading.vendor)
    for context in reading.vendor.contexts:
        scoped = SnmpTarget(target.host, target.port, target.credentials.with_context(context),
                            target.timeout, retries=0)
        try:
            await _read_all(client, scoped, subtrees, scalars, deadline, recording)
        except SnmpTimeout:
            recording.problems.append(f"context {context!r}: no answer")
        except SnmpError as exc:
            recording.problems.append(f"context {context!r}: {exc}")
    recording.contexts = {context: values for context, values in client.recorded.items()
                          if values}
    return recording


async def _read_all(client: SnmpClient, target: SnmpTarget, subtrees: tuple[str, ...],
                    scalars: tuple[str, ...], deadline: float | None,
                    recording: SnmpRecording) -> None:
    await client.get(target, list(scalars))  # proves the context answers
    results = await client.walk_each(target, subtrees, deadline, EXPECTED_ROWS)
    for root, result in results.items():
        if isinstance(result, SnmpError):
            recording.problems.append(f"context {target.credentials.context!r}: walk {root}: "
                                      f"{result}")


# -- snmprec ---------------------------------------------------------------------------------------

def _printable(raw: bytes) -> bool:
    """Written as it is: printable ASCII without edge spaces (snmpsim and editors keep it)."""
    return (all(0x20 <= b < 0x7F for b in raw) and raw == raw.strip()) if raw else True


def _is_ip_address(text: str) -> bool:
    parts = text.split(".")
    return len(parts) == 4 and all(p.isdigit() and int(p) <= 255 for p in parts)


def snmprec_line(oid: str, value: SnmpValue) -> str | None:
    """One `OID|TAG|VALUE` line; None for a value that has no wire form (absent)."""
    if isinstance(value, bytes):
        if _printable(value):
            return f"{oid}|4|{value.decode('ascii')}"
        return f"{oid}|4x|{value.hex()}"
    if isinstance(value, int):
        column = oid.rpartition(".")[0]
        tag = _TAG_BY_COLUMN.get(column) or _TAG_BY_COLUMN.get(column.rpartition(".")[0])
        if tag is None or value not in _UINT32:
            tag = "2" if value in _INT32 else "65" if value in _UINT32 else "70"
        return f"{oid}|{tag}|{value}"
    if isinstance(value, str):
        return f"{oid}|{'64' if _is_ip_address(value) else '6'}|{value}"
    return None


def to_snmprec(values: dict[str, SnmpValue]) -> str:
    """The values as snmprec text, sorted by OID (as snmpsim wants them)."""
    lines = (snmprec_line(oid, values[oid]) for oid in sorted(values, key=oid_tuple))
    return "".join(line + "\n" for line in lines if line is not None)


# -- masking ---------------------------------------------------------------------------------------

def _serials(values: dict[str, SnmpValue], vendor: Vendor | None) -> list[str]:
    """Serial numbers: the Printer-MIB column, the vendor's objects, device IDs' `SN:`."""
    found = []
    serial_oids = set(vendor.serial) if vendor else set()
    for oid, value in values.items():
        if not isinstance(value, bytes):
            continue
        text = value.decode("utf-8", "replace")
        if oid in serial_oids or oid.startswith(oids.prtGeneralSerialNumber + "."):
            found.append(text)
        elif oid == f"{oids.sysDescr}.0":
            found += [s for s in _SERIAL_IN_TEXT.findall(text) if any(c.isdigit() for c in s)]
        elif "MFG:" in text.upper() or "MDL:" in text.upper():
            serial = device_id_serial(parse_device_id(text))
            if serial:
                found.append(serial)
    return found


def _is_mac(oid: str, value: bytes) -> bool:
    return len(value) == 6 and any(value) and (oid.startswith(oids.ifPhysAddress + ".")
                                or not _printable(value))


def learn_secrets(recording: SnmpRecording, masker: Masker) -> None:
    """Tell `masker` the serials, MACs and addresses the recording holds (before `mask_snmp`, and
    before the IPP answer is masked: a serial only one protocol names is masked in both)."""
    for values in recording.contexts.values():
        for serial in _serials(values, recording.vendor):
            masker.add_serial(serial)
        for oid, value in values.items():
            if isinstance(value, bytes) and _is_mac(oid, value):
                masker.add_mac(value)
            elif isinstance(value, str) and _is_ip_address(value):
                masker.add_address(value)


def mask_snmp(recording: SnmpRecording, masker: Masker) -> None:
    """Mask serials, MACs and addresses in every context's values, in place (see
    `protocols.masking`), once `masker` learnt them all (`learn_secrets`)."""
    for values in recording.contexts.values():
        for oid, value in values.items():
            if isinstance(value, bytes):
                values[oid] = masker.mac(value) if _is_mac(oid, value) else masker.text(value)
            elif isinstance(value, str) and _is_ip_address(value):
                values[oid] = masker.ipv4(value)
