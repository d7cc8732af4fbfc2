"""The application information table and what follows from it: activation (S0607-S0608, FIG. 9),
requested data types (the union over a printer's *active* services and its contract's own
account, `ContractDemand`) and the device control information (S0609-S0611), plus the change
notices the operator's edits and the contract processes send to the gateway."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud import times
from cloud.changes import ChangeStream, printer_message
from cloud.db import Application, ContractProcess, Printer, PrinterContract, Service
from cloud.problems import not_found
from cloud.providers import changes_of, kind_of, notify_provider
from cloud.schema import is_uuid
from protocols.cloud import DATA_TYPES
from protocols.cloud.times import rfc3339

Row = tuple[Application, Service]


def in_catalogue_order(types: Iterable[str]) -> list[str]:
    wanted = set(types)
    return [t for t in DATA_TYPES if t in wanted]


def provider_fields(service: Service) -> dict[str, Any]:
    """The fields of issue 16 shared by the service view and the application information."""
    return {"kind": kind_of(service), "provider_endpoint": service.provider_endpoint,
            "required_functions": list(service.required_functions or []),
            "order_threshold_percent": service.order_threshold_percent}


def service_view(service: Service) -> dict[str, Any]:
    return {"service_id": service.id, "service_outline": service.outline,
            "provider": service.provider, "data_types": list(service.data_types),
            "compatible_cartridge_models": list(service.compatible_cartridge_models),
            "activation_by_first_upload": service.activation_by_first_upload,
            **provider_fields(service)}


def application_view(application: Application, service: Service) -> dict[str, Any]:
    activated = application.activated_at
    return {"service_id": service.id, "service_outline": service.outline,
            "application_id": application.application_id, "provider": service.provider,
            "application_date": application.application_date.isoformat(),
            "activation_state": application.activation_state,
            "activated_at": rfc3339(activated) if activated else None,
            "compatible_cartridge_models": list(service.compatible_cartridge_models),
            "data_types": list(service.data_types),
            "activation_by_first_upload": service.activation_by_first_upload,
            **provider_fields(service)}


CONTRACT_DATA_TYPES = tuple(in_catalogue_order((
    "supplies.level", "supplies.kind", "supplies.model", "supplies.cartridge",
    "counters.contract", "contract")))
"""What the contract process needs of a printer (S201's level, S202/S207's contract cartridge,
the mode, the contract counter), requested on the contract's own account."""


@dataclass(frozen=True)
class ContractDemand:
    """What a printer's contract asks of its gateway whatever services exist: while the printer
    is contracted (its record `confirmed`) or in an unfinished contract process."""

    threshold_percent: int
    """The contract's threshold: the gateway's `threshold-crossed` events follow it."""
    process_id: str | None
    """The unfinished process the printer is in, if any."""
    data_types: tuple[str, ...] = CONTRACT_DATA_TYPES

    def announced(self) -> dict[str, Any]:
        """What the gateway is told (`Printer.contract_requested`)."""
        return {"data_types": list(self.data_types), "threshold_percent": self.threshold_percent}

    def view(self) -> dict[str, Any]:
        """`DeviceControlInformation.by_contract`."""
        return {**self.announced(), "process_id": self.process_id}


def requested_types(rows: Iterable[Row], demand: ContractDemand | None = None) -> list[str]:
    return in_catalogue_order([t for application, service in rows
                               if application.activation_state == "active"
                               for t in service.data_types]
                              + list(demand.data_types if demand else ()))


def control_information(printer: Printer, rows: Sequence[Row],
                        demand: ContractDemand | None) -> dict[str, Any]:
    requested = requested_types(rows, demand)
    current = in_catalogue_order(printer.current_data_types or [])
    return {
        "printer_id": printer.id, "revision": printer.revision,
        "requested_data_types": requested, "current_data_types": current,
        "difference": {"added": [t for t in requested if t not in current],
                       "removed": [t for t in current if t not in requested]},
        "by_service": [{"service_id": service.id, "application_id": application.application_id,
                        "data_types": list(service.data_types)}
                       for application, service in rows
                       if application.activation_state == "active"],
        "by_contract": demand.view() if demand else None,
        "contract_threshold_percent": demand.threshold_percent if demand else None}


