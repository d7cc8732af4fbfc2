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
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from protocols.snmp import contract_mib, oids, pwg_counters
from protocols.snmp.client import SnmpClient
from protocols.snmp.model import SnmpError, SnmpTarget, SnmpTimeout, SnmpValue, WalkStopped
from protocols.snmp.vendor_counters import VENDOR_COUNTERS, VendorCounters, counters_for
from protocols.snmp.vendors import Vendor, vendor_for

SYSTEM_SCALARS = tuple(f"{oid}.0" for oid in (
    oids.sysDescr, oids.sysObjectID, oids.sysUpTime, oids.sysName, oids.sysLocation))

PRINTER_SUBTREES = (
    oids.hrDeviceType,
    oids.hrDeviceDescr,
    oids.hrDeviceStatus,
    oids.hrPrinterEntry,
    oids.prtGeneralSerialNumber,
    oids.prtMarkerLifeCount,
    oids.prtMarkerSuppliesEntry,
    oids.prtMarkerColorantValue,
    oids.prtAlertSeverityLevel,
    oids.prtAlertTrainingLevel,
    oids.prtAlertGroup,
    oids.prtAlertCode,
    oids.prtAlertDescription,
    oids.prtConsoleDisplayBufferText,
)
"""The tables' columns the gateway maps (`gateway.device`), each walked on its own (several to a
GETBULK, `bulk_walk`): a whole entry's other columns (the marker's technology and power-on count,
an alert's location and time, ...) would cost a value each to send, decode and drop at every
reading.  A table of which most columns are used (hrPrinterEntry, prtMarkerSuppliesEntry) is
walked whole.  A column the mapping starts to use belongs here."""
INTERFACE_SUBTREES = (oids.ifPhysAddress,)
CONTRACT_SUBTREES = (contract_mib.pgwObjects,)
"""The project's contract MIB (contract mode, counters, cartridge type/ID per supply); a device
without it ends the walk at once."""
COUNTER_SUBTREES = pwg_counters.SUBTREES
"""The PWG Imaging System Counter MIB's key and counter tables (`pwg_counters`), where a device
has them."""

