"""`CloudServer`: the reference cloud on a real socket, as an async context manager.

    async with CloudServer(database_url="sqlite+aiosqlite:///tmp/cloud.db",
                           operator_tokens=["…"]) as srv:
        ...  # srv.url is e.g. http://127.0.0.1:43121
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from types import TracebackType

from aiohttp import web

from cloud.app import create_app, prune
from cloud.contract_store import ENGINE, ContractEngine, ContractSettings
from cloud.state import CLOUD, Cloud, Settings

SHUTDOWN_TIMEOUT = 5.0


class CloudServer:
    def __init__(self, *, database_url: str, host: str = "127.0.0.1", port: int = 0,
                 operator_tokens: Iterable[str] = (), regions: Mapping[str, str] | None = None,
                 public_url: str | None = None, ssl_context: ssl.SSLContext | None = None,
                 heartbeat_seconds: int = 30, poll_interval_seconds: int = 30,
                 change_retention: timedelta = timedelta(days=7),
                 order_webhook: str | None = None, contract_threshold_percent: int = 0,
                 contract_retry_seconds: float = 60.0,
                 contract_poll_seconds: float = 5.0,
                 contract_max_attempts: int = 5,
                 contract_stall_after_seconds: float = 86400.0,
                 contract_notice_lead_seconds: float = 3 * 86400.0,
                 member_webhook: str | None = None,
                 webhook_secret: bytes | None = None,
                 housekeeping_seconds: float = 3600.0,
                 sock: socket.socket | None = None,
                 upgrade_schema: bool = False) -> None:
        """`sock`: a listening socket to serve (a worker's, `cloud.workers`) instead of binding
        `host` and `port` (`host` still names it in `url`)."""
        self.database_url = database_url
        self.host, self.port = host, port
        self.sock = sock
        self.ssl_context = ssl_context
        self.settings = Settings(operator_tokens=tuple(operator_tokens),
                                 regions=dict(regions) if regions is not None else None,
                                 public_url=public_url, heartbeat_seconds=heartbeat_seconds,
                                 poll_interval_seconds=poll_interval_seconds,
                                 change_retention=change_retention,
                                 member_webhook=member_webhook, webhook_secret=webhook_secret,
                                 housekeeping_seconds=housekeeping_seconds,
                                 upgrade_schema=upgrade_schema)
        self.contract_settings = ContractSettings(
            threshold_percent=contract_threshold_percent, retry_seconds=contract_retry_seconds,
            order_webhook=order_webhook, poll_seconds=contract_poll_seconds,
            max_attempts=contract_max_attempts, stall_after_seconds=contract_stall_after_seconds,
            notice_lead_seconds=contract_notice_lead_seconds)
        self.app = create_app(database_url, self.settings, self.contract_settings)
        self._runner: web.AppRunner | None = None
        self.url = ""

    @property
    def state(self) -> Cloud:
        return self.app[CLOUD]

    @property
    def contracts(self) -> ContractEngine:
        """The contract processes (change of contract machine) and their order sender."""
        return self.app[ENGINE]

    async def prune(self, now: datetime | None = None) -> None:
        """Run the housekeeping now, as if the clock said `now` (tests pass a future time)."""
        await prune(self.state, now)

    async def __aenter__(self) -> CloudServer:
        runner = web.AppRunner(self.app, auto_decompress=False,
                               shutdown_timeout=SHUTDOWN_TIMEOUT)
        self._runner = runner
        try:
            await runner.setup()
            site: web.BaseSite = (
                web.SockSite(runner, self.sock, ssl_context=self.ssl_context)
                if self.sock is not None else
                web.TCPSite(runner, self.host, self.port, ssl_context=self.ssl_context))
            await site.start()
        except BaseException:
            await self.close()
            raise
        self.port = runner.addresses[0][1]
        scheme = "https" if self.ssl_context is not None else "http"
        host = self.host
        try:
            if ipaddress.ip_address(host).version == 6:
                host = f"[{host}]"
        except ValueError:
            pass
        self.url = f"{scheme}://{host}:{self.port}"
        return self

    async def close(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()
