"""A reverse proxy on loopback that puts faults between the gateway and the reference cloud.

The gateway talks to the proxy; the proxy forwards to the real cloud, or, as the test says, answers
500s, hangs, answers slowly, returns garbage or huge bodies, refuses connections (stopped), or cuts
WebSockets.  HTTP requests and WebSockets (the push channel) are both forwarded.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Literal

import aiohttp
from aiohttp import WSMsgType, web

Mode = Literal["pass", "error500", "hang", "slow", "garbage", "wrong-types", "huge", "html"]

HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "keep-alive",
               "upgrade", "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions",
               "sec-websocket-protocol", "sec-websocket-accept"}


@dataclass
class FaultProxy:
    upstream: str
    host: str = "127.0.0.1"
    port: int = 0
    mode: Mode = "pass"
    delay: float = 3.0
    """Seconds a `slow` answer waits before forwarding."""
    websockets_allowed: bool = True
    requests: list[tuple[str, str, int]] = field(default_factory=list)
    """(method, path, status answered), for assertions."""
    bodies: list[tuple[str, str, bytes]] = field(default_factory=list)
    """(method, path, request body as sent) of every HTTP request."""
    answers: list[tuple[str, str, int, bytes]] = field(default_factory=list)
    """(method, path, status, body as the cloud sent it) of every answer forwarded, also those
    whose client had gone by then."""
    _runner: web.AppRunner | None = None
    _sockets: set[web.WebSocketResponse] = field(default_factory=set)
    _in_flight: set[asyncio.Task[object]] = field(default_factory=set)
    _session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> FaultProxy:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, auto_decompress=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop_listening(self) -> None:
        """The cloud is down: connections are refused until `start()` again (same port).

        Requests still held (`hang`, `slow`) die with it, also those whose client has gone: a
        held request must neither be forwarded later nor keep the shutdown waiting."""
        await self.cut_websockets()
        for task in list(self._in_flight):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def close(self) -> None:
        await self.stop_listening()

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def cut_websockets(self, block: bool | None = None) -> None:
        """Close every open push channel; with `block`, refuse (or allow again) new ones."""
        if block is not None:
            self.websockets_allowed = not block
        for ws in list(self._sockets):
            await ws.close(code=1011, message=b"cut by the fault proxy")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request)
        task = asyncio.current_task()
        assert task is not None
        self._in_flight.add(task)
        try:
            response = await self._answer(request)
        finally:
            self._in_flight.discard(task)
        self.requests.append((request.method, request.path, response.status))
        return response

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        mode = self.mode
        body = await request.read()
        self.bodies.append((request.method, request.path, body))
        if mode == "error500":
            return web.json_response({"type": "about:blank", "title": "boom", "status": 500},
                                     status=500, content_type="application/problem+json")
        if mode == "hang":
            await asyncio.sleep(3600)
        if mode == "garbage":
            return web.Response(body=b"{not json", content_type="application/json")
        if mode == "wrong-types":
            return web.json_response({"printer_id": 42, "results": "yes", "statuses": None})
        if mode == "html":
            return web.Response(text="<html><body>502 Bad Gateway</body></html>", status=502,
                                content_type="text/html")
        if mode == "huge":
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            await response.prepare(request)
            chunk = b"[" + b"0," * 65536
            with contextlib.suppress(ConnectionError):  # the client hanging up is the point
                for _ in range(800):  # 100 MiB if nobody stops reading
                    await response.write(chunk)
            return response
        if mode == "slow":
            await asyncio.sleep(self.delay)
        return await self._forward(request, body)

    async def _forward(self, request: web.Request, body: bytes) -> web.Response:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        async with self._session.request(request.method, self.upstream + request.path_qs,
                                         headers=headers, data=body) as upstream:
            payload = await upstream.read()
            self.answers.append((request.method, request.path, upstream.status, payload))
            out = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_HEADERS}
            return web.Response(status=upstream.status, body=payload, headers=out)

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        if not self.websockets_allowed or self.mode != "pass":
            self.requests.append((request.method, request.path, 503))
            return web.json_response({"type": "about:blank", "title": "push unavailable",
                                      "status": 503}, status=503,
                                     content_type="application/problem+json",
                                     headers={"Retry-After": "1"})
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        protocols = [p.strip() for p in
                     request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        url = self.upstream.replace("http", "ws", 1) + request.path_qs
        try:
            upstream = await self._session.ws_connect(url, headers=headers, protocols=protocols,
                                                      autoping=True)
        except aiohttp.WSServerHandshakeError as exc:
            self.requests.append((request.method, request.path, exc.status))
            return web.Response(status=exc.status, text=exc.message)
        ws = web.WebSocketResponse(protocols=protocols, autoping=True)
        await ws.prepare(request)
        self.requests.append((request.method, request.path, 101))
        self._sockets.add(ws)

        async def from_gateway() -> None:  # control frames only; notices the gateway leaving
            async for _message in ws:
                pass
            await upstream.close()

        reader = asyncio.create_task(from_gateway())
        try:
            async for message in upstream:
                if message.type == WSMsgType.TEXT:
                    await ws.send_str(message.data)
                elif message.type == WSMsgType.BINARY:
                    await ws.send_bytes(message.data)
                else:
                    break
                if ws.closed:
                    break
        except ConnectionResetError:
            pass
        finally:
            self._sockets.discard(ws)
            reader.cancel()
            await upstream.close()
            with contextlib.suppress(Exception):
                await ws.close()
        return ws
