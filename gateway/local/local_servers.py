"""What `printgw run` serves locally, started and closed together: the status page
(`[status_page]`, with its `/metrics`) and the metrics-only listener (`[metrics] listen`), both
over the daemon's one metrics registry, which reads the store at each scrape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.local.live_view import FleetView
from gateway.local.metrics import GatewayMetrics
from gateway.local.runtime import GatewayRuntime
from gateway.store import Store

if TYPE_CHECKING:
    from gateway.local.metrics_listener import MetricsListener
    from gateway.local.status_page import StatusPage
    from gateway.local.sync_api import SyncNow


@dataclass
class LocalServers:
    page: StatusPage | None = None
    listener: MetricsListener | None = None

    @classmethod
    async def start(cls, runtime: GatewayRuntime, store: Store, metrics: GatewayMetrics,
                    sync: SyncNow | None = None) -> LocalServers:
        """Those the config turns on; one that cannot listen is logged and left out."""
        config = runtime.config()
        metrics.read_store(FleetView(store, config, runtime))
        servers = cls()
        # imported here: aiohttp's server and the page's templates (~4 MB) only when one is on
        if config.status_page.enabled:
            from gateway.local.status_page import start_status_page

            servers.page = await start_status_page(runtime, store, metrics, sync)
        if config.metrics.listen is not None:
            from gateway.local.metrics_listener import start_metrics_listener

            servers.listener = await start_metrics_listener(config.metrics, metrics)
        return servers

    async def close(self) -> None:
        if self.listener is not None:
            await self.listener.close()
        if self.page is not None:
            await self.page.close()
