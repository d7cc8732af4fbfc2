"""A hostile cloud on loopback (issue 19): the fake cloud of `tests/support/fake_cloud.py` (a real
aiohttp server that checks every request the gateway sends against the document), whose answers
break the document on purpose.

- its change stream mixes changes the document does not allow (`bad_commands`: an unknown kind,
  a bogus mode, a 10,000-character message, fields missing, IDs that are not UUIDs…) between
  good ones, on the poll and on the push channel alike, and lists them as open commands too;
- it takes the acknowledgement of every command it issued, bad ones included, and answers with
  the command as it issued it (so the answer to a bad command's acknowledgement breaks the
  document as well);
- `destinations`: the base URLs its `resolveConnectionDestination` answers with, one per request,
  the last one repeated (`ORIGIN` stands for its own address): `BAD_DESTINATIONS` are an
  `http://` URL to a host that is not loopback, `ftp://` and a URL with a user and password.

Only 127.0.0.1 is ever served or contacted.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from aiohttp import web

from tests.support.fake_cloud import BODY, FakeCloud, command_status, listening, now_iso

ORIGIN = "{origin}"
"""In `HostileCloud.destinations`: the hostile cloud's own address."""
PASSWORD = "s3cret-Passw0rd"
BAD_DESTINATIONS = ("http://192.0.2.10:8080", "ftp://127.0.0.1/files",
                    f"https://gateway:{PASSWORD}@127.0.0.1")
"""Connection destinations the gateway must refuse (192.0.2.0/24 is TEST-NET-1: never
contacted, the URL is refused before any request)."""


def command(printer_id: str, kind: Any, parameters: Any = None, **fields: Any) -> dict[str, Any]:
    """A command as the cloud delivers it; `fields` replace (or, as None, remove) its fields."""
    body: dict[str, Any] = {"command_id": str(uuid.uuid4()), "printer_id": printer_id,
                            "kind": kind, "parameters": parameters or {},
                            "issued_at": now_iso(), "deadline": now_iso(3600)}
    for name, value in fields.items():
        if value is None:
            body.pop(name, None)
        else:
            body[name] = value
    return body


def bad_commands(printer_id: str) -> dict[str, dict[str, Any]]:
    """Commands that break the document, by the reason code their refusal must carry (and a
    name): each has a readable command ID and printer ID, so each can be acknowledged."""
    return {
        "unsupported-command/new kind": command(printer_id, "reboot-into-fax-mode",
                                                {"when": "now"}),
        "invalid-parameters/bogus mode": command(printer_id, "contract-transition",
                                                 {"mode": "contract-bogus"}),
        "invalid-parameters/huge message": command(printer_id, "panel-message",
                                                   {"message": "x" * 10_000}),
        "invalid-parameters/no message": command(printer_id, "panel-message", {}),
        "malformed-command/no deadline": command(printer_id, "withdrawal", deadline=None),
        "malformed-command/kind not text": command(printer_id, 42),
    }


class HostileCloud(FakeCloud):
    """The fake cloud with the hostile behaviour above; `changes` are the change stream (set
    them with `stream()`), `issued` every command by ID, `acks` the acknowledgements taken by
    (command ID, stage)."""

    def __init__(self) -> None:
        super().__init__()
        self.issued: dict[str, dict[str, Any]] = {}
        self.destinations: list[str] = [ORIGIN]
        self.destination_requests = 0
        self.poll_requests = 0
        self.changes = []

    def stream(self, *items: dict[str, Any]) -> None:
        """The change stream: each item a command (delivered as a `command` change) or a change
        as it is; cursors `h_001`… in order, unless the change has its own."""
        self.changes = []
        for number, item in enumerate(items, 1):
            if "command_id" in item or "kind" in item:
                self.issued[str(item.get("command_id"))] = item
                item = {"type": "command", "cursor": f"h_{number:03}",
                        "occurred_at": now_iso(), "command": item}
            self.changes.append({"cursor": f"h_{number:03}", **item})

    def acknowledged(self, command_id: str) -> dict[str, Any] | None:
        """The final acknowledgement of the command, when taken."""
        return self.acks.get((command_id, "completed"))

    # -- hostile answers -------------------------------------------------------------------------

    async def op_resolveConnectionDestination(self, request: web.Request) -> web.Response:
        origin = f"{request.scheme}://{request.host}"
        answer = self.destinations[min(self.destination_requests, len(self.destinations) - 1)]
        self.destination_requests += 1
        base_url = answer.replace(ORIGIN, origin)
        push_url = (base_url.replace("https", "wss", 1).replace("http", "ws", 1)
                    + "/v1/push")
        return web.json_response({"region": request[BODY]["region"], "base_url": base_url,
                                  "push_url": push_url, "valid_until": now_iso(86400)})

    async def op_pollChanges(self, request: web.Request) -> web.Response:
        self.poll_requests += 1
        return await super().op_pollChanges(request)

    def _status(self, command_id: str) -> dict[str, Any]:
        return command_status(self.issued[command_id], self.acks, command_id)

    async def op_listPendingCommands(self, request: web.Request) -> web.Response:
        return web.json_response({"commands": [
            self._status(command_id) for command_id in self.issued
            if self.acknowledged(command_id) is None]})

    async def op_acknowledgeCommand(self, request: web.Request) -> web.Response:
        command_id = request.match_info["command_id"]
        if command_id not in self.issued:
            return self._not_found("such command")
        ack = await request.json()
        self.acks.setdefault((command_id, ack["stage"]), ack)
        return web.json_response(self._status(command_id))


def hostile_cloud() -> contextlib.AbstractAsyncContextManager[HostileCloud]:
    """A `HostileCloud` on 127.0.0.1; fails when the gateway sent it a request that breaks the
    document."""
    return listening(HostileCloud())
