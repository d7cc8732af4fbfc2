"""Meters in the reference cloud (issue 17, docs/meters.md): the billing day per printer, the
meter snapshots received, and the latest value of each `counters.*` data type.

- `putMeterSchedule`: the operator sets (or clears) a printer's `MeterSchedule`; the printer's
  revision goes up and its gateway hears `control-info-changed`, then reads the schedule in the
  control information (`schedule_of`, S0610).
- `observe_meter_snapshots`: each accepted `meter-snapshot` entry is kept in `meter_readings`,
  the first one per printer and period (the gateway sends one; a second one for a period, e.g.
  after the gateway's database was lost, does not replace what was billed).
- `listMeterReadings`: the snapshots, by period, what a billing system reads.
- `getLatestMeters`: the newest value received of each `counters.*` type, from the stored
  entries (no copy is kept: `statuses` has them all).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud import times
from cloud.changes import printer_message
from cloud.contracts import find_printer, in_catalogue_order
from cloud.db import MeterReading, MeterScheduleRow, Printer, Status
from cloud.handlers import Call, Caller, Reply, reads, writes
from protocols.cloud import DATA_TYPES
from protocols.cloud.times import rfc3339

METER_TYPES = tuple(t for t in DATA_TYPES if t.startswith("counters."))


async def schedule_of(session: AsyncSession, printer_id: str) -> dict[str, Any] | None:
    """The printer's `MeterSchedule` (None: none set)."""
    row = await session.get(MeterScheduleRow, printer_id)
    return None if row is None else dict(row.schedule)


@writes(Caller.OPERATOR, body="MeterScheduleRequest")
async def put_meter_schedule(call: Call, session: AsyncSession) -> Reply:
    printer = await find_printer(session, call.path("printer_id"), lock=True)
    wanted = call.body["meter_schedule"]
    if wanted is not None:
        wanted = {"day_of_month": wanted["day_of_month"], "time": wanted["time"],
                  "time_zone": wanted.get("time_zone")}
    row = await session.get(MeterScheduleRow, printer.id)
    if (None if row is None else row.schedule) != wanted:
        if wanted is None:
            await session.delete(row)
        elif row is None:
            session.add(MeterScheduleRow(printer_id=printer.id, schedule=wanted,
                                         updated_at=times.now()))
        else:
            row.schedule, row.updated_at = wanted, times.now()
        printer.revision += 1
        await call.state.changes.emit(session, printer.gateway_id, printer_message(
            "control-info-changed", printer.id, printer.revision))
    return {"printer_id": printer.id, "meter_schedule": wanted}


@reads(Caller.OPERATOR, parameters="listMeterReadings")
async def list_meter_readings(call: Call, session: AsyncSession) -> Reply:
    printer = await find_printer(session, call.path("printer_id"))
    statement = select(MeterReading).where(MeterReading.printer_id == printer.id)
    if "period" in call.query:
        statement = statement.where(MeterReading.period == call.query["period"])
    readings = (await session.execute(statement.order_by(MeterReading.period))).scalars()
    return {"meter_readings": [{
        "printer_id": r.printer_id, "period": r.period, "scheduled_at": rfc3339(r.scheduled_at),
        "read_at": rfc3339(r.read_at), "received_at": rfc3339(r.received_at),
        "entry_id": r.entry_id, "counters": r.counters} for r in readings]}


@reads(Caller.OPERATOR)
async def get_latest_meters(call: Call, session: AsyncSession) -> Reply:
    printer = await find_printer(session, call.path("printer_id"))
    meters: dict[str, Any] = {}
    for data_type in METER_TYPES:
        status = (await session.execute(
            select(Status).where(Status.printer_id == printer.id,
                                 Status.data_types.contains(f",{data_type},", autoescape=True))
            .order_by(Status.read_at.desc(), Status.seq.desc()).limit(1))).scalar_one_or_none()
        if status is not None:
            meters[data_type] = {"read_at": rfc3339(status.read_at), "entry_id": status.entry_id,
                                 "event": status.event, "value": status.data[data_type]}
    return {"printer_id": printer.id, "meters": meters}


async def observe_meter_snapshots(session: AsyncSession, printers: Mapping[str, Printer],
                                  stored: list[dict[str, Any]]) -> None:
    """Keep the accepted `meter-snapshot` entries of an upload, the first per printer and period
    (a concurrent upload of the same period loses on the unique constraint and is run again by
    `Database.transact`, then finds it kept)."""
    snapshots = [s for s in stored if s["event"] == "meter-snapshot"
                 and s["printer_id"] in printers and _dated(s["event_detail"])]
    if not snapshots:
        return
    kept = {(printer_id, period) for printer_id, period in (await session.execute(
        select(MeterReading.printer_id, MeterReading.period).where(
            MeterReading.printer_id.in_({s["printer_id"] for s in snapshots})))).all()}
    for s in snapshots:
        key = (s["printer_id"], s["event_detail"]["period"])
        if key in kept:
            continue
        kept.add(key)
        session.add(MeterReading(
            printer_id=key[0], period=key[1],
            scheduled_at=times.parse(s["event_detail"]["scheduled_at"]), read_at=s["read_at"],
            received_at=s["received_at"], entry_id=s["entry_id"],
            counters={t: s["data"][t] for t in in_catalogue_order(s["data"])
                      if t in METER_TYPES}))
    await session.flush()


def _dated(detail: dict[str, Any] | None) -> bool:
    return bool(detail and detail.get("period") and detail.get("scheduled_at"))
