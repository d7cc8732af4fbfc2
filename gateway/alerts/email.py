"""`[[alerts.email]]`: a mail per alert (or one per summary) through an SMTP server with
`aiosmtplib`: STARTTLS required by default, implicit TLS, or plain only to a relay on
loopback; a login from a secret."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from gateway.alerts.model import Alert
from gateway.alerts.senders import DeliveryError, body, describe, subject, tls_context
from gateway.settings.alerts import EmailOutput


def message(output: EmailOutput, alerts: list[Alert], summary: bool,
            gateway: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = output.sender
    mail["To"] = ", ".join(output.to)
    mail["Subject"] = subject(alerts, summary)
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = make_msgid("printgw", domain=output.sender.rpartition("@")[2])
    mail["X-Printgw-Event"] = "summary" if summary else alerts[0].kind
    mail.set_content(body(alerts, summary, gateway))
    return mail


class EmailSender:
    def __init__(self, output: EmailOutput, gateway: str) -> None:
        self.output = output
        self.gateway = gateway

    async def send(self, alerts: list[Alert], summary: bool) -> None:
        output = self.output
        password = output.password.get_secret_value() if output.password else None
        try:
            await aiosmtplib.send(
                message(output, alerts, summary, self.gateway), hostname=output.host,
                port=output.smtp_port, username=output.username, password=password,
                use_tls=output.security == "tls", start_tls=output.security == "starttls",
                tls_context=(None if output.security == "none"
                             else tls_context(output.verify_tls, output.ca_file)),
                timeout=output.timeout)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            code = getattr(exc, "code", None)
            raise DeliveryError(f"{describe(exc)}{f' ({code})' if code else ''}") from None

    async def close(self) -> None:
        """Nothing held between messages: one SMTP session per message."""
