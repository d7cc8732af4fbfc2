"""Real peers for the local alerts, on loopback: an SMTP server (aiosmtpd, STARTTLS required,
a login), a webhook receiver (aiohttp, checking the signature) and a syslog receiver (UDP)."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from protocols.cloud.webhook_signature import HEADER, verify
from protocols.hosts import free_port
from tests.support.cloud_helpers import self_signed_certificate

SMTP_USER = "printgw"
SMTP_PASSWORD = "smtp-secret-pw-7"
WEBHOOK_SECRET = "webhook-secret-0123456789abcdef"


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.tls: list[bool] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(  # type: ignore[arg-type]
            envelope.content, policy=email.policy.default))
        self.tls.append(session.ssl is not None)
        return "250 OK"


def _login(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.login.decode() == SMTP_USER \
        and data.password.decode() == SMTP_PASSWORD
    return AuthResult(success=ok)


@dataclass
class SmtpServer:
    """aiosmtpd in its own thread; `stop()` and `start()` again on the same port."""

    host: str
    directory: Path
    security: str = "starttls"
    """`starttls` (required, with a login), `tls` (implicit, with a login) or `none` (no TLS
    offered, no login)."""
    port: int = 0
    mailbox: _Mailbox = field(default_factory=_Mailbox)
    controller: Controller | None = None

    @property
    def ca_file(self) -> Path:
        return self.directory / "cloud.crt"

    def start(self) -> None:
        if not self.port:
            self.port = free_port(self.host)
            self_signed_certificate(self.directory, self.host)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.directory / "cloud.crt", self.directory / "cloud.key")
        options: dict[str, Any] = {
            "starttls": {"tls_context": context, "require_starttls": True,
                         "auth_required": True, "authenticator": _login},
            "tls": {"ssl_context": context, "server_hostname": self.host,  # TLS from the start:
                    "auth_required": True, "auth_require_tls": False,  # aiosmtpd cannot tell
                    "authenticator": _login},
            "none": {}}[self.security]
        self.controller = Controller(self.mailbox, hostname=self.host, port=self.port, **options)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.mailbox.messages]


@dataclass
class WebhookReceiver:
    """Keeps every POST whose signature verifies; counts the others in `refused`."""

    payloads: list[dict[str, Any]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    refused: int = 0
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not verify(WEBHOOK_SECRET.encode(), request.headers.get(HEADER), body) or \
                request.headers.get("Printgw-Timestamp") is None:
            self.refused += 1
            return web.Response(status=401)
        self.payloads.append(json.loads(body))
        self.keys.append(request.headers.get("Idempotency-Key", ""))
        return web.Response(status=204)

    def kinds(self) -> list[str]:
        return [p["alert"]["kind"] if p["type"] == "alert" else "summary" for p in self.payloads]


@contextlib.asynccontextmanager
async def webhook_receiver(host: str) -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port(host)
    site = web.TCPSite(runner, host, port)
    await site.start()
    receiver.url = f"http://{host}:{port}/hook"
    try:
        yield receiver
    finally:
        await runner.cleanup()


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.lines.append(data.decode())


@contextlib.asynccontextmanager
async def syslog_receiver(host: str) -> AsyncIterator[tuple[int, list[str]]]:
    """(port, the lines received)."""
    port = free_port(host, tcp=False, udp=True)
    transport, protocol = await asyncio.get_running_loop().create_datagram_endpoint(
        _Datagrams, local_addr=(host, port))
    try:
        yield port, protocol.lines
    finally:
        transport.close()
