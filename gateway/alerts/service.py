"""Local alerts as the daemon holds them: the source the readings feed, the queue, and the
dispatcher task; a reload of `[alerts]` reaches the workers at once."""

from __future__ import annotations

import asyncio

from gateway.alerts.dispatcher import AlertDispatcher
from gateway.alerts.queue import AlertQueue
from gateway.alerts.source import AlertSource
from gateway.settings.live import LiveConfig
from gateway.store import Store


class LocalAlerts:
    def __init__(self, live: LiveConfig, store: Store) -> None:
        self.queue = AlertQueue(store)
        self.dispatcher = AlertDispatcher(live, self.queue)
        self.source = AlertSource(live, store, self.dispatcher.wake)
        live.on_change(("alerts",), lambda _config: self.dispatcher.wake())

    def start(self, stop: asyncio.Event) -> asyncio.Task[None]:
        """The dispatcher, until `stop`; cancelling it loses nothing (queued alerts stay)."""
        return asyncio.create_task(self.dispatcher.run(stop), name="alerts")