async def contract_demands(session: AsyncSession, printer_ids: Sequence[str]
                           ) -> dict[str, ContractDemand | None]:
    """Each printer's `ContractDemand` (None: its contract asks nothing)."""
    found: dict[str, ContractDemand | None] = {printer_id: None for printer_id in printer_ids}
    if not printer_ids:
        return found
    processes: dict[str | None, str] = {}
    for process_id, old, new in (await session.execute(
            select(ContractProcess.id, ContractProcess.old_printer_id,
                   ContractProcess.new_printer_id)
            .where(ContractProcess.outcome.is_(None),
                   or_(ContractProcess.old_printer_id.in_(printer_ids),
                       ContractProcess.new_printer_id.in_(printer_ids)))
            .order_by(ContractProcess.created_at))).all():
        processes.setdefault(old, process_id)
        processes.setdefault(new, process_id)
    contracts = (await session.execute(select(PrinterContract).where(
        PrinterContract.printer_id.in_(printer_ids)))).scalars()
    for contract in contracts:
        process_id = processes.get(contract.printer_id)
        if contract.flag == "confirmed" or process_id is not None:
            found[contract.printer_id] = ContractDemand(contract.threshold_percent or 0, process_id)
    return found


async def rows_of(session: AsyncSession, printer_ids: Sequence[str]) -> dict[str, list[Row]]:
    """The applications (with their services) of each printer, oldest first."""
    found: dict[str, list[Row]] = {printer_id: [] for printer_id in printer_ids}
    if printer_ids:
        result = await session.execute(
            select(Application, Service).join(Service, Application.service_id == Service.id)
            .where(Application.printer_id.in_(printer_ids)).order_by(Application.seq))
        for application, service in result:
            found[application.printer_id].append((application, service))
    return found


async def find_printer(session: AsyncSession, printer_id: str, gateway_id: str | None = None, *,
                       lock: bool = False) -> Printer:
    """The printer (of `gateway_id`, when given), or 404: another gateway's printer is as unknown
    as one that does not exist."""
    owner = " by this gateway" if gateway_id is not None else ""
    missing = not_found(f"No printer {printer_id} is registered{owner}.")
    if not is_uuid(printer_id):
        raise missing
    statement = select(Printer).where(Printer.id == printer_id.lower())
    if gateway_id is not None:
        statement = statement.where(Printer.gateway_id == gateway_id)
    if lock:
        statement = statement.with_for_update()
    printer = (await session.execute(statement)).scalar_one_or_none()
    if printer is None:
        raise missing
    return printer


async def announce(session: AsyncSession, changes: ChangeStream, printer: Printer,
                   requested_before: list[str], requested_after: list[str]) -> None:
    """An operator edit changed the printer's applications: next revision, and tell its gateway
    (`application-info-changed`, and `control-info-changed` when the requested types moved)."""
    printer.revision += 1
    await changes.emit(session, printer.gateway_id, printer_message(
        "application-info-changed", printer.id, printer.revision))
    if requested_before != requested_after:
        await changes.emit(session, printer.gateway_id, printer_message(
            "control-info-changed", printer.id, printer.revision))


async def announce_contract(session: AsyncSession, changes: ChangeStream,
                            printer_ids: Iterable[str]) -> None:
    """After a contract record or process changed: for each printer whose `ContractDemand`
    moved since it was last announced (a contract appeared, a process started or ended, the
    contract was withdrawn, its threshold changed), next revision and `control-info-changed`,
    so that its gateway starts or stops sending within one change-stream round trip.  The
    printers' rows are locked and read again first (their revision is read, then written)."""
    ids = list(dict.fromkeys(printer_ids))
    printers = (await session.execute(
        select(Printer).where(Printer.id.in_(ids)).order_by(Printer.seq).with_for_update()
        .execution_options(populate_existing=True))).scalars().all()
    demands = await contract_demands(session, ids)
    for printer in printers:
        demand = demands[printer.id]
        announced = demand.announced() if demand else None
        if printer.contract_requested != announced:
            printer.contract_requested = announced
            printer.revision += 1
            await changes.emit(session, printer.gateway_id, printer_message(
                "control-info-changed", printer.id, printer.revision))


# -- activation ------------------------------------------------------------------------------------