EXPECTED_ROWS = {
    # HOST-RESOURCES: MFPs list a few dozen devices
    **dict.fromkeys((oids.hrDeviceType, oids.hrDeviceDescr, oids.hrDeviceStatus), 200),
    oids.hrPrinterEntry: 100,
    oids.prtGeneralSerialNumber: 64,
    oids.prtMarkerLifeCount: 100,
    oids.prtMarkerSuppliesEntry: 2_000,  # 8 columns; large devices have 60 supplies and more
    oids.prtMarkerColorantValue: 100,
    # the alert table keeps up to a few hundred rows
    **dict.fromkeys((oids.prtAlertSeverityLevel, oids.prtAlertTrainingLevel, oids.prtAlertGroup,
                     oids.prtAlertCode, oids.prtAlertDescription), 300),
    oids.prtConsoleDisplayBufferText: 200,
    oids.ifPhysAddress: 500,
    contract_mib.pgwObjects: 1_000,
    **pwg_counters.EXPECTED_ROWS,
    # the vendors' counter tables (`vendor_counters`): each column as the table's definition says
    **{column: meters.table.expected_rows for meters in VENDOR_COUNTERS.values()
       if meters.table is not None for column in meters.columns()},
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
    meters: VendorCounters | None = None
    """The vendor's page counter objects (`vendor_counters`), where it has any."""
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
    results = await client.walk_each(target, roots, deadline, EXPECTED_ROWS)
    for root, result in results.items():
        if isinstance(result, WalkStopped):
            reading.problems.append(str(result))
            if result.usable:
                reading.values.update(result.values)
        elif isinstance(result, SnmpError):
            reading.problems.append(f"walk {root}: {result}")
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
    known = client.memory.object_id(target)
    guessed = _vendor_oids(vendor_for(known)) if known is not None else []
    system, asked = await _system(client, target, guessed)  # also proves the agent is there
    sys_object_id = system.get(f"{oids.sysObjectID}.0")
    sys_object_id = sys_object_id if isinstance(sys_object_id, str) else None
    client.memory.remember_object_id(target, sys_object_id)
    reading.vendor = vendor_for(sys_object_id)
    reading.meters = counters_for(reading.vendor.name)

    vendor_oids = _vendor_oids(reading.vendor)
    if asked and vendor_oids == guessed:  # the vendor's objects came with the system group
        reading.values.update(system)
        vendor_oids = []
    else:
        reading.values.update((oid, system[oid]) for oid in SYSTEM_SCALARS if oid in system)
    subtrees = PRINTER_SUBTREES + INTERFACE_SUBTREES + CONTRACT_SUBTREES + COUNTER_SUBTREES
    if reading.meters is not None:
        subtrees += reading.meters.columns()
    await _together(_walk_into(client, target, subtrees, reading, deadline),
                    _get_into(client, target, vendor_oids, reading) if vendor_oids else None)

    if reading.vendor.contexts and _lacking(reading):
        await _read_contexts(client, target, reading, deadline)
    return reading


async def _system(client: SnmpClient, target: SnmpTarget,
                  vendor_oids: list[str]) -> tuple[dict[str, SnmpValue], bool]:
    """The system group's values, and whether `vendor_oids` were asked in the same GET: the
    objects of the vendor the agent was at its last reading, one request fewer per reading.  An
    agent that fails that GET with an error status is asked the system group alone (the
    vendor's objects then come as when the vendor is new)."""
    if vendor_oids:
        try:
            return await client.get(target, [*SYSTEM_SCALARS, *vendor_oids]), True
        except SnmpTimeout:
            raise
        except SnmpError:
            pass
    return await client.get(target, SYSTEM_SCALARS), False


async def _together(walks: Coroutine[Any, Any, None],
                    gets: Coroutine[Any, Any, None] | None) -> None:
    """Run the walks and the GET of the vendor's objects at once, the GET sent first (in the same
    loop tick as the walks' first requests), as one task more rather than a `gather` of two."""
    if gets is None:
        await walks
        return
    getting = asyncio.ensure_future(gets)
    try:
        await walks
    except BaseException:
        getting.cancel()
        raise
    await getting


def _vendor_oids(vendor: Vendor) -> list[str]:
    """The vendor's scalar objects: identity (`vendors`) and page counters (`vendor_counters`)."""
    meters = counters_for(vendor.name)
    return vendor.oids() + (meters.scalar_oids() if meters is not None else [])


async def _get_into(client: SnmpClient, target: SnmpTarget, wanted: list[str],
                    reading: PrinterReading) -> None:
    try:
        reading.values.update(await client.get(target, wanted))
    except SnmpError as exc:
        reading.problems.append(f"vendor objects: {exc}")


CONTEXT_PROBE_TIMEOUT = 1.0
"""Seconds to wait for a context's first answer: an agent without the context never answers, and
a device lacking some field would otherwise cost a full timeout at every reading."""


def _lacking(reading: PrinterReading) -> list[str]:
    """What a fleet service needs that the reading holds in none of its places: supplies, the
    printer's device entries, a serial, a page counter, the device ID.  (A vendor object the
    device lacks while it gives the same thing elsewhere, a colour counter of a mono printer,
    is no reason to ask another context.)"""
    vendor = reading.vendor
    meters = reading.meters.scalar_oids() if reading.meters is not None else []
    wanted = {
        "supplies": [oids.prtMarkerSuppliesLevel],
        "devices": [oids.hrDeviceType, oids.hrDeviceDescr],
        "serial": [oids.prtGeneralSerialNumber, *vendor.serial],
        "counters": [oids.prtMarkerLifeCount, *meters],
        "device ID": list(vendor.device_ids()),
    }
    return [name for name, places in wanted.items()
            if not any(reading.values.get(oid) is not None or reading.column(oid)
                       for oid in places)]


async def _read_contexts(client: SnmpClient, target: SnmpTarget, reading: PrinterReading,
                         deadline: float | None) -> None:
    """Some print servers (HP Jetdirect) keep the printer's MIB, or part of it (the device ID,
    the serial, the supplies), in a named context only: what the default context lacks is taken
    from there, object by object (the default context's values win).  One GET first: an agent
    without the context does not answer it, and the walks are not tried."""
    for context in reading.vendor.contexts:
        if context == target.credentials.context:
            continue
        scoped = SnmpTarget(target.host, target.port, target.credentials.with_context(context),
                            target.timeout, retries=0)
        probe = SnmpTarget(scoped.host, scoped.port, scoped.credentials,
                           min(target.timeout, CONTEXT_PROBE_TIMEOUT), retries=0)
        try:
            await client.get(probe, [f"{oids.sysObjectID}.0"])
        except SnmpError:
            continue
        found = PrinterReading(vendor=reading.vendor, context=context)
        await asyncio.gather(
            _walk_into(client, scoped, PRINTER_SUBTREES, found, deadline),
            _get_into(client, scoped, _vendor_oids(reading.vendor), found))
        taken = {oid: value for oid, value in found.values.items()
                 if reading.values.get(oid) is None}
        if taken:
            reading.values.update(taken)
            reading.context = reading.context or context
        if not _lacking(reading):
            return


def reading_plan(vendor: Vendor) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(subtrees walked, instance OIDs fetched) by a reading of a `vendor` device in any of its
    contexts: what a support recording (`protocols.snmp.recording`) records in each context.
    A read added to `read_printer` belongs here as well."""
    subtrees = PRINTER_SUBTREES + INTERFACE_SUBTREES + CONTRACT_SUBTREES + COUNTER_SUBTREES
    meters = counters_for(vendor.name)
    if meters is not None:
        subtrees += meters.columns()
    return subtrees, (*SYSTEM_SCALARS, *_vendor_oids(vendor))
