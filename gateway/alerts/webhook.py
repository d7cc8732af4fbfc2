"""`[[alerts.webhook]]`: a JSON POST per alert (or one per summary), signed as the reference
cloud signs its webhooks (`protocols/cloud/webhook_signature.py`): `Printgw-Signature:
t=<unix seconds>,v1=<hex HMAC-SHA256 over "<t>." + body>`, the timestamp also in
`Printgw-Timestamp`; `Idempotency-Key` is the alert's ID, the same on every retry."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import aiohttp

from gateway.alerts.model import Alert, highest, summary_text
from gateway.alerts.senders import DeliveryError, describe, tls_context
from gateway.settings.alerts import WebhookOutput
from protocols.cloud.webhook_signature import HEADER, sign
from protocols.version import VERSION


def payload(alerts: list[Alert], summary: bool, gateway: str) -> dict[str, Any]:
    if not summary:
        return {"type": "alert", "gateway": gateway, "alert": alerts[0].to_json()}
    return {"type": "summary", "gateway": gateway, "text": summary_text(alerts),
            "severity": highest(alerts), "count": len(alerts),
            "alerts": [alert.to_json() for alert in alerts]}


def idempotency_key(alerts: list[Alert], summary: bool) -> str:
    if not summary:
        return alerts[0].alert_id
    return str(uuid.uuid5(uuid.NAMESPACE_OID, ",".join(a.alert_id for a in alerts)))


class WebhookSender:
    def __init__(self, output: WebhookOutput, gateway: str) -> None:
        self.output = output
        self.gateway = gateway
        self._session: aiohttp.ClientSession | None = None

    async def send(self, alerts: list[Alert], summary: bool) -> None:
        output = self.output
        assert output.secret is not None
        body = json.dumps(payload(alerts, summary, self.gateway)).encode()
        now = int(time.time())
        headers = {"Content-Type": "application/json", "User-Agent": f"printgw/{VERSION}",
                   HEADER: sign(output.secret.get_secret_value().encode(), body, now),
                   "Printgw-Timestamp": str(now),
                   "Idempotency-Key": idempotency_key(alerts, summary)}
        if self._session is None:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(
                ssl=tls_context(output.verify_tls, output.ca_file)))
        try:
            async with self._session.post(output.url, data=body, headers=headers,
                                          allow_redirects=False,
                                          timeout=aiohttp.ClientTimeout(total=output.timeout)
                                          ) as response:
                if not 200 <= response.status < 300:
                    raise DeliveryError(f"the receiver answered HTTP {response.status}")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise DeliveryError(describe(exc)) from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
