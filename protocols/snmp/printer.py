"""What to read from a printer's SNMP agent: the subtrees and scalars a fleet service needs.

`read_printer` returns the raw values by numeric OID; the gateway's device mapping gives them
meaning.
Only the needed subtrees are walked (never the whole agent from `.1`): a corrupt row elsewhere
in a device's MIB must not end the reading early, and a full walk costs far more.

Each walk is bounded (`SnmpClient.walk`): by the values its table can plausibly hold
(`EXPECTED_ROWS`, or twice what the device's table had last time) and by the reading's deadline.
A walk that loops, never ends or runs out of time is a problem of the reading; the other subtrees'
values are still used (and a looping walk's values up to the loop).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from protocols.snmp import contract_mib, oids
from protocols.snmp.client import SnmpClient
from protocols.snmp.model import SnmpError, SnmpTarget, SnmpValue, WalkStopped
from protocols.snmp.vendors import Vendor, vendor_for

SYSTEM_SCALARS = tuple(f"{oid}.0" for oid in (
    oids.sysDescr, oids.sysObjectID, oids.sysUpTime, oids.sysName, oids.sysLocation))

PRINTER_SUBTREES = (
    oids.hrDeviceEntry,
    oids.hrPrinterEntry,
    oids.prtGeneralPrinterName,
    oids.prtGeneralSerialNumber,
    oids.prtMarkerEntry,
    oids.prtMarkerSuppliesEntry,
    oids.prtMarkerColorantEntry,
    oids.prtAlertEntry,
    oids.prtConsoleDisplayBufferText,
)
INTERFACE_SUBTREES = (oids.ifPhysAddress,)
CONTRACT_SUBTREES = (contract_mib.pgwObjects,)
"""The project's contract MIB (contract mode, counters, cartridge type/ID per supply); a device
without it ends the walk at once."""

EXPECTED_ROWS = {
    oids.hrDeviceEntry: 1_000,  # 6 columns; MFPs list a few dozen devices
    oids.hrPrinterEntry: 100,
    oids.prtGeneralPrinterName: 64,
    oids.prtGeneralSerialNumber: 64,
    oids.prtMarkerEntry: 500,
    oids.prtMarkerSuppliesEntry: 2_000,  # 9+ columns; large devices have 60 supplies and more
    oids.prtMarkerColorantEntry: 500,
    oids.prtAlertEntry: 2_000,  # 9 columns; the alert table keeps up to a few hundred rows
    oids.prtConsoleDisplayBufferText: 200,
    oids.ifPhysAddress: 500,
    contract_mib.pgwObjects: 1_000,
}
"""Values each walk may read, by subtree: several times what real printers hold (the recordings
in `shared/fixtures/snmp` have at most 120 in a table), so that only a broken or hostile agent
reaches it.  `SnmpClient.walk_limit` raises it for a table that grew, up to its hard cap."""


@dataclass
class PrinterReading:
    """Everything read from one agent, by numeric OID, and what could not be read."""

    values: dict[str, SnmpValue] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    vendor: Vendor = field(default_factory=lambda: vendor_for(None))
    context: str = ""
    """The SNMP context the printer data came from ("" = default)."""

    def scalar(self, oid: str) -> SnmpValue:
        return self.values.get(oid)

    def column(self, column_oid: str) -> dict[str, SnmpValue]:
        """One table column as {row index: value}, e.g. {"1.3": 75} for prtMarkerSuppliesLevel."""
        prefix = column_oid + "."
        return {oid[len(prefix):]: value for oid, value in self.values.items()
                if oid.startswith(prefix)}


async def _walk_into(client: SnmpClient, target: SnmpTarget, roots: tuple[str, ...],
                     reading: PrinterReading, deadline: float | None) -> None:
    results = await asyncio.gather(
        *(client.walk(target, root, EXPECTED_ROWS.get(root), deadline) for root in roots),
        return_exceptions=True)
    for root, result in zip(roots, results, strict=True):
        if isinstance(result, WalkStopped):
            reading.problems.append(str(result))
            if result.usable:
                reading.values.update(result.values)
        elif isinstance(result, SnmpError):
            reading.problems.append(f"walk {root}: {result}")
        elif isinstance(result, BaseException):
            raise result
        else:
            reading.values.update(result)


async def read_printer(client: SnmpClient, target: SnmpTarget,
                       deadline: float | None = None) -> PrinterReading:
    """Read a printer's system group, Printer-MIB and HOST-RESOURCES tables and vendor objects.

    Raises `SnmpTimeout` when the agent does not answer at all; anything that fails after the
    agent answered is recorded in `problems` and the rest of the reading is kept.  Walks still
    under way at `deadline` (the event loop's clock) stop there, each a problem.
    """
    reading = PrinterReading()
    system = await client.get(target, SYSTEM_SCALARS)  # also proves the agent is there
    reading.values.update(system)
    sys_object_id = system.get(f"{oids.sysObjectID}.0")
    reading.vendor = vendor_for(sys_object_id if isinstance(sys_object_id, str) else None)

    vendor_oids = reading.vendor.oids()
    tasks = [_walk_into(client, target,
                        PRINTER_SUBTREES + INTERFACE_SUBTREES + CONTRACT_SUBTREES, reading,
                        deadline)]
    if vendor_oids:
        tasks.append(_get_into(client, target, vendor_oids, reading))
    await asyncio.gather(*tasks)

    if reading.vendor.contexts and not _has_printer_data(reading):
        await _read_contexts(client, target, reading, deadline)
    return reading


async def _get_into(client: SnmpClient, target: SnmpTarget, wanted: list[str],
                    reading: PrinterReading) -> None:
    try:
        reading.values.update(await client.get(target, wanted))
    except SnmpError as exc:
        reading.problems.append(f"vendor objects: {exc}")


def _has_printer_data(reading: PrinterReading) -> bool:
    return bool(reading.column(oids.prtMarkerSuppliesLevel) or reading.column(oids.hrDeviceType))


async def _read_contexts(client: SnmpClient, target: SnmpTarget, reading: PrinterReading,
                         deadline: float | None) -> None:
    """Some print servers (HP Jetdirect) keep the printer's MIB in a named context only."""
    for context in reading.vendor.contexts:
        scoped = SnmpTarget(target.host, target.port, target.credentials.with_context(context),
                            target.timeout, retries=0)
        found = PrinterReading(vendor=reading.vendor, context=context)
        await _walk_into(client, scoped, PRINTER_SUBTREES, found, deadline)
        if _has_printer_data(found):
            reading.values.update(found.values)
            reading.context = context
            return
