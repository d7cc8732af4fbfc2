"""`uploadStatuses`: a batch of status entries, each validated and stored on its own.

Per entry, in request order: `duplicate` when its `entry_id` was accepted before (stored once),
`rejected` with a reason (invalid, unknown printer, read in the future), or `accepted`.  FIG. 9
activations named by `application_ids` are applied before the data is filtered, and data types
not requested for the printer (by an active service or its contract, `ContractDemand`) are
dropped and listed in `ignored_data_types`.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud import metrics, times
from cloud.contract_usage import observe_statuses
from cloud.contracts import (
    ContractDemand,
    Row,
    activate,
    contract_demands,
    in_catalogue_order,
    requested_types,
    rows_of,
)
from cloud.db import Printer, Status
from cloud.handlers import Answer, Call, Caller, Reply, operation
from cloud.meters import observe_meter_snapshots
from cloud.problems import Problem
from cloud.providers import observe_supplies
from cloud.schema import (
    check,
    component,
    idempotency_key,
    is_uuid,
    parse_json,
    read_body,
    ref,
    validator_of,
    violations,
)
from protocols.cloud.times import rfc3339

MAX_ENTRIES = 500
FUTURE_TOLERANCE = timedelta(minutes=5)

# The envelope as a whole: a malformed one is 422 for the batch; each entry only needs an
# entry_id here, so that its own result can name it.
ENVELOPE = validator_of({
    "type": "object", "additionalProperties": False, "required": ["statuses"],
    "properties": {"statuses": {
        "type": "array", "minItems": 1, "maxItems": MAX_ENTRIES,
        "items": {"type": "object", "required": ["entry_id"], "properties": {
            "entry_id": ref("/components/schemas/StatusEntry/properties/entry_id")}}}}})
ENTRY = component("StatusEntry")


@operation(Caller.GATEWAY)
async def upload_statuses(call: Call) -> Reply:
    """Not a `json_body`: the batch is checked as an envelope, then entry by entry, and a retry
    must repeat the body byte for byte."""
    request, gateway_id = call.request, call.gateway.id
    if "Content-Type" in request.headers and request.content_type != "application/json":
        raise Problem("unsupported-media-type", f"Send application/json, not "
                      f"{request.content_type}.")
    key = idempotency_key(request, required=True)
    raw = await read_body(request)
    body = parse_json(raw)
    if isinstance(body, dict) and isinstance(body.get("statuses"), list) \
            and len(body["statuses"]) > MAX_ENTRIES:
        raise Problem("payload-too-large", f"{len(body['statuses'])} entries; at most "
                      f"{MAX_ENTRIES} per batch: split it.")
    check(body, ENVELOPE)

    async def work(session: AsyncSession) -> tuple[int, dict[str, Any]]:
        return 200, await _process(session, gateway_id, body["statuses"])

    outcome = await call.state.keys.run("statuses", gateway_id, key,
                                        hashlib.sha256(raw).hexdigest(), work)
    if not outcome.replayed:  # committed now (a replay stored nothing)
        metrics.statuses_ingested(outcome.body["counts"])
    return Answer(outcome.body, outcome.status)


def _rejected(entry_id: str, code: str, detail: str, pointer: str) -> dict[str, Any]:
    return {"entry_id": entry_id, "status": "rejected",
            "reason": {"code": code, "detail": detail, "pointer": pointer}}


async def _process(session: AsyncSession, gateway_id: str,
                   entries: list[dict[str, Any]]) -> dict[str, Any]:
    received_at = times.now()
    known = set((await session.execute(select(Status.entry_id).where(
        Status.gateway_id == gateway_id,
        Status.entry_id.in_({e["entry_id"].lower() for e in entries})))).scalars())
    named = {e["printer_id"].lower() for e in entries
             if isinstance(e.get("printer_id"), str) and is_uuid(e["printer_id"])}
    printers = {p.id: p for p in (await session.execute(
        select(Printer).where(Printer.gateway_id == gateway_id, Printer.id.in_(named))
        .order_by(Printer.seq).with_for_update())).scalars()}
    rows = await rows_of(session, list(printers))
    demands = await contract_demands(session, list(printers))
    results: list[dict[str, Any]] = []
    stored: list[dict[str, Any]] = []
    for i, entry in enumerate(entries):
        entry_id = entry["entry_id"]
        if entry_id.lower() in known:
            results.append({"entry_id": entry_id, "status": "duplicate"})
            continue
        errors = violations(entry, ENTRY, prefix=f"/statuses/{i}")
        if errors:
            results.append(_rejected(entry_id, "invalid-entry", errors[0]["detail"],
                                     errors[0]["pointer"]))
            continue
        printer = printers.get(entry["printer_id"].lower())
        if printer is None:
            results.append(_rejected(
                entry_id, "unknown-printer", f"No printer {entry['printer_id']} is registered "
                "by this gateway.", f"/statuses/{i}/printer_id"))
            continue
        read_at = times.parse(entry["read_at"])
        if read_at > received_at + FUTURE_TOLERANCE:
            results.append(_rejected(
                entry_id, "read-at-in-future", "read_at is more than 5 minutes ahead of the "
                "cloud's clock.", f"/statuses/{i}/read_at"))
            continue
        known.add(entry_id.lower())
        result, status = await _accept(session, printer, rows[printer.id],
                                       demands[printer.id], entry, read_at, received_at)
        results.append(result)
        stored.append(status)
    if stored:
        # One multi-row INSERT (executemany) rather than an ORM object per entry.
        await session.execute(insert(Status.__table__), stored)
        await observe_statuses(session, printers, stored)  # page limits, cartridge binding
        await observe_supplies(session, printers, stored)  # consumable orders (providers)
        await observe_meter_snapshots(session, printers, stored)  # billing (issue 17)
    counts = {status: sum(r["status"] == status for r in results)
              for status in ("accepted", "duplicate", "rejected")}
    return {"received_at": rfc3339(received_at), "counts": counts, "results": results}


async def _accept(session: AsyncSession, printer: Printer, rows: list[Row],
                  demand: ContractDemand | None, entry: dict[str, Any], read_at: datetime,
                  received_at: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """The entry's result and its `statuses` row; the printer's state updated."""
    result: dict[str, Any] = {"entry_id": entry["entry_id"], "status": "accepted"}
    if "application_ids" in entry:
        result["activations"] = [
            await activate(session, printer, rows, application_id, first_upload=True)
            for application_id in entry["application_ids"]]
    requested = requested_types(rows, demand)
    kept = {t: value for t, value in entry["data"].items() if t in requested}
    result["ignored_data_types"] = in_catalogue_order(set(entry["data"]) - set(kept))
    if printer.current_data_types is None and any(
            a["result"] == "activated" for a in result.get("activations", [])):
        printer.current_data_types = in_catalogue_order(kept)
    status = {
        "gateway_id": printer.gateway_id, "entry_id": entry["entry_id"].lower(),
        "printer_id": printer.id, "read_at": read_at, "received_at": received_at,
        "event": entry["event"], "event_detail": entry.get("event_detail"),
        "application_ids": entry.get("application_ids"), "data": kept,
        "data_types": "".join(f",{t}" for t in in_catalogue_order(kept)) + "," if kept else ""}
    if printer.last_status_at is None or read_at > printer.last_status_at:
        printer.last_status_at = read_at
    if "contract" in kept and (printer.contract_read_at is None
                               or read_at >= printer.contract_read_at):
        printer.contract, printer.contract_read_at = kept["contract"], read_at
    return result, status
