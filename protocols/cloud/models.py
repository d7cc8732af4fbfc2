"""The requests and answers of the cloud API as typed values (frozen dataclasses).

One class per schema of `openapi.yaml` the gateway sends or reads, with the document's field names.
`to_json()` gives the wire object (what the client sends; optional fields the value does not have
are left out, not sent as null) and `from_json()` reads one the client has already checked against
the document, so it trusts the shape and only picks the fields.  The client converts at its edge:
nothing past it handles the wire dicts.

Values of the device-status catalogue (`DeviceStatusData`: data type name → value) stay JSON
values: they are a projection of `DeviceStatus.to_json()`, typed there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

JsonValue = Any
"""A JSON value (object, array, string, number, boolean or null)."""
JsonObject = dict[str, JsonValue]


def optional_fields(body: JsonObject, **fields: object) -> JsonObject:
    """`body` with those of `fields` that are not None."""
    body.update({name: value for name, value in fields.items() if value is not None})
    return body


# -- shared pieces ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reason:
    """Why something was refused or failed (`Reason`); `pointer` only in a rejected upload
    entry's reason (`invalid-entry`)."""

    code: str
    detail: str
    pointer: str | None = None

    def to_json(self) -> JsonObject:
        return optional_fields({"code": self.code, "detail": self.detail}, pointer=self.pointer)

    @classmethod
    def from_json(cls, body: Mapping[str, JsonValue]) -> Reason:
        return cls(code=body["code"], detail=body["detail"], pointer=body.get("pointer"))

    @classmethod
    def maybe(cls, body: Mapping[str, JsonValue] | None) -> Reason | None:
        return None if body is None else cls.from_json(body)


@dataclass(frozen=True)
class ActivationResult:
    """One service's answer to an activation notice, or to a FIG. 9 first upload
    (`ActivationResult`).  `service_id` is None only for a first upload's application ID the
    cloud cannot attribute."""

    service_id: str | None
    application_id: str
    result: str
    activation_state: str
    reason: Reason | None
    activated_at: str | None = None

    def to_json(self) -> JsonObject:
        return {"service_id": self.service_id, "application_id": self.application_id,
                "result": self.result, "activation_state": self.activation_state,
                "activated_at": self.activated_at,
                "reason": None if self.reason is None else self.reason.to_json()}

    @classmethod
    def from_json(cls, body: Mapping[str, JsonValue]) -> ActivationResult:
        return cls(service_id=body["service_id"], application_id=body["application_id"],
                   result=body["result"], activation_state=body["activation_state"],
                   reason=Reason.maybe(body.get("reason")),
                   activated_at=body.get("activated_at"))


# -- status uploads --------------------------------------------------------------------------------

@dataclass(frozen=True)
class EventDetail:
    """What an event entry is about (`StatusEntry.event_detail`); each event names some."""

    supply_index: str | None = None
    threshold_percent: int | None = None
    alert_index: str | None = None
    previous_state: str | None = None
    previous_cartridge_id: str | None = None
    previous_mode: str | None = None
    """`contract-mode-changed`: the contract mode before (also when only the prohibition
    changed)."""
    previous_printing_prohibited: bool | None = None
    """`contract-mode-changed`: whether contract printing was prohibited before."""
    period: str | None = None
    """`meter-snapshot` (issue 17): the billing period, e.g. `2026-12`."""
    scheduled_at: str | None = None
    """`meter-snapshot`: the scheduled moment (RFC 3339) the reading was due at."""

    def to_json(self) -> JsonObject:
        return optional_fields({}, supply_index=self.supply_index,
                               threshold_percent=self.threshold_percent,
                               alert_index=self.alert_index, previous_state=self.previous_state,
                               previous_cartridge_id=self.previous_cartridge_id,
                               previous_mode=self.previous_mode,
                               previous_printing_prohibited=self.previous_printing_prohibited,
                               period=self.period, scheduled_at=self.scheduled_at)

    @classmethod
    def from_json(cls, body: Mapping[str, JsonValue]) -> EventDetail:
        return cls(supply_index=body.get("supply_index"),
                   threshold_percent=body.get("threshold_percent"),
                   alert_index=body.get("alert_index"), previous_state=body.get("previous_state"),
                   previous_cartridge_id=body.get("previous_cartridge_id"),
                   previous_mode=body.get("previous_mode"),
                   previous_printing_prohibited=body.get("previous_printing_prohibited"),
                   period=body.get("period"), scheduled_at=body.get("scheduled_at"))


