"""Orders of contract cartridges (Brother S110) delivered to the configured order webhook.

An order is a row of `cartridge_orders`, written in the same transaction as the process step that
places it (one per process: the `process_id` is unique), so it is placed exactly once whatever
restarts.  It is delivered by the webhook machinery (`cloud.webhooks`): POSTed as JSON with
`Idempotency-Key: <order ID>`, signed, retried with exponential back-off until the order service
answers 2xx, every attempt recorded.  Without a webhook, orders stay `pending`.
"""

from __future__ import annotations

from cloud.db import CartridgeOrder, Database
from cloud.wake_bus import WakeBus
from cloud.webhooks import Endpoint, WebhookSender


class OrderSender(WebhookSender):
    """The order webhook's sender; `cloud.app.create_app` checks the URL and secret with
    `cloud.webhooks.endpoint` (no unsigned webhook outside loopback)."""

    def __init__(self, db: Database, url: str | None, secret: bytes | None = None,
                 wakes: WakeBus | None = None) -> None:
        super().__init__(db, CartridgeOrder, None if url is None else Endpoint(url, secret),
                         wakes=wakes)
