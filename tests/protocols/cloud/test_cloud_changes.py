"""The cloud client against a hostile cloud (issue 19): a change, a pending command or an
acknowledgement's answer that breaks the document costs only itself, and a connection destination
the gateway cannot use is refused without repeating its credentials."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from protocols.cloud.client import CloudClient
from protocols.cloud.errors import CloudProtocolError
from protocols.cloud.models import (
    CommandAcknowledgement,
    CommandIssued,
    CommandStatus,
    PushHello,
    PushMessage,
    Reason,
    UnreadableChange,
    UnreadableCommand,
)
from protocols.cloud.registration import ConnectionDestinationRequest
from protocols.cloud.transport import checked_url, redacted
from tests.support.fake_cloud import KNOWN_PRINTER, TOKEN, now_iso
from tests.support.hostile_cloud import (
    BAD_DESTINATIONS,
    ORIGIN,
    PASSWORD,
    HostileCloud,
    bad_commands,
    command,
    hostile_cloud,
)


@pytest.fixture
async def cloud() -> AsyncIterator[HostileCloud]:
    async with hostile_cloud() as served:
        yield served


@pytest.fixture
async def client(cloud: HostileCloud) -> AsyncIterator[CloudClient]:
    async with CloudClient(cloud.url, token=TOKEN, timeout=5.0) as c:
        yield c


def hostile_stream(cloud: HostileCloud) -> tuple[dict[str, Any], dict[str, dict[str, Any]],
                                                 dict[str, Any]]:
    """good, the bad ones by code/name, good again; with an unknown change type and a change
    without a cursor among them."""
    good = command(KNOWN_PRINTER, "panel-message", {"message": "hello"})
    bad = bad_commands(KNOWN_PRINTER)
    last = command(KNOWN_PRINTER, "withdrawal")
    cloud.stream(good, *bad.values(),
                 {"type": "printer-retired", "occurred_at": now_iso(),
                  "printer_id": KNOWN_PRINTER},
                 {"type": "control-info-changed", "cursor": "", "occurred_at": now_iso(),
                  "printer_id": KNOWN_PRINTER, "revision": -1},
                 last)
    return good, bad, last


async def test_a_page_is_read_change_by_change(cloud: HostileCloud, client: CloudClient) -> None:
    good, bad, last = hostile_stream(cloud)
    page = await client.poll_changes(None)
    assert page.next_cursor == cloud.changes[-1]["cursor"] and not page.has_more
    first, *middle, retired, no_cursor, final = page.changes
    assert isinstance(first, CommandIssued) and first.command.command_id == good["command_id"]
    assert isinstance(final, CommandIssued) and final.command.command_id == last["command_id"]
    assert len(middle) == len(bad)
    for (name, sent), change in zip(bad.items(), middle, strict=True):
        assert isinstance(change, UnreadableChange), name
        assert change.type == "command" and change.cursor is not None
        refused = change.command
        assert refused is not None and refused.acknowledgeable, name
        assert (refused.command_id, refused.printer_id) == (sent["command_id"], KNOWN_PRINTER)
        assert refused.code == name.partition("/")[0], (name, refused)
        assert 0 < len(refused.detail) <= 300 and "xxxxxxxxxx" * 30 not in refused.detail
    assert middle[0].command is not None
    assert "'reboot-into-fax-mode'" in middle[0].command.detail
    assert isinstance(retired, UnreadableChange) and retired.type == "printer-retired"
    assert retired.command is None and retired.cursor is not None
    assert isinstance(no_cursor, UnreadableChange) and no_cursor.cursor is None


async def test_a_command_without_a_readable_id_cannot_be_acknowledged(
        cloud: HostileCloud, client: CloudClient) -> None:
    cloud.stream(command("not-a-uuid", "withdrawal", command_id="12345"))
    (change,) = (await client.poll_changes(None)).changes
    assert isinstance(change, UnreadableChange) and change.command is not None
    assert not change.command.acknowledgeable
    assert change.command.code == "malformed-command"


async def test_a_broken_envelope_is_still_a_protocol_error(cloud: HostileCloud,
                                                           client: CloudClient) -> None:
    async def broken(request: web.Request) -> web.Response:
        return web.json_response({"changes": [], "next_cursor": 7, "has_more": False})

    async def not_a_list(request: web.Request) -> web.Response:
        return web.json_response({"changes": {}, "next_cursor": None, "has_more": False})
    for handler, message in ((broken, "field /next_cursor"), (not_a_list, "/changes")):
        cloud.overrides["pollChanges"] = handler
        with pytest.raises(CloudProtocolError, match=message):
            await client.poll_changes(None)


async def test_pending_commands_are_read_one_by_one(cloud: HostileCloud,
                                                    client: CloudClient) -> None:
    _good, bad, _last = hostile_stream(cloud)
    pending = await client.list_pending_commands()
    readable = [p for p in pending if isinstance(p, CommandStatus)]
    refused = {p.command_id: p.code for p in pending if isinstance(p, UnreadableCommand)}
    assert len(readable) == 2
    assert refused == {c["command_id"]: name.partition("/")[0] for name, c in bad.items()}


async def test_the_answer_to_a_bad_commands_acknowledgement_is_no_error(
        cloud: HostileCloud, client: CloudClient) -> None:
    _good, bad, _last = hostile_stream(cloud)
    unknown = bad["unsupported-command/new kind"]
    ack = CommandAcknowledgement(
        printer_id=KNOWN_PRINTER, stage="completed", at=now_iso(), result="refused",
        reason=Reason("unsupported-command", "not known to this gateway"),
        contract_state={"supported": False, "mode": None, "printing_prohibited": None,
                        "panel_message": None})
    answer = await client.acknowledge_command(unknown["command_id"], ack)
    assert isinstance(answer, UnreadableCommand) and answer.code == "unsupported-command"
    assert cloud.acknowledged(unknown["command_id"])["reason"]["code"] == "unsupported-command"


async def test_push_goes_on_past_a_bad_change(cloud: HostileCloud, client: CloudClient) -> None:
    good, bad, last = hostile_stream(cloud)
    received: list[PushMessage] = []

    async def collect(messages: AsyncIterator[PushMessage]) -> None:
        async for item in messages:
            received.append(item)
    with contextlib.suppress(Exception):  # the fake cloud closes the channel after its replay
        async with contextlib.aclosing(client.push(None)) as messages:
            await collect(messages)
    assert isinstance(received[0], PushHello)
    kinds = [type(m) for m in received[1:]]
    assert kinds == [CommandIssued, *[UnreadableChange] * len(bad), UnreadableChange,
                     UnreadableChange, CommandIssued]
    assert isinstance(received[-1], CommandIssued)
    assert received[-1].command.command_id == last["command_id"]
    assert isinstance(received[1], CommandIssued)
    assert received[1].command.command_id == good["command_id"]


@pytest.mark.parametrize("base_url", BAD_DESTINATIONS)
async def test_an_unusable_destination_is_refused_without_its_password(
        cloud: HostileCloud, base_url: str) -> None:
    cloud.destinations = [base_url]
    async with CloudClient(cloud.url, timeout=5.0) as entry:
        with pytest.raises(CloudProtocolError, match="connection destination for region jp is "
                                                     "not usable") as refused:
            await entry.resolve_connection_destination(ConnectionDestinationRequest("jp"))
    assert PASSWORD not in str(refused.value) and "\n" not in str(refused.value)
    assert refused.value.__cause__ is None and refused.value.__context__ is None


async def test_a_good_destination_is_taken(cloud: HostileCloud) -> None:
    cloud.destinations = [ORIGIN]
    async with CloudClient(cloud.url, timeout=5.0) as entry:
        destination = await entry.resolve_connection_destination(
            ConnectionDestinationRequest("jp"))
    assert destination.base_url == cloud.url
    assert destination.push_url == cloud.url.replace("http", "ws", 1) + "/v1/push"


@pytest.mark.parametrize(("url", "message"), [
    ("https://user:pw@example.com", "must not carry credentials"),
    ("https://:pw@example.com", "must not carry credentials"),
    ("ftp://user:pw@example.com/x", "must not carry credentials"),
    ("ftp://example.com/x", "must start with https://"),
    ("http://192.0.2.1", "refusing plain http:// to 192.0.2.1"),
    ("https:///v1", "has no host"),
    ("https://example.com:0", "no valid port"),
    ("https://example.com:99999", "cannot be read"),
    ("https://[::1", "cannot be read"),
    ("https://example.com/?next=http://x", "query or fragment"),
])
def test_checked_url_refuses_without_echoing_credentials(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        checked_url(url, secure="https", plain="http")
    assert "pw" not in str(refused.value)


def test_redacted() -> None:
    assert redacted("https://u:p@host:8443/x?y") == "https://***@host:8443/x?y"
    assert redacted("host/path") == "host/path"
    assert json.dumps(redacted("https://a@b@c/")) == '"https://***@c/"'