@dataclass(frozen=True)
class StatusEntry:
    """One status upload (`StatusEntry`): a reading of a printer, or the part of it its
    transmission data types select, with the event that caused it.

    `read_at` is RFC 3339 text as `DeviceStatus.to_json()` writes it (kept as text so an entry
    read back from the outbox is byte for byte the one first sent: the cloud deduplicates by
    `entry_id`, and a retried batch must be the same request).  `data` maps each data type sent
    to its value.
    """

    entry_id: str
    printer_id: str
    read_at: str
    event: str
    data: Mapping[str, JsonValue]
    event_detail: EventDetail | None = None
    application_ids: tuple[str, ...] | None = None

    def to_json(self) -> JsonObject:
        return optional_fields(
            {"entry_id": self.entry_id, "printer_id": self.printer_id, "read_at": self.read_at,
             "event": self.event, "data": dict(self.data)},
            event_detail=None if self.event_detail is None else self.event_detail.to_json(),
            application_ids=None if self.application_ids is None else list(self.application_ids))

    @classmethod
    def from_json(cls, body: Mapping[str, JsonValue]) -> StatusEntry:
        detail = body.get("event_detail")
        ids = body.get("application_ids")
        return cls(entry_id=body["entry_id"], printer_id=body["printer_id"],
                   read_at=body["read_at"], event=body["event"], data=dict(body["data"]),
                   event_detail=None if detail is None else EventDetail.from_json(detail),
                   application_ids=None if ids is None else tuple(ids))


@dataclass(frozen=True)
class EntryResult:
    """The cloud's answer for one uploaded entry (`EntryResult`): `accepted`, `duplicate` or
    `rejected` (with `reason`).  `ignored_data_types`: types of an accepted entry the cloud did
    not request (the transmission table is stale); `activations`: FIG. 9 results."""

    entry_id: str
    status: str
    reason: Reason | None = None
    ignored_data_types: tuple[str, ...] = ()
    activations: tuple[ActivationResult, ...] = ()

    def to_json(self) -> JsonObject:
        body = optional_fields({"entry_id": self.entry_id, "status": self.status},
                               reason=None if self.reason is None else self.reason.to_json())
        if self.ignored_data_types:
            body["ignored_data_types"] = list(self.ignored_data_types)
        if self.activations:
            body["activations"] = [a.to_json() for a in self.activations]
        return body

    @classmethod
    def from_json(cls, body: Mapping[str, JsonValue]) -> EntryResult:
        return cls(entry_id=body["entry_id"], status=body["status"],
                   reason=Reason.maybe(body.get("reason")),
                   ignored_data_types=tuple(body.get("ignored_data_types") or ()),
                   activations=tuple(ActivationResult.from_json(a)
                                     for a in body.get("activations") or ()))


@dataclass(frozen=True)
class StatusCounts:
    accepted: int
    duplicate: int
    rejected: int


@dataclass(frozen=True)
class StatusBatchResult:
    """The answer to `uploadStatuses` (`StatusBatchResult`): one result per entry."""

    received_at: str
    counts: StatusCounts
    results: tuple[EntryResult, ...]

    def to_json(self) -> JsonObject:
        return {"received_at": self.received_at,
                "counts": {"accepted": self.counts.accepted,
                           "duplicate": self.counts.duplicate,
                           "rejected": self.counts.rejected},
                "results": [r.to_json() for r in self.results]}

    @classmethod
    def from_json(cls, body: Mapping[str, JsonValue]) -> StatusBatchResult:
        counts = body["counts"]
        return cls(received_at=body["received_at"],
                   counts=StatusCounts(accepted=counts["accepted"],
                                       duplicate=counts["duplicate"],
                                       rejected=counts["rejected"]),
                   results=tuple(EntryResult.from_json(r) for r in body["results"]))


