"""The metrics-only listener (`[metrics] listen`, off by default): `/metrics` and nothing else,
on its own address, for a Prometheus server that must not see the status page.

- With a bearer token (`bearer_token_file`), a request without `Authorization: Bearer TOKEN` is
  answered 401 (Prometheus: `authorization: {credentials_file: …}` in the scrape config).
- With `tls_certificate_file` and `tls_key_file`, it speaks HTTPS only (TLS 1.2 or later).
- On loopback without a token it answers only requests addressed to a loopback name or address
  (421 otherwise), as the status page does: a web page elsewhere cannot read it through DNS
  rebinding.  Any other address needs a token or TLS (`gateway/settings/metrics.py` refuses it).

The answer is `gateway.local.metrics.exposition`'s: the OpenMetrics format when the scraper asks
for it, gzip when it accepts it.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import ssl
from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.local.metrics import GatewayMetrics, exposition
from gateway.settings.metrics import MetricsSettings
from protocols.hosts import is_loopback_host

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class MetricsListenerError(Exception):
    """The listener cannot be served (e.g. its port is in use)."""


class MetricsListener:
    def __init__(self, settings: MetricsSettings, metrics: GatewayMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        token = settings.bearer_token
        self._token = None if token is None else token.get_secret_value().encode()
        self._runner: web.AppRunner | None = None
        self._loopback = True
        self.url: str | None = None

    async def start(self) -> str:
        """Listen; returns the URL of `/metrics` (logged).  Raises `MetricsListenerError`."""
        host, port = self.settings.address
        app = web.Application(middlewares=[self._guard])
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port, ssl_context=self._tls()).start()
        except OSError as exc:
            await runner.cleanup()
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise MetricsListenerError(f"cannot listen on {self.settings.listen}: "
                                       f"{reason}") from exc
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        self._loopback = ipaddress.ip_address(bound_host).is_loopback
        netloc = f"[{bound_host}]:{bound_port}" if ":" in bound_host else \
            f"{bound_host}:{bound_port}"
        self.url = f"{'https' if self.settings.tls else 'http'}://{netloc}/metrics"
        protection = [name for name, on in (("bearer token", self._token is not None),
                                            ("TLS", self.settings.tls)) if on]
        log.info("metrics listener on %s (%s)", self.url, " and ".join(protection) or "open")
        return self.url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _tls(self) -> ssl.SSLContext | None:
        cert, key = self.settings.tls_certificate_file, self.settings.tls_key_file
        if cert is None or key is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(cert, key)
        except OSError as exc:  # changed since the config was checked
            raise MetricsListenerError(f"cannot load {cert} and {key}: {exc}") from exc
        return context

    async def _metrics(self, request: web.Request) -> web.Response:
        body, content_type = await exposition(self.metrics.registry,
                                              request.headers.get("Accept", ""))
        response = web.Response(body=body, headers={"Content-Type": content_type})
        response.enable_compression()
        return response

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self._token is not None:
            scheme, _, given = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                    given.strip().encode(), self._token):
                raise web.HTTPUnauthorized(
                    text="a bearer token is needed: Authorization: Bearer TOKEN\n",
                    headers={"WWW-Authenticate": 'Bearer realm="printgw metrics"'})
        elif self._loopback and not is_loopback_host(request.url.host):
            raise web.HTTPMisdirectedRequest(text="this listener answers on loopback only\n")
        response = await handler(request)
        response.headers["Cache-Control"] = "no-store"
        return response


async def start_metrics_listener(settings: MetricsSettings,
                                 metrics: GatewayMetrics) -> MetricsListener | None:
    """The listener of `[metrics]` when `listen` is set; None when it is not, or when it cannot
    listen (logged: the daemon goes on without it)."""
    if settings.listen is None:
        return None
    listener = MetricsListener(settings, metrics)
    try:
        await listener.start()
    except MetricsListenerError as exc:
        log.error("metrics listener: %s; the gateway runs without it (change [metrics] "
                  "listen)", exc)
        return None
    return listener
