"""`[[alerts.syslog]]`: one line per alert (or per summary) to a syslog server over UDP, as RFC
5424 (structured data `[printgw@32473 …]`, 32473 being the example enterprise number of RFC
5612), or to the local socket (/dev/log) as syslog(3) writes it (RFC 3164 style), which journald
and rsyslog read."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from datetime import UTC, datetime

from gateway.alerts.model import Alert, highest, summary_text
from gateway.alerts.senders import DeliveryError, describe
from gateway.settings.alerts import SyslogOutput

FACILITIES = {"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6,
              "news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
              **{f"local{n}": 16 + n for n in range(8)}}
SEVERITY_CODES = {"critical": 2, "warning": 4, "info": 6}
MAX_BYTES = 2048
"""What every RFC 5426 receiver takes in one datagram."""


def line(output: SyslogOutput, alerts: list[Alert], summary: bool, hostname: str,
         now: float) -> bytes:
    severity = highest(alerts)
    pri = FACILITIES[output.facility] * 8 + SEVERITY_CODES[severity]
    first = alerts[0]
    text = (f"{summary_text(alerts)}; first: {first.device}: {first.text}" if summary
            else f"{severity}: {first.device}: {first.text}")
    if output.line_format == "rfc3164":
        stamp = time.strftime("%b %d %H:%M:%S", time.localtime(now))
        data = f"<{pri}>{stamp} {output.app_name}[{os.getpid()}]: {text}"
    else:
        stamp = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")
        msgid = "summary" if summary else first.kind
        sd = "-" if summary else _structured(first)
        data = (f"<{pri}>1 {stamp.replace('+00:00', 'Z')} {hostname or '-'} "
                f"{output.app_name} {os.getpid()} {msgid[:32]} {sd} {text}")
    return data.encode()[:MAX_BYTES]


def _structured(alert: Alert) -> str:
    values = {"device_id": str(alert.device_id), "serial": alert.serial,
              "address": alert.address, "severity": alert.severity,
              "supply": alert.supply_index, "alert_id": alert.alert_id}
    params = " ".join(f'{key}="{_escape(value)}"' for key, value in values.items() if value)
    return f"[printgw@32473 {params}]"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


class SyslogSender:
    def __init__(self, output: SyslogOutput, gateway: str) -> None:
        self.output = output
        self.hostname = socket.gethostname().split(".")[0][:255]
        del gateway  # the host name says which gateway, as for every syslog line

    async def send(self, alerts: list[Alert], summary: bool) -> None:
        output = self.output
        data = line(output, alerts, summary, self.hostname, time.time())
        try:
            if output.host is None:
                family, address = socket.AF_UNIX, str(output.socket_path)
                target: object = address
            else:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    output.host, output.port, type=socket.SOCK_DGRAM)
                family, target = infos[0][0], infos[0][4]
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.setblocking(False)  # a full local socket is a failure, never a wait
                sock.sendto(data, target)  # type: ignore[arg-type]
        except OSError as exc:
            raise DeliveryError(describe(exc)) from None

    async def close(self) -> None:
        """Nothing held: a socket per line."""
