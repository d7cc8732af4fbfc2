"""systemd's notify protocol beyond READY (issue 18): `STATUS=` with the fleet in one line and
`WATCHDOG=1` at half of `$WATCHDOG_USEC` while the poll loop is alive.

A real `printgw run` tells a real unix datagram socket (`$NOTIFY_SOCKET`) about a virtual fleet and
the reference cloud; the watchdog's proof of life is checked in process with a poll loop that
died.  Addresses 127.0.142.0-142.255.
"""

from __future__ import annotations

import asyncio
import configparser
import contextlib
import re
import signal
import socket
import time
from pathlib import Path

import pytest

from gateway.app.daemon import Gateway
from gateway.app.runner import fleet_heartbeat
from gateway.app.systemd import FleetSummary, watchdog_interval
from gateway.settings.loading import parse_config
from tests.support.notify_socket import notify_socket
from tests.support.paths import REPO
from tests.support.uplink_harness import uplink_setup

UNIT = REPO / "config" / "printgw.service"


class Notifications:
    """Every message received on the socket, with its arrival time (monotonic)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.received: list[tuple[float, str]] = []

    async def until(self, pattern: str, within: float) -> str:
        """Receive until a message matches `pattern` (a regular expression); returns it."""
        loop = asyncio.get_running_loop()
        end = loop.time() + within
        while True:
            try:
                data = await asyncio.wait_for(loop.sock_recv(self.sock, 4096),
                                              max(0.01, end - loop.time()))
            except TimeoutError:
                raise AssertionError(f"no {pattern!r} within {within} s; got "
                                     f"{[m for _, m in self.received][-20:]}") from None
            message = data.decode()
            self.received.append((time.monotonic(), message))
            if re.fullmatch(pattern, message, re.S):
                return message

    def drain(self) -> None:
        """Take what has arrived meanwhile (stamped now)."""
        with contextlib.suppress(BlockingIOError):
            while True:
                self.received.append((time.monotonic(), self.sock.recv(4096).decode()))

    def pings(self, since: float = 0.0) -> list[float]:
        return [at for at, m in self.received if m == "WATCHDOG=1" and at >= since]


def test_the_unit_asks_for_notifications_and_a_watchdog() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read_string(UNIT.read_text())
    service = unit["Service"]
    assert service["Type"] == "notify" and service["NotifyAccess"] == "main"
    assert service["WatchdogSec"] == "60s"


def test_the_watchdog_interval_is_half_of_watchdog_usec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_USEC", "60000000")
    assert watchdog_interval() == 30.0
    monkeypatch.setenv("WATCHDOG_PID", "1")  # systemd watches another process
    assert watchdog_interval() is None


def test_the_status_line() -> None:
    assert str(FleetSummary({"idle": 40, "stopped": 1, "unreachable": 1}, "connected", 0)) == \
        "42 printers: 40 idle, 1 stopped, 1 unreachable; cloud connected; outbox 0"
    assert str(FleetSummary({}, "none", 0)) == "0 printers; no cloud link; outbox 0"
    assert str(FleetSummary({"idle": 1}, "not connected", 12)) == \
        "1 printer: 1 idle; cloud not connected; outbox 12"


@pytest.mark.slow
async def test_printgw_run_tells_systemd_the_fleet_and_pings_the_watchdog(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with uplink_setup(tmp_path, "127.0.142.1", ["color-mfp", "mono-laser"]) as h:
        gone = h.fleet.printers[1]
        h.write_config(poll={"interval": "1s", "unreachable_backoff_max": "2s"},
                       status_page={"enabled": False})
        sock_path = tmp_path / "notify"
        with notify_socket(sock_path) as sock:
            monkeypatch.setenv("NOTIFY_SOCKET", str(sock_path))
            monkeypatch.setenv("WATCHDOG_USEC", "1000000")  # a ping every 0.5 s
            monkeypatch.delenv("WATCHDOG_PID", raising=False)
            notes = Notifications(sock)
            daemon = await h.start_daemon()
            await notes.until("READY=1", 20)
            await notes.until(r"STATUS=2 printers: 2 (idle|processing); cloud connected; "
                              r"outbox \d+", 40)
            await h.fleet.set_unreachable(gone, True)
            await notes.until(r"STATUS=2 printers: 1 \w+, 1 unreachable; cloud connected; "
                              r"outbox \d+", 30)
            notes.drain()
            since = time.monotonic()
            await asyncio.sleep(3)
            notes.drain()
            pings = notes.pings(since)
            assert len(pings) >= 3, pings  # six at 0.5 s; a busy machine may miss a few
            assert await daemon.stop(signal.SIGTERM) == 0, daemon.log()[-3000:]
            await notes.until("STOPPING=1", 5)


async def test_the_watchdog_stops_when_the_poll_loop_is_gone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sock_path = tmp_path / "notify"
    with notify_socket(sock_path) as sock:
        monkeypatch.setenv("NOTIFY_SOCKET", str(sock_path))
        monkeypatch.setenv("WATCHDOG_USEC", "400000")  # a ping every 0.2 s
        monkeypatch.delenv("WATCHDOG_PID", raising=False)
        config = parse_config({"gateway": {"data_dir": str(tmp_path / "data")},
                               "discovery": {"mdns": False},
                               "status_page": {"enabled": False}})
        notes = Notifications(sock)
        stop = asyncio.Event()
        async with Gateway(config) as gateway:
            running = asyncio.create_task(gateway.run(stop))
            heartbeat = asyncio.create_task(fleet_heartbeat(gateway).run(stop))
            assert await notes.until("STATUS=.*", 5) == \
                "STATUS=0 printers; no cloud link; outbox 0"
            await notes.until("WATCHDOG=1", 5)
            await notes.until("WATCHDOG=1", 5)
            (poll,) = [t for t in asyncio.all_tasks() if t.get_name() == "poll"]
            poll.cancel()  # the poll loop is gone: no more proof of life
            await asyncio.sleep(0.5)  # the beat that saw it alive last may ping once more
            notes.drain()
            gone = time.monotonic()
            with pytest.raises(AssertionError, match="no 'WATCHDOG=1'"):
                await notes.until("WATCHDOG=1", 1.5)
            assert not notes.pings(gone)
            stop.set()
            await heartbeat
            await running
