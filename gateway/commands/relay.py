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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from gateway.fleet.inventory import Device, Inventory
from gateway.settings.config import Config
from gateway.store import Store
from gateway.uplink.cloud_state import CloudState
from protocols.cloud.client import CloudClient, CloudError, CloudRejected
from protocols.snmp.client import (
    SnmpClient,
    SnmpCredentials,
    SnmpError,
    SnmpTarget,
    SnmpTimeout,
)
from protocols.snmp.contract import (
    UNSUPPORTED,
    ContractChange,
    ContractState,
    read_contract_state,
    write_contract,
)

log = logging.getLogger(__name__)

WHO = "cloud"
"""Who causes every command: the authenticated cloud link, nobody else."""
ACK_RETRY_MIN = 1.0
ACK_RETRY_MAX = 60.0
COMMAND_FIELDS = ("command_id", "printer_id", "kind", "parameters", "issued_at", "deadline")
"""The `Command` of a `CommandStatus` (what `listPendingCommands` gives)."""

Result = Literal["done", "refused", "failed"]


@dataclass(frozen=True)
class Outcome:
    result: Result
    contract_state: ContractState
    code: str | None = None
    detail: str | None = None

    def reason(self) -> dict[str, str] | None:
        return None if self.code is None else {"code": self.code, "detail": self.detail or ""}


def _done(state: ContractState) -> Outcome:
    return Outcome("done", state)


def _refused(code: str, detail: str, state: ContractState = UNSUPPORTED) -> Outcome:
    return Outcome("refused", state, code, detail)


def _failed(code: str, detail: str, state: ContractState = UNSUPPORTED) -> Outcome:
    return Outcome("failed", state, code, detail)


class _Unreachable(Exception):
    """The device did not answer; try again later."""


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


def _seconds(text: str) -> float:
    return datetime.fromisoformat(text.upper().replace("Z", "+00:00")).timestamp()


# -- what each command kind writes ---------------------------------------------------------------

class NotApplicable(Exception):
    """The command does not apply to the device as it is; `code` is the refusal's reason code."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


def plan(kind: str, parameters: Mapping[str, Any], state: ContractState) -> ContractChange:
    """The change a command makes on a device in `state`; raises `NotApplicable`.  A command
    whose change is already in place applies (it is then done without a SET)."""
    mode = state.mode
    if kind == "contract-transition":
        target = parameters.get("mode", "contract-non-billing")
        if mode not in ("non-contract", target):
            raise NotApplicable("invalid-mode", f"the device is in {mode} mode: a contract "
                                "transition starts from non-contract")
        return ContractChange(mode=target)
    if kind == "withdrawal":
        return ContractChange(mode="non-contract")
    if kind == "billing-start":
        if mode not in ("contract-non-billing", "contract-billing"):
            raise NotApplicable("invalid-mode", f"the device is in {mode} mode: billing starts "
                                "from contract-non-billing")
        return ContractChange(mode="contract-billing")
    if kind in ("prohibit-contract-printing", "permit-contract-printing"):
        return ContractChange(printing_prohibited=kind.startswith("prohibit"))
    if kind == "panel-message":
        try:
            return ContractChange(panel_message=parameters["message"])
        except ValueError as exc:
            raise NotApplicable("invalid-parameters", str(exc)) from None
    raise NotApplicable("invalid-parameters", f"unknown command kind {kind!r}")


# -- the command log -----------------------------------------------------------------------------

class CommandLog:
    """The `commands` and `command_audit` tables (store migration 4)."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def get(self, command_id: str) -> sqlite3.Row | None:
        return self.store.conn.execute("SELECT * FROM commands WHERE command_id = ?",
                                       (command_id,)).fetchone()

    def add(self, command: Mapping[str, Any]) -> None:
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO commands (command_id, printer_id, kind, parameters, issued_at, "
                "deadline, received_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, 'received')",
                (command["command_id"], command["printer_id"], command["kind"],
                 json.dumps(command["parameters"]), command["issued_at"], command["deadline"],
                 self.clock()))
            self._audit(db, command["command_id"], f"{command['kind']} "
                        f"{json.dumps(command['parameters'])} for printer "
                        f"{command['printer_id']}", "received")

    def audit(self, command_id: str, what: str, result: str) -> None:
        with self.store.transaction() as db:
            self._audit(db, command_id, what, result)

    def _audit(self, db: sqlite3.Connection, command_id: str, what: str, result: str) -> None:
        db.execute("INSERT INTO command_audit (command_id, at, who, what, result) "
                   "VALUES (?, ?, ?, ?, ?)", (command_id, self.clock(), WHO, what, result))

    def set_device(self, command_id: str, device_id: int) -> None:
        with self.store.transaction() as db:
            db.execute("UPDATE commands SET device_id = ? WHERE command_id = ?",
                       (device_id, command_id))

    def received_due(self, command_id: str) -> None:
        """The `received` acknowledgement is to be sent (once)."""
        with self.store.transaction() as db:
            db.execute("UPDATE commands SET received_ack = 'due' WHERE command_id = ? "
                       "AND received_ack IS NULL", (command_id,))

    def complete(self, command_id: str, outcome: Outcome) -> None:
        with self.store.transaction() as db:
            db.execute(
                "UPDATE commands SET state = 'completed', result = ?, reason = ?, "
                "contract_state = ?, completed_at = ?, completed_ack = 'due' "
                "WHERE command_id = ?",
                (outcome.result, json.dumps(outcome.reason()),
                 json.dumps(outcome.contract_state.to_json()), self.clock(), command_id))
            detail = f": {outcome.code}: {outcome.detail}" if outcome.code else ""
            self._audit(db, command_id, f"completed, device contract state "
                        f"{json.dumps(outcome.contract_state.to_json())}",
                        f"{outcome.result}{detail}")

    def acknowledge_again(self, command_id: str) -> None:
        """A replayed command: send its final acknowledgement again."""
        with self.store.transaction() as db:
            db.execute("UPDATE commands SET completed_ack = 'due' WHERE command_id = ?",
                       (command_id,))

    def open_commands(self) -> list[str]:
        rows = self.store.conn.execute(
            "SELECT command_id FROM commands WHERE state != 'completed' ORDER BY received_at")
        return [row["command_id"] for row in rows]

    def due_acks(self) -> list[sqlite3.Row]:
        return self.store.conn.execute(
            "SELECT * FROM commands WHERE received_ack = 'due' OR completed_ack = 'due' "
            "ORDER BY received_at").fetchall()

    def ack_sent(self, command_id: str, stage: str) -> None:
        with self.store.transaction() as db:
            if stage == "completed":  # a completed acknowledgement implies the received one
                db.execute("UPDATE commands SET completed_ack = 'sent', received_ack = 'sent', "
                           "ack_error = NULL WHERE command_id = ?", (command_id,))
            else:
                db.execute("UPDATE commands SET received_ack = 'sent', ack_error = NULL "
                           "WHERE command_id = ?", (command_id,))
            self._audit(db, command_id, f"{stage} acknowledgement", "sent")

    def ack_failed(self, command_id: str, error: str) -> None:
        with self.store.transaction() as db:
            db.execute("UPDATE commands SET ack_attempts = ack_attempts + 1, ack_error = ? "
                       "WHERE command_id = ?", (error, command_id))

    def ack_rejected(self, command_id: str, stage: str, error: str) -> None:
        column = "completed_ack" if stage == "completed" else "received_ack"
        with self.store.transaction() as db:
            db.execute(f"UPDATE commands SET {column} = 'rejected', ack_error = ? "
                       "WHERE command_id = ?", (error, command_id))
            self._audit(db, command_id, f"{stage} acknowledgement", f"rejected: {error}")


