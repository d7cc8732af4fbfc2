"""Each output against a real peer on loopback, without the daemon: implicit TLS, a server that
does not offer STARTTLS (refused, not sent in clear), the local syslog socket."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from gateway.alerts.email import EmailSender
from gateway.alerts.model import Alert
from gateway.alerts.senders import DeliveryError
from gateway.alerts.syslog import SyslogSender
from gateway.settings.alerts import EmailOutput, SyslogOutput
from tests.support.alert_peers import SMTP_PASSWORD, SMTP_USER, SmtpServer

PEER = "127.0.140.2"
ALERT = Alert(alert_id="a-1", kind="supply-empty", severity="critical", device_id=3,
              serial="SN3", model="LaserWriter", address="10.0.0.3", time_zone="UTC",
              occurred_at=0.0, text="black toner empty")


def email_output(smtp: SmtpServer, security: str, login: bool = True) -> EmailOutput:
    return EmailOutput.model_validate({
        "host": PEER, "port": smtp.port, "security": security, "ca_file": str(smtp.ca_file),
        "sender": "printgw@example.com", "to": ["it@example.com"], "timeout": "5s",
        **({"username": SMTP_USER, "password": SMTP_PASSWORD} if login else {})})


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_implicit_tls_with_a_login(tmp_path: Path) -> None:
    """The server speaks only TLS: the mail arriving shows the client spoke it."""
    smtp = SmtpServer(PEER, tmp_path, security="tls")
    smtp.start()
    try:
        await EmailSender(email_output(smtp, "tls"), "gw1").send([ALERT], False)
        assert smtp.subjects() == ["[printgw] critical: LaserWriter SN3 at 10.0.0.3: black "
                                   "toner empty"]
        body = smtp.mailbox.messages[0].get_content()
        assert "event supply-empty" in body and "gw1" in body
    finally:
        smtp.stop()


async def test_starttls_is_required_not_opportunistic(tmp_path: Path) -> None:
    smtp = SmtpServer(PEER, tmp_path, security="none")
    smtp.start()
    try:
        with pytest.raises(DeliveryError):
            await EmailSender(email_output(smtp, "starttls"), "gw1").send([ALERT], False)
        assert smtp.subjects() == []
    finally:
        smtp.stop()


async def test_the_local_syslog_socket(tmp_path: Path) -> None:
    path = tmp_path / "log.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        server.settimeout(5)
        await SyslogSender(SyslogOutput(socket=path, facility="lpr"), "gw1").send([ALERT], False)
        line = server.recv(4096).decode()
    assert line.startswith("<50>")  # lpr.crit
    assert "]: critical: LaserWriter SN3 at 10.0.0.3: black toner empty" in line
    with pytest.raises(DeliveryError):  # no one listening: a failure to retry, never a wait
        await SyslogSender(SyslogOutput(socket=path), "gw1").send([ALERT], False)