def statuses_json(entries: Sequence[StatusEntry]) -> JsonObject:
    """The `StatusBatch` body of `uploadStatuses`."""
    return {"statuses": [entry.to_json() for entry in entries]}




# -- commands --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Command:
    """A contract-mode command for a printer (`Command`); the gateway applies each
    `command_id` once.  `parameters` as the document's `CommandSpec` gives them per kind."""

    command_id: str
    printer_id: str
    kind: str
    parameters: Mapping[str, JsonValue]
    issued_at: str
    deadline: str

    def to_json(self) -> JsonObject:
        return {"command_id": self.command_id, "printer_id": self.printer_id, "kind": self.kind,
                "parameters": dict(self.parameters), "issued_at": self.issued_at,
                "deadline": self.deadline}

    @classmethod
    def from_json(cls, body: Mapping[str, JsonValue]) -> Command:
        return cls(command_id=body["command_id"], printer_id=body["printer_id"],
                   kind=body["kind"], parameters=dict(body["parameters"]),
                   issued_at=body["issued_at"], deadline=body["deadline"])


@dataclass(frozen=True)
class CommandStatus:
    """A command with its state in the cloud (`CommandStatus`: what `listPendingCommands` and
    an acknowledgement give).  `contract_state` is a `ContractState` value."""

    command: Command
    state: str
    received_at: str | None
    completed_at: str | None
    reason: Reason | None
    contract_state: Mapping[str, JsonValue] | None

    def to_json(self) -> JsonObject:
        return {**self.command.to_json(), "state": self.state, "received_at": self.received_at,
                "completed_at": self.completed_at,
                "reason": None if self.reason is None else self.reason.to_json(),
                "contract_state": None if self.contract_state is None
                else dict(self.contract_state)}

    @classmethod
    def from_json(cls, body: Mapping[str, JsonValue]) -> CommandStatus:
        contract_state = body["contract_state"]
        return cls(command=Command.from_json(body), state=body["state"],
                   received_at=body["received_at"], completed_at=body["completed_at"],
                   reason=Reason.maybe(body["reason"]),
                   contract_state=None if contract_state is None else dict(contract_state))


@dataclass(frozen=True)
class CommandAcknowledgement:
    """The gateway's `received` or `completed` acknowledgement of a command
    (`CommandAcknowledgement`): a completed one has `result` and the device's `contract_state`
    read back, and a `reason` unless done."""

    printer_id: str
    stage: str
    at: str
    result: str | None = None
    reason: Reason | None = None
    contract_state: Mapping[str, JsonValue] | None = None
    service_setting: Mapping[str, JsonValue] | None = None
    """A `set-service-enabled` command's effective setting (`ServiceSetting`)."""

    def to_json(self) -> JsonObject:
        return optional_fields(
            {"printer_id": self.printer_id, "stage": self.stage, "at": self.at},
            result=self.result, reason=None if self.reason is None else self.reason.to_json(),
            contract_state=None if self.contract_state is None else dict(self.contract_state),
            service_setting=None if self.service_setting is None else dict(self.service_setting))

    @classmethod
    def from_json(cls, body: Mapping[str, JsonValue]) -> CommandAcknowledgement:
        contract_state = body.get("contract_state")
        setting = body.get("service_setting")
        return cls(printer_id=body["printer_id"], stage=body["stage"], at=body["at"],
                   result=body.get("result"), reason=Reason.maybe(body.get("reason")),
                   contract_state=None if contract_state is None else dict(contract_state),
                   service_setting=None if setting is None else dict(setting))


# -- the change stream (push and poll) -------------------------------------------------------------

@dataclass(frozen=True)
class PushHello:
    """The first message of the push channel (`PushHello`)."""

    cursor: str | None
    heartbeat_seconds: int
    server_time: str

    def to_json(self) -> JsonObject:
        return {"type": "hello", "cursor": self.cursor,
                "heartbeat_seconds": self.heartbeat_seconds, "server_time": self.server_time}


