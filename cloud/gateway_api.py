"""What the gateway calls (SPEC §6, §7): connection destination and enrolment (unauthenticated),
then registration, application information, activation, control information, commands.  Status
uploads are in `cloud.statuses`, the change stream in `cloud.change_api`."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from yarl import URL

from cloud import auth, times
from cloud.commands import OPEN_STATES, acknowledge, command_status
from cloud.contracts import (
    activate,
    application_view,
    contract_demands,
    control_information,
    find_printer,
    in_catalogue_order,
    rows_of,
)
from cloud.db import Command, EnrolmentToken, Gateway, Printer
from cloud.handlers import Answer, Call, Caller, Reply, operation, reads, writes
from cloud.meters import schedule_of
from cloud.problems import Problem, not_found
from cloud.schema import idempotency_key
from protocols.cloud.times import rfc3339

DESTINATION_VALIDITY = timedelta(hours=24)
REPLAY_WINDOW = timedelta(hours=24)
REGISTRATION = ("product_name", "manufacturer", "shipping_destination", "time_zone",
                "device_type", "uuid", "mac", "firmware", "sys_object_id")


def _public_base(call: Call) -> str:
    """This server's base URL as its clients reach it."""
    return (call.state.settings.public_url or str(call.request.url.origin())).rstrip("/")


@operation(Caller.ANYONE, body="ConnectionDestinationRequest")
async def resolve_connection_destination(call: Call) -> Reply:
    regions = call.state.settings.regions
    region = call.body["region"]
    if regions is None:
        base = _public_base(call)
    elif region in regions:
        base = regions[region].rstrip("/")
    else:
        raise Problem("unknown-region", f"No endpoint serves region {region!r}.",
                      errors=[{"pointer": "/region", "detail": "Unknown region."}])
    url = URL(base)
    push = url.with_scheme("wss" if url.scheme == "https" else "ws") / "v1" / "push"
    return {"region": region, "base_url": base, "push_url": str(push),
            "valid_until": rfc3339(times.now() + DESTINATION_VALIDITY)}


@writes(Caller.ANYONE, body="EnrolmentRequest", status=201)
async def enrol_gateway(call: Call, session: AsyncSession) -> Reply:
    body = call.body
    key = idempotency_key(call.request, required=False)
    secret = body["enrolment_token"]
    spent = Problem("enrolment-token-invalid", "The enrolment token is unknown, expired or "
                    "already used; ask the operator for a new one.")
    now = times.now()
    token = (await session.execute(
        select(EnrolmentToken).where(EnrolmentToken.token_hash == auth.token_hash(secret))
        .with_for_update())).scalar_one_or_none()
    if token is None:
        raise spent
    if token.spent_at is not None:
        replayed = _replayed_credential(token, secret, key, now)
        if replayed is None:
            raise spent
        return Answer(replayed)
    if token.expires_at <= now:
        raise spent
    credential_token = auth.new_token(auth.GATEWAY_PREFIX)
    gateway = Gateway(id=str(uuid.uuid4()), name=body["name"], hostname=body.get("hostname"),
                      software_version=body["software_version"], region=token.region,
                      token_hash=auth.token_hash(credential_token), enrolled_at=now,
                      change_seq=0, pruned_through=0)
    session.add(gateway)
    credential = {"gateway_id": gateway.id, "token_type": "Bearer", "token": credential_token,
                  "region": token.region, "issued_at": rfc3339(now), "expires_at": None}
    token.spent_at, token.gateway_id = now, gateway.id
    if key is not None:
        token.replay_key_hash = auth.token_hash(key)
        token.replay_credential = auth.seal_credential(
            json.dumps(credential).encode(), secret, key)
        token.replay_until = now + REPLAY_WINDOW
    return credential


def _replayed_credential(token: EnrolmentToken, secret: str, key: str | None,
                         now: datetime) -> dict[str, Any] | None:
    """The credential a spent token gave, for a retry with the same Idempotency-Key (24 h)."""
    if key is None or token.replay_credential is None or token.replay_until is None \
            or token.replay_until <= now or token.replay_key_hash != auth.token_hash(key):
        return None
    plain = auth.open_credential(token.replay_credential, secret, key)
    return None if plain is None else json.loads(plain)


