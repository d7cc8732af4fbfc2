"""What the gateway calls (SPEC §6, §7): connection destination and enrolment (unauthenticated),
then registration, application information, activation, control information, commands.  Status
uploads are in `cloud.statuses`, the change stream in `cloud.changes`."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from yarl import URL

from cloud import auth, times
from cloud.commands import OPEN_STATES, acknowledge, command_status
from cloud.contracts import (
    activate,
    application_view,
    control_information,
    find_printer,
    in_catalogue_order,
    rows_of,
)
from cloud.db import Command, EnrolmentToken, Gateway, Printer
from cloud.problems import Problem, not_found
from cloud.schema import idempotency_key, is_uuid, json_body, query
from cloud.state import cloud

DESTINATION_VALIDITY = timedelta(hours=24)
REPLAY_WINDOW = timedelta(hours=24)
REGISTRATION = ("product_name", "manufacturer", "shipping_destination", "time_zone",
                "device_type", "uuid", "mac", "firmware", "sys_object_id")


def public_base(request: web.Request) -> str:
    """This server's base URL as its clients reach it."""
    return (cloud(request).settings.public_url or str(request.url.origin())).rstrip("/")


async def resolve_connection_destination(request: web.Request) -> web.Response:
    body = await json_body(request, "ConnectionDestinationRequest")
    regions = cloud(request).settings.regions
    region = body["region"]
    if regions is None:
        base = public_base(request)
    elif region in regions:
        base = regions[region].rstrip("/")
    else:
        raise Problem("unknown-region", f"No endpoint serves region {region!r}.",
                      errors=[{"pointer": "/region", "detail": "Unknown region."}])
    url = URL(base)
    push = url.with_scheme("wss" if url.scheme == "https" else "ws") / "v1" / "push"
    return web.json_response({
        "region": region, "base_url": base, "push_url": str(push),
        "valid_until": times.iso(times.now() + DESTINATION_VALIDITY)})


async def enrol_gateway(request: web.Request) -> web.Response:
    body = await json_body(request, "EnrolmentRequest")
    key = idempotency_key(request, required=False)
    secret = body["enrolment_token"]
    spent = Problem("enrolment-token-invalid", "The enrolment token is unknown, expired or "
                    "already used; ask the operator for a new one.")

    async def work(session: AsyncSession) -> tuple[int, dict[str, Any]]:
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
            return 200, replayed
        if token.expires_at <= now:
            raise spent
        credential_token = auth.new_token(auth.GATEWAY_PREFIX)
        gateway = Gateway(id=str(uuid.uuid4()), name=body["name"], hostname=body.get("hostname"),
                          software_version=body["software_version"], region=token.region,
                          token_hash=auth.token_hash(credential_token), enrolled_at=now,
                          change_seq=0, pruned_through=0)
        session.add(gateway)
        credential = {"gateway_id": gateway.id, "token_type": "Bearer", "token": credential_token,
                      "region": token.region, "issued_at": times.iso(now), "expires_at": None}
        token.spent_at, token.gateway_id = now, gateway.id
        if key is not None:
            token.replay_key_hash = auth.token_hash(key)
            token.replay_credential = auth.seal_credential(
                json.dumps(credential).encode(), secret, key)
            token.replay_until = now + REPLAY_WINDOW
        return 201, credential

    status, credential = await cloud(request).db.transact(work)
    return web.json_response(credential, status=status)


def _replayed_credential(token: EnrolmentToken, secret: str, key: str | None,
                         now: datetime) -> dict[str, Any] | None:
    """The credential a spent token gave, for a retry with the same Idempotency-Key (24 h)."""
    if key is None or token.replay_credential is None or token.replay_until is None \
            or token.replay_until <= now or token.replay_key_hash != auth.token_hash(key):
        return None
    plain = auth.open_credential(token.replay_credential, secret, key)
    return None if plain is None else json.loads(plain)