REFUSALS = {
    "application-unknown": "No application {application_id} is known for this printer.",
    "application-mismatch": "Application {application_id} belongs to another service or printer.",
    "application-cancelled": "The contract {application_id} is cancelled.",
    "application-suspended": "The contract {application_id} is suspended by the operator.",
    "first-upload-activation-not-allowed":
        "Service {service_id} does not allow activation by the first upload.",
}


def _result(service_id: str | None, application_id: str, result: str, state: str,
            activated_at: datetime | None, refusal: str | None = None) -> dict[str, Any]:
    reason = None if refusal is None else {"code": refusal, "detail": REFUSALS[refusal].format(
        application_id=application_id, service_id=service_id)}
    return {"service_id": service_id, "application_id": application_id, "result": result,
            "activation_state": state,
            "activated_at": rfc3339(activated_at) if activated_at else None, "reason": reason}


async def _lookup(session: AsyncSession, printer: Printer, rows: Sequence[Row],
                  application_id: str) -> tuple[Row | None, str | None]:
    """The printer's row for `application_id` and, when it cannot be activated for a reason
    known before looking at its state, that reason."""
    for row in rows:
        if row[0].application_id == application_id:
            return row, None
    for row in rows:
        if row[0].cancelled_application_id == application_id:
            return row, "application-cancelled"
    owner = (await session.execute(
        select(Printer.gateway_id).join(Application, Application.printer_id == Printer.id)
        .where(Application.application_id == application_id))).scalar_one_or_none()
    # Another printer of the same gateway: a mismatch; another gateway's: unknown (IDs leak
    # nothing across gateways).
    return None, ("application-mismatch" if owner == printer.gateway_id
                  else "application-unknown")


async def activate(session: AsyncSession, printer: Printer, rows: Sequence[Row],
                   application_id: str, *, service_id: str | None = None,
                   deactivate: bool = False, first_upload: bool = False) -> dict[str, Any]:
    """Apply one activation notice (or FIG. 9 first-upload activation) to the printer's
    applications; the `ActivationResult`.  Refusals are results: `reason.code` says why."""
    row, refusal = await _lookup(session, printer, rows, application_id)
    if row is not None and service_id is not None and row[1].id != service_id:
        row, refusal = None, "application-mismatch"
    if row is None:
        # The state of the printer's application for the named service, if it has one.
        own = next((r for r in rows if r[1].id == service_id), None)
        return _result(service_id, application_id, "refused",
                       own[0].activation_state if own else "inactive", None, refusal)
    application, service = row
    state = application.activation_state
    if refusal is None and state == "suspended" and not deactivate:
        refusal = "application-suspended"
    if refusal is None and first_upload and not service.activation_by_first_upload:
        refusal = "first-upload-activation-not-allowed"
    if refusal is not None and not (deactivate and refusal == "application-cancelled"):
        return _result(service.id, application_id, "refused", state, application.activated_at,
                       refusal)
    if deactivate:
        if state == "active":
            application.activation_state, application.activated_at = "inactive", None
            printer.revision += 1
            await notify_provider(session, printer, application, service, "deactivated",
                                  "gateway")
        return _result(service.id, application_id, "deactivated", application.activation_state,
                       None)
    if state != "active":
        before = requested_types(rows)
        switched = await _switch_provider(session, printer, rows, row)
        application.activation_state, application.activated_at = "active", times.now()
        printer.revision += 1
        await notify_provider(session, printer, application, service, "activated")
        changes = changes_of(session)
        if switched and changes is not None:
            await announce(session, changes, printer, before, requested_types(rows))
    return _result(service.id, application_id, "activated", "active", application.activated_at)


async def _switch_provider(session: AsyncSession, printer: Printer, rows: Sequence[Row],
                           activating: Row) -> bool:
    """One provider per kind per printer: before `activating` becomes active, the printer's
    active services of the same kind from another provider are switched off — `suspended`, so
    that the gateway's FIG. 10 does not activate them again (resuming one by the operator lets
    it be activated, which switches back) — and their providers told `deactivated` (`switched`).
    Runs under the printer's row lock, so concurrent activations cannot both stay active."""
    kind, provider = kind_of(activating[1]), activating[1].provider
    switched = False
    for application, service in rows:
        if application is activating[0] or application.activation_state != "active" \
                or kind_of(service) != kind or service.provider == provider:
            continue
        application.activation_state, application.activated_at = "suspended", None
        await notify_provider(session, printer, application, service, "deactivated", "switched")
        switched = True
    return switched