@dataclass(frozen=True)
class PrinterChanged:
    """A printer's application information (`type` `application-info-changed`) or control
    information (`control-info-changed`) changed: fetch it again."""

    type: str
    cursor: str
    occurred_at: str
    printer_id: str
    revision: int

    def to_json(self) -> JsonObject:
        return {"type": self.type, "cursor": self.cursor, "occurred_at": self.occurred_at,
                "printer_id": self.printer_id, "revision": self.revision}


@dataclass(frozen=True)
class CommandIssued:
    """A command for one of the gateway's printers (`CommandIssued`, `type` `command`)."""

    cursor: str
    occurred_at: str
    command: Command

    def to_json(self) -> JsonObject:
        return {"type": "command", "cursor": self.cursor, "occurred_at": self.occurred_at,
                "command": self.command.to_json()}


@dataclass(frozen=True)
class UnreadableCommand:
    """A command this gateway cannot take as the document describes it: refused, never applied.

    `code` is the reason code of its `refused` acknowledgement: `unsupported-command` (a kind
    this version does not know: a newer cloud's), `invalid-parameters` (parameters its kind does
    not allow: a bogus mode, a message too long, one missing) or `malformed-command` (a field
    missing or of the wrong shape); `detail` says what is wrong.  `command_id` and `printer_id`
    are None when they are not UUIDs: such a command cannot be acknowledged, only logged.
    `kind` is the kind as sent (shortened), None when it is not a string.
    """

    command_id: str | None
    printer_id: str | None
    kind: str | None
    code: str
    detail: str

    @property
    def acknowledgeable(self) -> bool:
        return self.command_id is not None and self.printer_id is not None


@dataclass(frozen=True)
class UnreadableChange:
    """An item of the change stream that does not match the document (`ChangeEvent`): skipped
    (the cursor moves on past it); `command` when it carries a command, which is refused.
    `cursor` is None when the item has no usable one; `detail` says what is wrong."""

    cursor: str | None
    type: str | None
    detail: str
    command: UnreadableCommand | None = None


Change = PrinterChanged | CommandIssued | UnreadableChange
"""An item of the change stream (`ChangeEvent`), or one that does not match it."""
PushMessage = PushHello | Change
"""A message of the push channel (`PushMessage`)."""


def change_from_json(body: Mapping[str, JsonValue]) -> Change:
    """A `ChangeEvent` by its `type`."""
    if body["type"] == "command":
        return CommandIssued(cursor=body["cursor"], occurred_at=body["occurred_at"],
                             command=Command.from_json(body["command"]))
    return PrinterChanged(type=body["type"], cursor=body["cursor"],
                          occurred_at=body["occurred_at"], printer_id=body["printer_id"],
                          revision=body["revision"])


def push_message_from_json(body: Mapping[str, JsonValue]) -> PushMessage:
    """A `PushMessage` by its `type`."""
    if body["type"] == "hello":
        return PushHello(cursor=body["cursor"], heartbeat_seconds=body["heartbeat_seconds"],
                         server_time=body["server_time"])
    return change_from_json(body)


@dataclass(frozen=True)
class ChangePage:
    """A page of the change stream (`ChangePage`, `pollChanges`)."""

    changes: tuple[Change, ...]
    next_cursor: str | None
    has_more: bool
    poll_interval_seconds: int | None = None

    def to_json(self) -> JsonObject:
        """The page as the document writes it (unreadable changes have no wire form: left out)."""
        return optional_fields({"changes": [c.to_json() for c in self.changes
                                            if not isinstance(c, UnreadableChange)],
                                "next_cursor": self.next_cursor, "has_more": self.has_more},
                               poll_interval_seconds=self.poll_interval_seconds)

    @classmethod
    def from_json(cls, body: Mapping[str, JsonValue]) -> ChangePage:
        return cls(changes=tuple(change_from_json(c) for c in body["changes"]),
                   next_cursor=body["next_cursor"], has_more=body["has_more"],
                   poll_interval_seconds=body.get("poll_interval_seconds"))