async def register_printer(request: web.Request) -> web.Response:
    gateway = await auth.require_gateway(request)
    body = await json_body(request, "PrinterRegistration")

    async def work(session: AsyncSession) -> tuple[int, dict[str, Any]]:
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
        await session.flush()
        return (201 if created else 200), {
            "printer_id": printer.id, "serial": printer.serial, "created": created,
            "registered_at": times.iso(printer.registered_at)}

    status, result = await cloud(request).db.transact(work)
    return web.json_response(result, status=status)


async def get_application_information(request: web.Request) -> web.Response:
    gateway = await auth.require_gateway(request)
    async with cloud(request).db.read() as session:
        printer = await find_printer(session, request.match_info["printer_id"], gateway.id)
        rows = (await rows_of(session, [printer.id]))[printer.id]
    return web.json_response({"printer_id": printer.id, "revision": printer.revision,
                              "applications": [application_view(*row) for row in rows]})


async def notify_activation(request: web.Request) -> web.Response:
    gateway = await auth.require_gateway(request)
    body = await json_body(request, "ActivationNotice")

    async def work(session: AsyncSession) -> dict[str, Any]:
        printer = await find_printer(session, request.match_info["printer_id"], gateway.id,
                                     lock=True)
        rows = (await rows_of(session, [printer.id]))[printer.id]
        results = [await activate(session, printer, rows, notice["application_id"],
                                  service_id=notice["service_id"],
                                  deactivate=notice.get("action") == "deactivate")
                   for notice in body["activations"]]
        return {"printer_id": printer.id, "revision": printer.revision, "results": results}

    return web.json_response(await cloud(request).db.transact(work))


async def get_device_control_information(request: web.Request) -> web.Response:
    gateway = await auth.require_gateway(request)
    async with cloud(request).db.read() as session:
        printer = await find_printer(session, request.match_info["printer_id"], gateway.id)
        rows = (await rows_of(session, [printer.id]))[printer.id]
    return web.json_response(control_information(printer, rows))


async def report_transmission_data_types(request: web.Request) -> web.Response:
    gateway = await auth.require_gateway(request)
    body = await json_body(request, "TransmissionDataTypesReport")

    async def work(session: AsyncSession) -> dict[str, Any]:
        printer = await find_printer(session, request.match_info["printer_id"], gateway.id,
                                     lock=True)
        reported = in_catalogue_order(body["transmission_data_types"])
        if printer.current_data_types != reported:
            printer.current_data_types = reported
            printer.revision += 1
        rows = (await rows_of(session, [printer.id]))[printer.id]
        return control_information(printer, rows)

    return web.json_response(await cloud(request).db.transact(work))


async def list_pending_commands(request: web.Request) -> web.Response:
    gateway = await auth.require_gateway(request)
    printer_id = query(request, "listPendingCommands").get("printer_id")
    now = times.now()
    statement = select(Command).where(Command.gateway_id == gateway.id,
                                      Command.state.in_(OPEN_STATES), Command.deadline >= now)
    if printer_id is not None:
        statement = statement.where(Command.printer_id == printer_id.lower())
    async with cloud(request).db.read() as session:
        commands = (await session.execute(
            statement.order_by(Command.issued_at, Command.id))).scalars().all()
    return web.json_response({"commands": [command_status(c, now) for c in commands]})


async def acknowledge_command(request: web.Request) -> web.Response:
    gateway = await auth.require_gateway(request)
    body = await json_body(request, "CommandAcknowledgement")
    command_id = request.match_info["command_id"].lower()
    missing = not_found(f"No command {command_id} for this gateway's printers.")
    if not is_uuid(command_id):
        raise missing

    async def work(session: AsyncSession) -> dict[str, Any]:
        command = (await session.execute(select(Command).where(
            Command.id == command_id, Command.gateway_id == gateway.id)
            .with_for_update())).scalar_one_or_none()
        if command is None:
            raise missing
        acknowledge(command, body)
        return command_status(command, times.now())

    return web.json_response(await cloud(request).db.transact(work))
