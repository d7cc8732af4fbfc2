"""Contract-mode commands from the cloud relayed to the printers (SPEC §7, Brother JP7545664B2).

Each command (contract transition, withdrawal, billing start, prohibit / permit contract printing,
panel message) goes through the same steps:

1. stored in the command log with an audit row, once per command ID: a replayed command is not
   applied again, its stored outcome is acknowledged again;
2. checked: a printer of this gateway (else `unknown-printer`), before its deadline
   (`deadline-passed`), a device with the contract MIB (`contract-unsupported`), in a mode the
   command applies to (`invalid-mode`);
3. acknowledged `received`, applied as one SNMP SET with the write credentials of `[contract]`
   and read back (`set-failed`, `verify-failed`);
4. acknowledged `completed` with the result and the contract state read back: for a contract
   transition this is the transition completion notification (S109).

A command the gateway cannot understand (`UnreadableCommand`: a kind this version does not know,
parameters its kind does not allow, a field missing) is stored completed as `refused` with the
reason (`unsupported-command`, `invalid-parameters`, `malformed-command`) and acknowledged like
any other; the device is never touched.

`set-service-enabled` (the operator's enable setting of a support service) takes the same log,
checks and acknowledgements, but is no SNMP SET: `ServiceEnabler` keeps the setting and decides
the device's services again (`gateway.commands.service_enable`).  It is relayed whatever
`[contract] enabled` says; with `enabled = false` the contract-mode commands are only logged.

A device that does not answer is tried again with back-off until the deadline (or `retry_for`),
then the command has failed (`device-unreachable`).  A device's commands are applied one at a
time in the order they came, also while one of them waits to try again.  Only a state read back
from the device is ever reported `done`; a command interrupted by a restart is taken up again by
`resume()` and read from the device first, so a change applied just before the restart is not
applied twice.

Acknowledgements are persisted before they are sent and re-sent until the cloud has them (they
are idempotent on command ID and stage).  Every step is appended to `command_audit`, which the
database refuses to update or delete.

Security: only the authenticated cloud link can cause a SET.  The relay has exactly two entry
points, `handle` (given to `CloudLink.on_command`: changes of the cloud's change stream, over the
gateway's TLS connection with its bearer token, and the same link's `listPendingCommands` after
a resynchronisation) and `resume` (that list at start-up); nothing else in the gateway — no local
port, no file, no CLI command — reaches them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Callable
from datetime import datetime

from gateway.commands.log import CommandLog, acknowledgement
from gateway.commands.plan import CommandOutcome, NotApplicable, plan
from gateway.commands.service_enable import KIND as SERVICE_ENABLE
from gateway.commands.service_enable import ServiceEnabler
from gateway.fleet.credentials import CredentialResolver
from gateway.fleet.inventory import Device, Inventory
from gateway.settings.schema import ContractSettings
from gateway.uplink.cloud_state import CloudState
from protocols.cloud.client import CloudClient
from protocols.cloud.errors import CloudError, CloudRejected
from protocols.cloud.models import Command, UnreadableCommand
from protocols.snmp.client import SnmpClient
from protocols.snmp.contract import (
    ContractState,
    read_contract_state,
    write_contract,
)
from protocols.snmp.model import SnmpError, SnmpTarget, SnmpTimeout

log = logging.getLogger(__name__)

ACK_RETRY_MIN = 1.0
ACK_RETRY_MAX = 60.0


class _Unreachable(Exception):
    """The device did not answer; try again later."""



def _seconds(text: str) -> float:
    return datetime.fromisoformat(text.upper().replace("Z", "+00:00")).timestamp()




class CommandRelay:
    def __init__(self, contract: Callable[[], ContractSettings], state: CloudState,
                 inventory: Inventory,
                 credentials: CredentialResolver, client: Callable[[], CloudClient],
                 snmp: Callable[[], SnmpClient], clock: Callable[[], float] = time.time,
                 enabler: ServiceEnabler | None = None) -> None:
        self.contract = contract
        self.enabler = enabler
        """Applies `set-service-enabled`; None: refused as a kind this gateway cannot apply."""
        self.state = state
        self.inventory = inventory
        self.credentials = credentials
        self.client = client
        """The cloud link's client (raises RuntimeError while not connected)."""
        self.snmp = snmp
        self.clock = clock
        self.log = CommandLog(state.store, clock)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._ack_task: asyncio.Task[None] | None = None
        self._ack_wake = asyncio.Event()
        self._ack_backoff = ACK_RETRY_MIN
        self._flushing = asyncio.Lock()

    # -- entry points ------------------------------------------------------------------------------

    async def handle(self, command: Command | UnreadableCommand) -> None:
        """A command from the cloud link's change stream (`CloudLink.on_command`).  Returns once
        it is stored (the link may then move its cursor on); it is applied in the background.
        One that cannot be understood is refused (`refuse`)."""
        if command.kind != SERVICE_ENABLE and not self.contract().enabled:
            log.info("command %s (%s) for printer %s: contract-mode commands are not relayed "
                     "([contract] enabled = false)", command.command_id, command.kind,
                     command.printer_id)
            return
        if isinstance(command, UnreadableCommand):
            self.refuse(command)
            return
        command_id = command.command_id
        row = self.log.get(command_id)
        if row is None:
            self.log.add(command)
            log.info("command %s: %s for printer %s received", command_id, command.kind,
                     command.printer_id)
        elif row["state"] == "completed":
            self.log.audit(command_id, "delivered again", f"already {row['result']}: not "
                           "applied again, its acknowledgement is sent again")
            self.log.acknowledge_again(command_id)
            self._wake_acks()
            return
        elif command_id in self._tasks:
            self.log.audit(command_id, "delivered again", "in progress: not applied again")
            return
        self._start(command_id)

    def refuse(self, command: UnreadableCommand) -> None:
        """A command the gateway cannot understand (an unknown kind, parameters its kind does not
        allow, a field missing): stored as completed `refused` with the reason, and its
        acknowledgement sent like any other; never applied.  One already in the log gets its
        final acknowledgement again; one without a readable command ID or printer ID cannot be
        acknowledged and is only logged."""
        if not command.acknowledgeable:
            log.warning("commands: a command that cannot be understood and cannot be "
                        "acknowledged (no command ID or printer ID): %s: %s", command.code,
                        command.detail)
            return
        command_id = command.command_id
        assert command_id is not None
        row = self.log.get(command_id)
        if row is not None:
            if row["state"] == "completed":
                self.log.audit(command_id, "delivered again, cannot be understood",
                               f"already {row['result']}: its acknowledgement is sent again")
                self.log.acknowledge_again(command_id)
                self._wake_acks()
            else:  # stored readable before: it goes on as it was
                self.log.audit(command_id, "delivered again, cannot be understood",
                               f"{command.code}: {command.detail}; the stored one goes on")
            return
        outcome = CommandOutcome.refused(command.code, command.detail)
        self.log.add_refused(command, outcome)
        log.warning("command %s (%s) for printer %s refused: %s: %s", command_id,
                    command.kind, command.printer_id, command.code, command.detail)
        self._wake_acks()

    async def resume(self) -> None:
        """At start-up: the cloud's open commands (`listPendingCommands`), then the ones the log
        has not finished, and the acknowledgements not yet delivered.  (After a resynchronisation
        the link lists the open commands itself and hands them to `handle`.)"""
        try:
            pending = await self.client().list_pending_commands()
        except (CloudError, RuntimeError) as exc:
            log.warning("commands: cannot list the pending ones now: %s", exc)
        else:
            for status in pending:
                await self.handle(status if isinstance(status, UnreadableCommand)
                                  else status.command)
        for command_id in self.log.open_commands():
            self._start(command_id)
        self._wake_acks()

    async def drain(self) -> None:
        """Wait until every command started has completed (each is bounded by its deadline and
        `retry_for`) and the acknowledgements due have been tried once."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)
        await self.flush_acks()

    async def close(self) -> None:
        """Stop; what is unfinished stays in the log for `resume()`."""
        tasks = [*self._tasks.values(), *([self._ack_task] if self._ack_task else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self._ack_task = None

    # -- applying ----------------------------------------------------------------------------------

    def _start(self, command_id: str) -> None:
        if command_id not in self._tasks:
            task = asyncio.create_task(self._run(command_id), name=f"command-{command_id}")
            self._tasks[command_id] = task
            task.add_done_callback(lambda _t: self._tasks.pop(command_id, None))

    async def _run(self, command_id: str) -> None:
        row = self.log.get(command_id)
        assert row is not None
        try:
            outcome = await self._apply(row)
        except Exception:  # a bug, not the device: leave it open for the next resume()
            log.exception("command %s: applying failed", command_id)
            self.log.audit(command_id, "apply", "internal error: left open")
            return
        self.log.complete(command_id, outcome)
        level = logging.INFO if outcome.result == "done" else logging.WARNING
        log.log(level, "command %s (%s): %s%s", command_id, row["kind"], outcome.result,
                f" ({outcome.code}: {outcome.detail})" if outcome.code else "")
        self._wake_acks()

    async def _apply(self, row: sqlite3.Row) -> CommandOutcome:
        """Check, apply and verify one command, retrying an unreachable device (bounded).

        A device takes its commands one at a time in the order they came (the order the cloud
        issued them): the device's lock is held through the retries, so a later command never
        overtakes one that waits to try again; the lock is FIFO and the tasks reach it in the
        order `_start` created them."""
        command_id = row["command_id"]
        contract = self.contract()
        deadline = _seconds(row["deadline"])
        give_up = min(deadline, row["received_at"] + contract.retry_for)
        delay = min(contract.retry_initial, contract.retry_max)
        unreachable: str | None = None
        device_id = self.state.device_for_printer(row["printer_id"])
        if device_id is None:
            return CommandOutcome.refused(
                "unknown-printer", f"printer {row['printer_id']} is not one of "
                "this gateway's devices")
        async with self._locks.setdefault(device_id, asyncio.Lock()):
            while True:
                now = self.clock()
                if unreachable is not None and now >= give_up:
                    return CommandOutcome.failed("device-unreachable", unreachable)
                if now > deadline:
                    return CommandOutcome.refused(
                        "deadline-passed", f"the deadline {row['deadline']} has " "passed")
                if row["device_id"] != device_id:
                    self.log.set_device(command_id, device_id)
                try:
                    return await self._attempt(row, self.inventory.get(device_id))
                except _Unreachable as exc:
                    unreachable = str(exc)
                wait = min(delay, max(0.0, give_up - self.clock()))
                self.log.audit(command_id, "device did not answer", f"{unreachable}; trying "
                               f"again in {wait:.3g} s")
                await asyncio.sleep(wait)
                delay = min(delay * 2, contract.retry_max)

    async def _attempt(self, row: sqlite3.Row, device: Device) -> CommandOutcome:
        """One try; raises `_Unreachable` when the device does not answer."""
        command_id = row["command_id"]
        if row["kind"] == SERVICE_ENABLE:
            return await self._set_enabled(row, device)
        if device.snmp_version is None:
            return CommandOutcome.refused("contract-unsupported", "the device does not answer SNMP")
        target, before = await self._read(device)
        if not before.supported:
            return CommandOutcome.refused(
                "contract-unsupported", "the device has no contract MIB", before)
        try:
            change = plan(row["kind"], json.loads(row["parameters"]), before)
        except NotApplicable as exc:
            return CommandOutcome.refused(exc.code, str(exc), before)
        self.log.received_due(command_id)
        self._wake_acks()
        if change.shown_by(before):
            self.log.audit(command_id, "read device", "already in place: no SET")
            return CommandOutcome.done(before)
        write_target = self.credentials.write_target(device, target)
        if write_target is None:
            return CommandOutcome.failed(
                "set-failed", "no write credentials configured ([contract] "
                "write_community or v3_user)", before)
        what = (f"SET {change} on {target.host}:{target.port} as "
                f"{write_target.credentials!r}")
        try:
            await write_contract(self.snmp(), write_target, change)
        except SnmpTimeout:
            # No answer to the SET: either the device went away, or it drops requests with
            # credentials it does not accept (what agents do with an unknown community).
            after = await self._read_again(device, target)
            if change.shown_by(after):
                self.log.audit(command_id, what, "no answer, but the change is in place")
                return CommandOutcome.done(after)
            self.log.audit(command_id, what, "no answer while reads are answered")
            return CommandOutcome.failed(
                "set-failed", "the device answers reads but not the SET: check the "
                "write credentials", after)
        except SnmpError as exc:
            self.log.audit(command_id, what, f"refused: {exc}")
            return CommandOutcome.failed("set-failed", str(exc), before)
        self.log.audit(command_id, what, "accepted")
        after = await self._read_again(device, target)
        if not change.shown_by(after):
            return CommandOutcome.failed(
                "verify-failed", f"read back {after.to_json()} after the SET", after)
        return CommandOutcome.done(after)

    async def _set_enabled(self, row: sqlite3.Row, device: Device) -> CommandOutcome:
        if self.enabler is None:
            return CommandOutcome.refused("unsupported-command", "this gateway does not apply "
                                          "set-service-enabled")
        self.log.received_due(row["command_id"])
        self._wake_acks()
        outcome = await self.enabler.apply(device, row["printer_id"],
                                           json.loads(row["parameters"]))
        self.log.audit(row["command_id"], f"enable setting {row['parameters']}",
                       json.dumps(outcome.service_setting))
        return outcome

    async def _read(self, device: Device) -> tuple[SnmpTarget, ContractState]:
        """The contract state with the device's read credentials (the `CredentialResolver`'s,
        as the poller reads it)."""
        address = device.address
        if address is None:
            raise _Unreachable("no known address")
        problem = "no SNMP credentials for its version"
        for target in self.credentials.read_targets(device, address):
            try:
                state = await read_contract_state(self.snmp(), target)
            except SnmpError as exc:
                problem = str(exc)
                continue
            self.credentials.answered(device, target)
            return target, state
        self.credentials.forget(device)
        raise _Unreachable(problem)

    async def _read_again(self, device: Device, target: SnmpTarget) -> ContractState:
        try:
            return await read_contract_state(self.snmp(), target)
        except SnmpError as exc:
            self.credentials.forget(device)
            raise _Unreachable(f"reading back: {exc}") from exc

    # -- acknowledgements --------------------------------------------------------------------------

    def _wake_acks(self) -> None:
        if self._ack_task is None or self._ack_task.done():
            self._ack_task = asyncio.create_task(self._ack_loop(), name="command-acks")
        self._ack_wake.set()

    async def _ack_loop(self) -> None:
        while True:
            self._ack_wake.clear()
            retry_in = await self.flush_acks()
            # Not wait_for: on Python 3.11 it drops a cancellation that arrives in the same
            # loop turn as the wake-up (gh-86296), and close() would wait forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(retry_in):
                    await self._ack_wake.wait()

    async def flush_acks(self) -> float | None:
        """Send every acknowledgement due; the seconds until the next try when the cloud could
        not take them now (None: nothing left)."""
        async with self._flushing:
            return await self._flush_acks()

    async def _flush_acks(self) -> float | None:
        for row in self.log.due_acks():
            while True:
                current = self.log.get(row["command_id"])
                if current is None or "due" not in (current["received_ack"],
                                                    current["completed_ack"]):
                    break
                ack = acknowledgement(current)
                stage = ack.stage
                try:
                    await self.client().acknowledge_command(current["command_id"], ack)
                except CloudRejected as exc:
                    log.warning("command %s: the cloud refused its %s acknowledgement: %s",
                                current["command_id"], stage, exc)
                    self.log.ack_rejected(current["command_id"], stage, str(exc))
                except (CloudError, RuntimeError) as exc:
                    self.log.ack_failed(current["command_id"], str(exc))
                    retry_in = self._ack_backoff
                    self._ack_backoff = min(ACK_RETRY_MAX, self._ack_backoff * 2)
                    log.info("commands: acknowledgements wait for the cloud (%s); again in "
                             "%.0f s", exc, retry_in)
                    return retry_in
                else:
                    self._ack_backoff = ACK_RETRY_MIN
                    self.log.ack_sent(current["command_id"], stage)
        return None