def acknowledgement(row: sqlite3.Row) -> tuple[str, dict[str, Any]]:
    """The next acknowledgement due for a command: (stage, `CommandAcknowledgement`).  A due
    `completed` goes alone: it implies `received`."""
    if row["completed_ack"] == "due":
        ack = {"printer_id": row["printer_id"], "stage": "completed", "result": row["result"],
               "at": _iso(row["completed_at"]),
               "contract_state": json.loads(row["contract_state"])}
        reason = json.loads(row["reason"]) if row["reason"] else None
        if reason is not None:
            ack["reason"] = reason
        return "completed", ack
    return "received", {"printer_id": row["printer_id"], "stage": "received",
                        "at": _iso(row["received_at"])}


# -- the relay -----------------------------------------------------------------------------------

class CommandRelay:
    def __init__(self, config: Config, state: CloudState, inventory: Inventory,
                 client: Callable[[], CloudClient], snmp: Callable[[], SnmpClient],
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.state = state
        self.inventory = inventory
        self.client = client
        """The cloud link's client (raises RuntimeError while not connected)."""
        self.snmp = snmp
        self.clock = clock
        self.log = CommandLog(state.store, clock)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._readers: dict[int, SnmpCredentials] = {}
        self._ack_task: asyncio.Task[None] | None = None
        self._ack_wake = asyncio.Event()
        self._ack_backoff = ACK_RETRY_MIN
        self._flushing = asyncio.Lock()

    # -- entry points ------------------------------------------------------------------------------

    async def handle(self, command: Mapping[str, Any]) -> None:
        """A command from the cloud link's change stream (`CloudLink.on_command`).  Returns once
        it is stored (the link may then move its cursor on); it is applied in the background."""
        command_id = command["command_id"]
        row = self.log.get(command_id)
        if row is None:
            self.log.add(command)
            log.info("command %s: %s for printer %s received", command_id, command["kind"],
                     command["printer_id"])
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

    async def resume(self) -> None:
        """At start-up: the cloud's open commands (`listPendingCommands`), then the ones the log
        has not finished, and the acknowledgements not yet delivered.  (After a resynchronisation
        the link lists the open commands itself and hands them to `handle`.)"""
        try:
            pending = await self.client().list_pending_commands()
        except (CloudError, RuntimeError) as exc:
            log.warning("commands: cannot list the pending ones now: %s", exc)
        else:
            for status in pending["commands"]:
                await self.handle({k: status[k] for k in COMMAND_FIELDS})
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

    async def _apply(self, row: sqlite3.Row) -> Outcome:
        """Check, apply and verify one command, retrying an unreachable device (bounded).

        A device takes its commands one at a time in the order they came (the order the cloud
        issued them): the device's lock is held through the retries, so a later command never
        overtakes one that waits to try again; the lock is FIFO and the tasks reach it in the
        order `_start` created them."""
        command_id = row["command_id"]
        contract = self.config.contract
        deadline = _seconds(row["deadline"])
        give_up = min(deadline, row["received_at"] + contract.retry_for)
        delay = min(contract.retry_initial, contract.retry_max)
        unreachable: str | None = None
        device_id = self.state.device_for_printer(row["printer_id"])
        if device_id is None:
            return _refused("unknown-printer", f"printer {row['printer_id']} is not one of "
                            "this gateway's devices")
        async with self._locks.setdefault(device_id, asyncio.Lock()):
            while True:
                now = self.clock()
                if unreachable is not None and now >= give_up:
                    return _failed("device-unreachable", unreachable)
                if now > deadline:
                    return _refused("deadline-passed", f"the deadline {row['deadline']} has "
                                    "passed")
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

    async def _attempt(self, row: sqlite3.Row, device: Device) -> Outcome:
        """One try; raises `_Unreachable` when the device does not answer."""
        command_id = row["command_id"]
        if device.snmp_version is None:
            return _refused("contract-unsupported", "the device does not answer SNMP")
        target, before = await self._read(device)
        if not before.supported:
            return _refused("contract-unsupported", "the device has no contract MIB", before)
        try:
            change = plan(row["kind"], json.loads(row["parameters"]), before)
        except NotApplicable as exc:
            return _refused(exc.code, str(exc), before)
        self.log.received_due(command_id)
        self._wake_acks()
        if change.shown_by(before):
            self.log.audit(command_id, "read device", "already in place: no SET")
            return _done(before)
        writer = self._write_credentials(device)
        if writer is None:
            return _failed("set-failed", "no write credentials configured ([contract] "
                           "write_community or v3_user)", before)
        write_target = SnmpTarget(target.host, target.port, writer, target.timeout,
                                  target.retries)
        what = f"SET {change} on {target.host}:{target.port} as {writer!r}"
        try:
            await write_contract(self.snmp(), write_target, change)
        except SnmpTimeout:
            # No answer to the SET: either the device went away, or it drops requests with
            # credentials it does not accept (what agents do with an unknown community).
            after = await self._read_again(device, target)
            if change.shown_by(after):
                self.log.audit(command_id, what, "no answer, but the change is in place")
                return _done(after)
            self.log.audit(command_id, what, "no answer while reads are answered")
            return _failed("set-failed", "the device answers reads but not the SET: check the "
                           "write credentials", after)
        except SnmpError as exc:
            self.log.audit(command_id, what, f"refused: {exc}")
            return _failed("set-failed", str(exc), before)
        self.log.audit(command_id, what, "accepted")
        after = await self._read_again(device, target)
        if not change.shown_by(after):
            return _failed("verify-failed", f"read back {after.to_json()} after the SET", after)
        return _done(after)

    async def _read(self, device: Device) -> tuple[SnmpTarget, ContractState]:
        """The contract state with the device's read credentials (the ones that answered last,
        else those of its scope and SNMP version in order, as the poller does)."""
        address = device.address
        if address is None:
            raise _Unreachable("no known address")
        snmp = self.config.snmp
        known = self._readers.get(device.id)
        if known is not None:
            candidates = [known]
        else:
            tried = self.config.credentials(self.config.scope_for(address))
            candidates = [c for c in tried if c.version == device.snmp_version and (
                c.version != 3 or device.snmp_user in (None, c.user))]
        problem = "no SNMP credentials for its version"
        for credentials in candidates:
            target = SnmpTarget(address, device.snmp_port or snmp.port, credentials,
                                snmp.timeout, snmp.retries)
            try:
                state = await read_contract_state(self.snmp(), target)
            except SnmpError as exc:
                problem = str(exc)
                continue
            self._readers[device.id] = credentials
            return target, state
        self._readers.pop(device.id, None)
        raise _Unreachable(problem)

    async def _read_again(self, device: Device, target: SnmpTarget) -> ContractState:
        try:
            return await read_contract_state(self.snmp(), target)
        except SnmpError as exc:
            self._readers.pop(device.id, None)
            raise _Unreachable(f"reading back: {exc}") from exc

    def _write_credentials(self, device: Device) -> SnmpCredentials | None:
        """`v3_user` for a device read over SNMPv3 (or when it is the only one), else
        `write_community` (v2c)."""
        contract = self.config.contract
        if contract.v3_user is not None and (device.snmp_version == 3
                                             or contract.write_community is None):
            return self.config.snmp.v3_users[contract.v3_user].credentials(contract.v3_user)
        if contract.write_community is not None:
            return SnmpCredentials(version=2,
                                   community=contract.write_community.get_secret_value())
        return None

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
                stage, ack = acknowledgement(current)
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