@writes(Caller.GATEWAY, body="PrinterRegistration")
async def register_printer(call: Call, session: AsyncSession) -> Reply:
    gateway, body = call.gateway, call.body
    printer = (await session.execute(select(Printer).where(
        Printer.gateway_id == gateway.id, Printer.serial == body["serial"])
        .with_for_update())).scalar_one_or_none()
    created = printer is None
    if printer is None:
        printer = Printer(id=str(uuid.uuid4()), gateway_id=gateway.id, serial=body["serial"],
                          registered_at=times.now(), revision=0)
        session.add(printer)
    elif printer.manufacturer.casefold() != body["manufacturer"].casefold():
        raise Problem("serial-conflict", f"Serial {body['serial']} is registered by this "
                      f"gateway with manufacturer {printer.manufacturer!r}.",
                      errors=[{"pointer": "/manufacturer", "detail": "Differs from the "
                               "registered manufacturer."}])
    for name in REGISTRATION:
        value = body.get(name)
        setattr(printer, name, value.lower() if name == "uuid" and value else value)
    if body.get("contract_supported") is not None:  # not told: what was known stays
        printer.contract_supported = body["contract_supported"]
    await session.flush()
    return Answer({"printer_id": printer.id, "serial": printer.serial, "created": created,
                   "registered_at": rfc3339(printer.registered_at)},
                  201 if created else 200)


@reads(Caller.GATEWAY)
async def get_application_information(call: Call, session: AsyncSession) -> Reply:
    printer = await find_printer(session, call.path("printer_id"), call.gateway.id)
    rows = (await rows_of(session, [printer.id]))[printer.id]
    return {"printer_id": printer.id, "revision": printer.revision,
            "applications": [application_view(*row) for row in rows]}


@writes(Caller.GATEWAY, body="ActivationNotice")
async def notify_activation(call: Call, session: AsyncSession) -> Reply:
    printer = await find_printer(session, call.path("printer_id"), call.gateway.id, lock=True)
    rows = (await rows_of(session, [printer.id]))[printer.id]
    results = [await activate(session, printer, rows, notice["application_id"],
                              service_id=notice["service_id"],
                              deactivate=notice.get("action") == "deactivate")
               for notice in call.body["activations"]]
    return {"printer_id": printer.id, "revision": printer.revision, "results": results}


@reads(Caller.GATEWAY)
async def get_device_control_information(call: Call, session: AsyncSession) -> Reply:
    printer = await find_printer(session, call.path("printer_id"), call.gateway.id)
    return await _control_information(session, printer)


async def _control_information(session: AsyncSession, printer: Printer) -> dict[str, Any]:
    rows = (await rows_of(session, [printer.id]))[printer.id]
    demand = (await contract_demands(session, [printer.id]))[printer.id]
    return {**control_information(printer, rows, demand),
            "meter_schedule": await schedule_of(session, printer.id)}  # issue 17


@writes(Caller.GATEWAY, body="TransmissionDataTypesReport")
async def report_transmission_data_types(call: Call, session: AsyncSession) -> Reply:
    printer = await find_printer(session, call.path("printer_id"), call.gateway.id, lock=True)
    reported = in_catalogue_order(call.body["transmission_data_types"])
    if printer.current_data_types != reported:
        printer.current_data_types = reported
        printer.revision += 1
    printer.unavailable_data_types = [dict(item) for item in call.body.get("unavailable", [])]
    return await _control_information(session, printer)


@reads(Caller.GATEWAY, parameters="listPendingCommands")
async def list_pending_commands(call: Call, session: AsyncSession) -> Reply:
    printer_id = call.query.get("printer_id")
    now = times.now()
    statement = select(Command).where(Command.gateway_id == call.gateway.id,
                                      Command.state.in_(OPEN_STATES), Command.deadline >= now)
    if printer_id is not None:
        statement = statement.where(Command.printer_id == printer_id.lower())
    commands = (await session.execute(
        statement.order_by(Command.issued_at, Command.id))).scalars().all()
    return {"commands": [command_status(c, now) for c in commands]}


@writes(Caller.GATEWAY, body="CommandAcknowledgement")
async def acknowledge_command(call: Call, session: AsyncSession) -> Reply:
    command_id = call.path_id("command_id", "No command {} for this gateway's printers.")
    command = (await session.execute(select(Command).where(
        Command.id == command_id, Command.gateway_id == call.gateway.id)
        .with_for_update())).scalar_one_or_none()
    if command is None:
        raise not_found(f"No command {command_id} for this gateway's printers.")
    acknowledge(command, call.body)
    await _device_reported(session, command, call.body)
    return command_status(command, times.now())


async def _device_reported(session: AsyncSession, command: Command, ack: dict[str, Any]) -> None:
    """A completed command's `contract_state` is the device's state right after it: the
    printer's `contract` (what the device last reported) takes it unless an upload read later
    is stored already, so the operator's views match the device without waiting for an upload.
    Not a state that says nothing (`supported: false` of a device that was not read)."""
    state = ack.get("contract_state")
    if ack["stage"] != "completed" or state is None or command.contract_state != state:
        return  # not final, or a repeat that differs from what was recorded
    read = state["supported"] or (ack.get("reason") or {}).get("code") == "contract-unsupported"
    if not read:
        return
    at = times.parse(ack["at"])
    printer = await find_printer(session, command.printer_id, command.gateway_id, lock=True)
    if printer.contract_read_at is None or at >= printer.contract_read_at:
        printer.contract, printer.contract_read_at = dict(state), at
