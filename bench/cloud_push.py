"""`bench/cloud.py`'s push measurements: latency from an operator action to a gateway's push
socket on another worker, and the cloud's memory and CPU per push socket held."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

import aiohttp

from bench.proc_tree import tree_cpu, tree_rss_mb
from bench.uplink import gather_bounded, operator_call
from protocols.cloud.push import PUSH_SUBPROTOCOL
from tests.support.cloud_workers import tcp_owner

OPERATOR_SOURCE = "127.75.0.1"  # the operator's one connection: its worker is found by address
PUSH_SOURCE = "127.75.0.2"  # the push socket whose latency is measured
PER_SOURCE = 256  # push sockets per client source address (127.75.1.1 onwards)
PUSH_TIMEOUT = 10.0  # seconds for a change to arrive (the goal is 1 s)


@dataclass(frozen=True)
class Cloud:
    url: str
    root: int  # the `serve` process (the parent with --workers)
    workers: list[int]

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


async def open_push(http: aiohttp.ClientSession, url: str, token: str
                    ) -> aiohttp.ClientWebSocketResponse:
    """A push channel past its `hello`."""
    ws = await http.ws_connect(url.replace("http", "ws", 1) + "/v1/push",
                               protocols=(PUSH_SUBPROTOCOL,), heartbeat=None,
                               headers={"Authorization": f"Bearer {token}"})
    hello = await ws.receive_json(timeout=PUSH_TIMEOUT)
    if hello.get("type") != "hello":
        raise RuntimeError(f"push: {hello}")
    return ws


async def push_latency(cloud: Cloud, token: str, printer_id: str, changes: int
                       ) -> tuple[list[float], bool]:
    """Seconds from each operator action's request to its change on the gateway's socket, and
    whether that socket was held by another worker than the one serving the operator."""
    schedule_url = f"{cloud.url}/v1/operator/printers/{printer_id}/meter-schedule"
    operator = aiohttp.TCPConnector(limit=1, local_addr=(OPERATOR_SOURCE, 0))
    async with aiohttp.ClientSession(connector=operator) as http, \
            contextlib.AsyncExitStack() as push:
        await operator_call(http, "GET", f"{cloud.url}/v1/operator/services")  # pins a worker
        serving_operator = tcp_owner(cloud.workers, cloud.port, OPERATOR_SOURCE)
        for _ in range(50):  # until a socket lands on another worker (one worker: the first)
            async with contextlib.AsyncExitStack() as attempt:
                gateway = await attempt.enter_async_context(aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(local_addr=(PUSH_SOURCE, 0))))
                ws = await open_push(gateway, cloud.url, token)
                attempt.push_async_callback(ws.close)
                holder = tcp_owner(cloud.workers, cloud.port, PUSH_SOURCE)
                if len(cloud.workers) == 1 or holder != serving_operator:
                    push.push_async_exit(attempt.pop_all())  # kept open until the end
                    break
        else:
            raise RuntimeError("every push socket landed on the operator's worker")
        latencies = []
        for number in range(changes):
            arrived = asyncio.create_task(_next_change(ws, printer_id))
            started = time.perf_counter()
            try:
                await operator_call(http, "PUT", schedule_url, {"meter_schedule": {
                    "day_of_month": 1 + number % 28, "time": "00:00"}})
            except BaseException:
                arrived.cancel()
                raise
            latencies.append(await arrived - started)
        across = tcp_owner(cloud.workers, cloud.port, OPERATOR_SOURCE) != holder
    return latencies, across


async def _next_change(ws: aiohttp.ClientWebSocketResponse, printer_id: str) -> float:
    """perf_counter() when the printer's next `control-info-changed` arrives."""
    while True:
        message = await ws.receive_json(timeout=PUSH_TIMEOUT)
        if message.get("type") == "control-info-changed" and message["printer_id"] == printer_id:
            return time.perf_counter()


@dataclass(frozen=True)
class Sockets:
    rss_before_mb: float
    rss_after_mb: float
    seconds: float  # to open them all, 64 at a time
    cloud_ms: float  # cloud CPU per socket opened


async def hold_sockets(cloud: Cloud, tokens: list[str]) -> Sockets:
    """The cloud's processes before and after `tokens` opened a push socket each."""
    before, cpu, started = tree_rss_mb(cloud.root), tree_cpu(cloud.root), time.perf_counter()
    async with contextlib.AsyncExitStack() as stack:
        sessions = [await stack.enter_async_context(aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, local_addr=(f"127.75.{1 + n // 250}."
                                                                f"{1 + n % 250}", 0))))
            for n in range(-(-len(tokens) // PER_SOURCE))]
        readers: list[asyncio.Task[None]] = []

        async def connect(number: int, token: str) -> None:
            ws = await open_push(sessions[number // PER_SOURCE], cloud.url, token)
            readers.append(asyncio.create_task(_drain(ws)))  # answers the server's pings

        try:
            await gather_bounded([connect(n, t) for n, t in enumerate(tokens)], 64)
            seconds, cpu = time.perf_counter() - started, tree_cpu(cloud.root) - cpu
            await asyncio.sleep(1.0)
            after = tree_rss_mb(cloud.root)
        finally:
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
    return Sockets(before, after, seconds, cpu * 1000 / len(tokens))


async def _drain(ws: aiohttp.ClientWebSocketResponse) -> None:
    async with ws:
        async for _ in ws:
            pass
