"""Contract-mode commands (SPEC §7): issued by the operator, delivered through the change stream,
acknowledged by the gateway in two stages (`received`, then `completed` with a result)."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cloud import times
from cloud.changes import ChangeStream
from cloud.contract_guard import check_command
from cloud.db import Command, Printer, Service
from cloud.problems import Problem, invalid
from protocols.cloud.times import rfc3339

DEFAULT_DEADLINE = timedelta(hours=24)
OPEN_STATES = ("pending", "received")
SERVICE_ENABLE = "set-service-enabled"
"""The kind that is not a contract-mode command: the operator's enable setting of a service on
the printer, kept by the gateway (no SET, no contract state): the contract guard does not apply
and its acknowledgement's `contract_state` is not the device's."""

log = logging.getLogger(__name__)


def command_message(command: Command) -> dict[str, Any]:
    """The command as delivered to the gateway (`Command`)."""
    return {"command_id": command.id, "printer_id": command.printer_id, "kind": command.kind,
            "parameters": dict(command.parameters), "issued_at": rfc3339(command.issued_at),
            "deadline": rfc3339(command.deadline)}


def state_of(command: Command, now: datetime) -> str:
    """The stored state, or `expired` when the deadline passed without a final acknowledgement."""
    if command.state in OPEN_STATES and now > command.deadline:
        return "expired"
    return command.state


def command_status(command: Command, now: datetime) -> dict[str, Any]:
    """The command with its delivery and completion state (`CommandStatus`)."""
    return {**command_message(command), "state": state_of(command, now),
            "received_at": rfc3339(command.received_at) if command.received_at else None,
            "completed_at": rfc3339(command.completed_at) if command.completed_at else None,
            "reason": command.reason, "contract_state": command.contract_state,
            "service_setting": command.service_setting}


def _parameters(request: dict[str, Any]) -> dict[str, Any]:
    parameters = dict(request.get("parameters", {}))
    if request["kind"] == "contract-transition":
        parameters.setdefault("mode", "contract-non-billing")
    return parameters


async def issue(session: AsyncSession, changes: ChangeStream, printer: Printer,
                request: dict[str, Any], command_id: str | None = None, *,
                process_id: str | None = None) -> Command:
    """Create the command of a `CommandRequest` and put it on the printer's gateway's stream
    (`command_id`: chosen by the caller, e.g. a contract process; a new UUID otherwise).
    Every command passes `cloud.contract_guard.check_command` first (`process_id`: the contract
    process issuing it): 409 `contract-conflict` when it could break "one contract, one
    printer"."""
    command = _command(printer, request, command_id)
    if command.kind == SERVICE_ENABLE:
        await _check_service(session, command.parameters["service_id"])
    else:
        await check_command(session, printer, command.kind, command.parameters,
                            process_id=process_id)
    session.add(command)
    await changes.emit(session, printer.gateway_id, {
        "type": "command", "occurred_at": rfc3339(command.issued_at),
        "command": command_message(command)})
    return command


async def issue_for_process(session: AsyncSession, changes: ChangeStream, printer: Printer,
                            request: dict[str, Any], command_id: str,
                            process_id: str) -> Command:
    """A contract process's command, issued as `issue` does; when the guard refuses it, the
    command is stored `refused` (reason `contract-conflict`) and never sent, so that the
    process handles it as it handles a device's refusal: noted, issued again after its retry
    delay.  The process orders its commands so that this does not happen; when it does,
    something outside it (an operator's command still open) is in the way."""
    try:
        return await issue(session, changes, printer, request, command_id,
                           process_id=process_id)
    except Problem as problem:
        if problem.name != "contract-conflict":
            raise
        log.warning("contract process %s: %s refused by the cloud's guard: %s", process_id,
                    request["kind"], problem.detail)
        command = _command(printer, request, command_id)
        command.state, command.completed_at = "refused", command.issued_at
        command.reason = {"code": "contract-conflict",
                          "detail": f"Refused by the cloud's guard: {problem.detail}"[:1024]}
        session.add(command)
        return command


async def _check_service(session: AsyncSession, service_id: str) -> None:
    """A `set-service-enabled` names a service of the catalogue (422 otherwise; the document
    checked the shape of the parameters)."""
    if await session.get(Service, service_id) is None:
        raise invalid("/parameters/service_id", f"No service {service_id!r} in the catalogue.")


def _command(printer: Printer, request: dict[str, Any], command_id: str | None) -> Command:
    issued_at = times.now()
    deadline = times.parse(request["deadline"]) if "deadline" in request \
        else issued_at + DEFAULT_DEADLINE
    if deadline <= issued_at:
        raise invalid("/deadline", "The deadline has already passed.")
    return Command(id=command_id or str(uuid.uuid4()), printer_id=printer.id,
                   gateway_id=printer.gateway_id, kind=request["kind"],
                   parameters=_parameters(request), issued_at=issued_at, deadline=deadline,
                   state="pending")


def acknowledge(command: Command, ack: dict[str, Any]) -> None:
    """Record a `CommandAcknowledgement`; idempotent per stage, 409 when a final result other than
    the recorded one is reported."""
    if ack["printer_id"].lower() != command.printer_id:
        raise invalid("/printer_id", "Not the printer of this command.")
    at = times.parse(ack["at"])
    if command.received_at is None:
        command.received_at = at
    if ack["stage"] == "received":
        if command.state == "pending":
            command.state = "received"
        return
    if command.state not in OPEN_STATES:
        if command.state != ack["result"]:
            raise Problem("acknowledgement-conflict", f"The command was already completed as "
                          f"{command.state!r}, not {ack['result']!r}.")
        return
    command.state, command.completed_at = ack["result"], at
    command.reason = ack.get("reason")
    if command.kind == SERVICE_ENABLE:
        command.service_setting = ack.get("service_setting")
    else:
        command.contract_state = ack["contract_state"]
