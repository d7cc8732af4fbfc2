"""The change stream and the open commands read one item at a time, so that one item the gateway
cannot understand never costs it the others.

The answer's envelope (a `ChangePage` without its changes, the `commands` array of
`listPendingCommands`) must match the document, or the whole answer is a `CloudProtocolError`
as any other.  Each item is then checked on its own: one that matches is read as usual; one that
does not becomes an `UnreadableChange` / `UnreadableCommand` that says what is wrong, with what
could be read of it (its cursor, the command's ID and printer ID) so that the caller can move past
it and refuse the command.  A cloud newer than this gateway may send command kinds it does not
know: each is refused (`unsupported-command`) and the stream goes on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from protocols.cloud import COMMAND_KINDS
from protocols.cloud.errors import CloudProtocolError, shorten
from protocols.cloud.models import (
    Change,
    ChangePage,
    CommandStatus,
    PushMessage,
    UnreadableChange,
    UnreadableCommand,
    change_from_json,
    push_message_from_json,
)
from protocols.cloud.validation import mismatch, response_validator, schema_validator

_UUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
DETAIL_LIMIT = 300
"""Characters of a refusal's detail (the document allows 1024)."""
KIND_LIMIT = 64
"""Characters of an unknown kind kept for the log and the acknowledgement's detail."""


def read_change(body: Any) -> Change:
    """A `ChangeEvent`, or an `UnreadableChange` when it does not match the document."""
    wrong = mismatch(schema_validator("ChangeEvent"), body)
    if wrong is None:
        return change_from_json(body)
    return _unreadable_change(body, wrong)


def read_push_message(operation: str, body: Any) -> PushMessage:
    """A `PushMessage`; a change that does not match the document is an `UnreadableChange`, a
    `hello` that does not is a `CloudProtocolError` (the channel itself is broken)."""
    wrong = mismatch(schema_validator("PushMessage"), body)
    if wrong is None:
        return push_message_from_json(body)
    if not isinstance(body, Mapping) or body.get("type") == "hello":
        raise CloudProtocolError(operation, f"a push message does not match the document: "
                                            f"{wrong}")
    return _unreadable_change(body, wrong)


def read_page(operation: str, status: int, body: Any) -> ChangePage:
    """A `ChangePage` whose changes are read one by one (`read_change`)."""
    if not isinstance(body, Mapping) or not isinstance(body.get("changes"), list):
        raise CloudProtocolError(operation, "the answer does not match the document: field "
                                            "/changes: not an array")
    _check_envelope(operation, status, {**body, "changes": []})
    return ChangePage(changes=tuple(read_change(c) for c in body["changes"]),
                      next_cursor=body["next_cursor"], has_more=body["has_more"],
                      poll_interval_seconds=body.get("poll_interval_seconds"))


def read_pending(operation: str, status: int, body: Any
                 ) -> tuple[CommandStatus | UnreadableCommand, ...]:
    """The `commands` of `listPendingCommands`, each a `CommandStatus` or, when it does not match
    the document, an `UnreadableCommand`."""
    if not isinstance(body, Mapping) or not isinstance(body.get("commands"), list):
        raise CloudProtocolError(operation, "the answer does not match the document: field "
                                            "/commands: not an array")
    _check_envelope(operation, status, {**body, "commands": []})
    return tuple(read_command_status(c) for c in body["commands"])


def read_command_status(body: Any) -> CommandStatus | UnreadableCommand:
    """A `CommandStatus`, or an `UnreadableCommand` when it does not match the document (the
    answer to an acknowledgement of a command this version cannot read, for instance)."""
    wrong = mismatch(schema_validator("CommandStatus"), body)
    if wrong is None:
        return CommandStatus.from_json(body)
    return unreadable_command(body, wrong)


def _check_envelope(operation: str, status: int, envelope: Mapping[str, Any]) -> None:
    validator = response_validator(operation, status)
    wrong = None if validator is None else mismatch(validator, envelope)
    if wrong is not None:
        raise CloudProtocolError(operation, f"the answer does not match the document: {wrong}")


def unreadable_command(body: Any, wrong: str) -> UnreadableCommand:
    """What can be read of a command that does not match the document, and which reason code
    its refusal gets: `unsupported-command` for a kind this version does not know,
    `invalid-parameters` for parameters its kind does not allow, `malformed-command` else."""
    if not isinstance(body, Mapping):
        return UnreadableCommand(None, None, None, "malformed-command",
                                 f"the command is not an object: {wrong}")
    raw_kind = body.get("kind")
    kind = shorten(raw_kind, KIND_LIMIT) if isinstance(raw_kind, str) else None
    spec = {"kind": raw_kind, **({"parameters": body["parameters"]}
                                 if "parameters" in body else {})}
    if kind is not None and raw_kind not in COMMAND_KINDS:
        code = "unsupported-command"
        detail = (f"unknown command kind {kind!r}: this gateway knows "
                  f"{', '.join(COMMAND_KINDS)}")
    elif kind is not None and (bad := mismatch(schema_validator("CommandSpec"), spec)):
        code, detail = "invalid-parameters", f"parameters of {kind}: {bad}"
    else:
        code, detail = "malformed-command", f"the command does not match the document: {wrong}"
    return UnreadableCommand(command_id=_uuid(body.get("command_id")),
                             printer_id=_uuid(body.get("printer_id")), kind=kind, code=code,
                             detail=shorten(detail, DETAIL_LIMIT))


def _unreadable_change(body: Any, wrong: str) -> UnreadableChange:
    if not isinstance(body, Mapping):
        return UnreadableChange(None, None, f"not an object: {wrong}")
    cursor = body.get("cursor")
    usable = isinstance(cursor, str) and 1 <= len(cursor) <= 256
    kind = body.get("type")
    command = None
    if kind == "command":
        inner = body.get("command")
        command_wrong = mismatch(schema_validator("Command"), inner)
        if command_wrong is not None:
            command = unreadable_command(inner, command_wrong)
        else:  # the command is fine, the change carrying it is not: refused all the same
            command = UnreadableCommand(
                command_id=inner["command_id"], printer_id=inner["printer_id"],
                kind=inner["kind"], code="malformed-command",
                detail=shorten(f"the change that carries it does not match the document: "
                               f"{wrong}", DETAIL_LIMIT))
    return UnreadableChange(cursor=cursor if usable else None,
                            type=shorten(kind, KIND_LIMIT) if isinstance(kind, str) else None,
                            detail=shorten(wrong, DETAIL_LIMIT), command=command)


def _uuid(value: Any) -> str | None:
    return value if isinstance(value, str) and _UUID.match(value) else None
