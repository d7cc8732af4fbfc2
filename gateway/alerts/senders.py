"""What the outputs share: the interface the dispatcher delivers through, its one error, the
TLS context of an output, and the texts of a message."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Protocol

from gateway.alerts.model import Alert, summary_text


class DeliveryError(Exception):
    """The output did not take the message; the text is safe to log (no secret in it)."""


class Sender(Protocol):
    async def send(self, alerts: list[Alert], summary: bool) -> None:
        """Deliver one alert (`summary` False, `alerts` of one), or `alerts` together as one
        summary message; `DeliveryError` when the output did not take it."""

    async def close(self) -> None: ...


def tls_context(verify: bool, ca_file: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def subject(alerts: list[Alert], summary: bool) -> str:
    return f"[printgw] {summary_text(alerts)}" if summary else alerts[0].subject


def body(alerts: list[Alert], summary: bool, gateway: str) -> str:
    """The plain text of a mail: one block per alert."""
    lines = [summary_text(alerts), ""] if summary else []
    for alert in alerts:
        lines += [f"{alert.severity.upper()}: {alert.device}", f"  {alert.text}",
                  f"  event {alert.kind} at {alert.at} (device {alert.device_id})", ""]
    lines.append(f"-- printgw gateway {gateway}")
    return "\n".join(lines)


def describe(exc: BaseException) -> str:
    """An exception as a log line: its type and, for an OS error, the reason; never its full
    text (a URL with a token in it, a server's echo of a login)."""
    reason = getattr(exc, "strerror", None) or getattr(getattr(exc, "os_error", None),
                                                       "strerror", None)
    return f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__
