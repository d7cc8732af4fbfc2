"""The operator's API: enrolment tokens, the service catalogue, contracts (applications) per
printer, what devices sent, contract-mode commands.  Edits that change what a gateway must know
go onto that gateway's change stream."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud import auth, times
from cloud.commands import command_status, issue
from cloud.contracts import (
    ContractDemand,
    Row,
    announce,
    application_view,
    contract_demands,
    find_printer,
    in_catalogue_order,
    requested_types,
    rows_of,
    service_view,
)
from cloud.db import Application, Command, EnrolmentToken, Printer, Service, Status
from cloud.handlers import Answer, Call, Caller, Reply, once, reads, writes
from cloud.problems import Handler, Problem, invalid, malformed, not_found
from cloud.providers import delivery_view, list_deliveries, notify_provider
from cloud.schema import component, violations
from protocols.cloud.times import rfc3339
from protocols.hosts import is_loopback_host

_PAGE = re.compile(r"^p_([0-9]{1,18})$")


def _page_after(cursor: str | None) -> int:
    if cursor is None:
        return 0
    match = _PAGE.match(cursor)
    if match is None:
        raise malformed(f"Not a page cursor: {cursor!r}.", parameter="cursor")
    return int(match[1])


def _service_id(call: Call, *, missing: Callable[[str], Problem]) -> str:
    service_id = call.path("service_id")
    if violations(service_id, component("ServiceId")):
        raise missing(service_id)
    return service_id


# -- enrolment tokens, services --------------------------------------------------------------------

@writes(Caller.OPERATOR, body="EnrolmentTokenRequest", status=201)
async def create_enrolment_token(call: Call, session: AsyncSession) -> Reply:
    body = call.body
    regions = call.state.settings.regions
    if regions is not None and body["region"] not in regions:
        raise Problem("unknown-region", f"No endpoint serves region {body['region']!r}.",
                      errors=[{"pointer": "/region", "detail": "Unknown region."}])
    secret = auth.new_token(auth.ENROLMENT_PREFIX)
    now = times.now()
    token = EnrolmentToken(token_hash=auth.token_hash(secret), region=body["region"],
                           label=body.get("label"), created_at=now,
                           expires_at=now + timedelta(seconds=body.get("expires_in_seconds",
                                                                        86400)))
    session.add(token)
    return {"enrolment_token": secret, "region": token.region, "label": token.label,
            "expires_at": rfc3339(token.expires_at)}


@reads(Caller.OPERATOR)
async def list_services(call: Call, session: AsyncSession) -> Reply:
    services = (await session.execute(select(Service).order_by(Service.id))).scalars()
    return {"services": [service_view(s) for s in services]}


@writes(Caller.OPERATOR, body="ServiceDefinition")
async def put_service(call: Call, session: AsyncSession) -> Reply:
    service_id = _service_id(call, missing=lambda sid: malformed(
        f"Not a service ID: {sid!r}.", parameter="service_id"))
    body = call.body
    definition = {"outline": body["service_outline"], "provider": body["provider"],
                  "data_types": body["data_types"],
                  "compatible_cartridge_models": body.get("compatible_cartridge_models", []),
                  "activation_by_first_upload": body.get("activation_by_first_upload", False),
                  "kind": body.get("kind"),
                  "provider_endpoint": _provider_endpoint(body.get("provider_endpoint")),
                  "required_functions": body.get("required_functions", []),
                  "order_threshold_percent": body.get("order_threshold_percent")}
    service = await session.get(Service, service_id, with_for_update=True)
    if service is None:
        service = Service(id=service_id, **definition)
        session.add(service)
        await session.flush()
        return Answer(service_view(service), 201)
    if any(getattr(service, name) != value for name, value in definition.items()):
        printers = (await session.execute(
            select(Printer).join(Application, Application.printer_id == Printer.id)
            .where(Application.service_id == service_id).order_by(Printer.seq)
            .with_for_update(of=Printer))).scalars().all()
        rows = await rows_of(session, [p.id for p in printers])
        before = {p.id: requested_types(rows[p.id]) for p in printers}
        for name, value in definition.items():
            setattr(service, name, value)
        for printer in printers:
            await announce(session, call.state.changes, printer, before[printer.id],
                           requested_types(rows[printer.id]))
    return service_view(service)


def _provider_endpoint(url: str | None) -> str | None:
    """An https URL, or http to a loopback host (a provider on the cloud's own machine)."""
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        host = None
    if host and (parts.scheme == "https" or (parts.scheme == "http"
                                             and is_loopback_host(host))):
        return url
    raise invalid("/provider_endpoint", "An https URL (http only to a loopback host).")


@reads(Caller.OPERATOR, parameters="listProviderDeliveries")
async def list_provider_deliveries(call: Call, session: AsyncSession) -> Reply:
    service_id = _service_id(call, missing=lambda sid: not_found(f"No service {sid!r}."))
    if await session.get(Service, service_id) is None:
        raise not_found(f"No service {service_id!r}.")
    printer_id = call.query.get("printer_id")
    deliveries = await list_deliveries(session, service_id, call.query["limit"],
                                       printer_id.lower() if printer_id else None)
    return {"service_id": service_id, "deliveries": [delivery_view(d) for d in deliveries]}


# -- printers --------------------------------------------------------------------------------------

def printer_view(printer: Printer, rows: list[Row], demand: ContractDemand | None
                 ) -> dict[str, Any]:
    return {
        "printer_id": printer.id, "gateway_id": printer.gateway_id,
        "registration": {"serial": printer.serial, "product_name": printer.product_name,
                         "manufacturer": printer.manufacturer,
                         "shipping_destination": printer.shipping_destination,
                         "time_zone": printer.time_zone, "device_type": printer.device_type,
                         "uuid": printer.uuid, "mac": printer.mac, "firmware": printer.firmware,
                         "sys_object_id": printer.sys_object_id},
        "registered_at": rfc3339(printer.registered_at),
        "last_status_at": rfc3339(printer.last_status_at) if printer.last_status_at else None,
        "applications": [application_view(*row) for row in rows],
        "requested_data_types": requested_types(rows, demand),
        "current_data_types": in_catalogue_order(printer.current_data_types or []),
        "unavailable_data_types": printer.unavailable_data_types or [],
        "contract": printer.contract}


@reads(Caller.OPERATOR, parameters="listPrinters")
async def list_printers(call: Call, session: AsyncSession) -> Reply:
    params = call.query
    statement = select(Printer).where(Printer.seq > _page_after(params.get("cursor")))
    if "gateway_id" in params:
        statement = statement.where(Printer.gateway_id == params["gateway_id"].lower())
    if "serial" in params:
        statement = statement.where(Printer.serial == params["serial"])
    limit = params["limit"]
    printers = (await session.execute(
        statement.order_by(Printer.seq).limit(limit + 1))).scalars().all()
    ids = [p.id for p in printers[:limit]]
    rows, demands = await rows_of(session, ids), await contract_demands(session, ids)
    return {"printers": [printer_view(p, rows[p.id], demands[p.id]) for p in printers[:limit]],
            "next_cursor": f"p_{printers[limit - 1].seq}" if len(printers) > limit else None}


@reads(Caller.OPERATOR)
async def get_printer(call: Call, session: AsyncSession) -> Reply:
    printer = await find_printer(session, call.path("printer_id"))
    rows = await rows_of(session, [printer.id])
    demands = await contract_demands(session, [printer.id])
    return printer_view(printer, rows[printer.id], demands[printer.id])


@reads(Caller.OPERATOR, parameters="listReceivedStatuses")
async def list_received_statuses(call: Call, session: AsyncSession) -> Reply:
    params = call.query
    statement = select(Status).where(Status.seq > _page_after(params.get("cursor")),
                                     Status.data_types != "")
    if "data_type" in params:
        statement = statement.where(
            Status.data_types.contains(f",{params['data_type']},", autoescape=True))
    if "since" in params:
        statement = statement.where(Status.received_at >= times.parse(params["since"]))
    limit = params["limit"]
    printer = await find_printer(session, call.path("printer_id"))
    statuses = (await session.execute(statement.where(Status.printer_id == printer.id)
                                      .order_by(Status.seq).limit(limit + 1))).scalars().all()
    return {"statuses": [_received(s) for s in statuses[:limit]],
            "next_cursor": f"p_{statuses[limit - 1].seq}" if len(statuses) > limit else None}


def _received(status: Status) -> dict[str, Any]:
    view: dict[str, Any] = {
        "entry_id": status.entry_id, "printer_id": status.printer_id,
        "gateway_id": status.gateway_id, "read_at": rfc3339(status.read_at),
        "received_at": rfc3339(status.received_at), "event": status.event}
    if status.event_detail is not None:
        view["event_detail"] = status.event_detail
    if status.application_ids is not None:
        view["application_ids"] = status.application_ids
    view["data"] = status.data
    return view


# -- applications ----------------------------------------------------------------------------------

@once("applications", body="ApplicationRequest")
async def create_application(call: Call, session: AsyncSession) -> Reply:
    body = call.body
    printer = await find_printer(session, call.path("printer_id"), lock=True)
    service = await session.get(Service, body["service_id"])
    if service is None:
        raise invalid("/service_id", f"No service {body['service_id']!r}; define it first "
                      "(putService).")
    rows = (await rows_of(session, [printer.id]))[printer.id]
    existing = next((a for a, s in rows if s.id == service.id), None)
    if existing is not None and existing.activation_state != "cancelled":
        raise Problem("conflict", f"Printer {printer.id} already has a live application "
                      f"for {service.id}.")
    application_id = body.get("application_id") or secrets.token_hex(8)
    taken = (await session.execute(select(Application.seq).where(
        Application.application_id == application_id))).first()
    if taken is not None:
        raise Problem("conflict", f"Application ID {application_id!r} is taken.")
    application = existing or Application(printer_id=printer.id, service_id=service.id)
    application.application_id, application.cancelled_application_id = application_id, None
    application.application_date = date.fromisoformat(body["application_date"]) \
        if "application_date" in body else times.now().date()
    application.activation_state, application.activated_at = "inactive", None
    session.add(application)
    requested = requested_types(rows)
    await announce(session, call.state.changes, printer, requested, requested)
    return application_view(application, service)


def _suspend(application: Application) -> str | None:
    if application.activation_state == "cancelled":
        raise Problem("conflict", "The application is cancelled.")
    if application.activation_state == "suspended":
        return None
    application.activation_state, application.activated_at = "suspended", None
    return "suspended"


def _resume(application: Application) -> str | None:
    if application.activation_state == "cancelled":
        raise Problem("conflict", "The application is cancelled.")
    if application.activation_state != "suspended":
        return None
    application.activation_state = "inactive"
    return "resumed"


def _cancel(application: Application) -> str | None:
    if application.activation_state == "cancelled":
        return None
    application.cancelled_application_id = application.application_id
    application.application_id = None
    application.activation_state, application.activated_at = "cancelled", None
    return "cancelled"


def _state_change(change: Callable[[Application], str | None]) -> Handler:
    """The operation moving a printer's application for a service with `change` (the provider
    event when the state changed, which the gateway and the provider are then told)."""
    @writes(Caller.OPERATOR)
    async def handler(call: Call, session: AsyncSession) -> Reply:
        service_id = _service_id(call, missing=lambda sid: not_found(
            f"No application for service {sid!r}."))
        printer = await find_printer(session, call.path("printer_id"), lock=True)
        rows = (await rows_of(session, [printer.id]))[printer.id]
        row = next((r for r in rows if r[1].id == service_id), None)
        if row is None:
            raise not_found(f"Printer {printer.id} has no application for {service_id!r}.")
        before = requested_types(rows)
        event = change(row[0])
        if event is not None:
            await announce(session, call.state.changes, printer, before, requested_types(rows))
            await notify_provider(session, printer, *row, event)
        return application_view(*row)

    return handler


suspend_application = _state_change(_suspend)
resume_application = _state_change(_resume)
cancel_application = _state_change(_cancel)


# -- commands --------------------------------------------------------------------------------------

async def _command_now(call: Call, first: dict[str, Any]) -> Reply:
    """A retry answers the command created first, as it is now."""
    async with call.state.db.read() as session:
        command = await session.get(Command, first["command_id"])
    assert command is not None  # commands are never deleted
    return command_status(command, times.now())


@once("commands", body="CommandRequest", replay=_command_now)
async def create_command(call: Call, session: AsyncSession) -> Reply:
    """Every command passes the contract guard in `issue` (409 `contract-conflict`)."""
    printer = await find_printer(session, call.path("printer_id"))
    command = await issue(session, call.state.changes, printer, call.body)
    return command_status(command, times.now())


@reads(Caller.OPERATOR)
async def get_command(call: Call, session: AsyncSession) -> Reply:
    command_id = call.path_id("command_id", "No command {}.")
    command = await session.get(Command, command_id)
    if command is None:
        raise not_found(f"No command {command_id}.")
    return command_status(command, times.now())
