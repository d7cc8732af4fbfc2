"""Real IPP servers for tests: CUPS's `ippeveprinter` (Debian package `cups-ipp-utils`).

`IppEveFleet` starts one private D-Bus daemon (Debian's ippeveprinter exits without one, even with
`-r off`) and any number of ippeveprinter servers on free loopback ports, each serving
`ipp://127.0.0.1:PORT/ipp/print` and, with its own `-K` key directory, `ipps://` on the same port
with a self-signed certificate.  Everything it started is stopped, and its temporary directory
removed, on `close()`.

Use it from a test module through the `ippeve_fleet` fixture (module scope)::

    from tests.support.ippeveprinter import ippeve_fleet_fixture  # noqa: F401

    def test_x(ippeve_fleet: IppEveFleet) -> None:
        printer = ippeve_fleet.start("hp", CONF_DIR / "hp-m404.conf")

The fixture fails with the fix when `ippeveprinter` is missing: `.ci/run` installs it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from protocols.hosts import free_port
from tests.support.paths import FIXTURES

CONF_DIR = FIXTURES / "ipp" / "ippeveprinter"
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0


@dataclass
class IppEvePrinter:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def ipp_uri(self) -> str:
        return f"ipp://127.0.0.1:{self.port}/ipp/print"

    @property
    def ipps_uri(self) -> str:
        return f"ipps://127.0.0.1:{self.port}/ipp/print"


class IppEveFleet:
    """A private D-Bus and the ippeveprinter servers started on it."""

    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="ippeve-"))
        self.printers: list[IppEvePrinter] = []
        bus = self.workdir / "bus"
        self._dbus = subprocess.Popen(
            ["dbus-daemon", "--session", f"--address=unix:path={bus}", "--nofork", "--nopidfile"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self._env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={bus}"}
        if not _wait_for(bus.exists, self._dbus):
            self.close()
            raise RuntimeError("dbus-daemon did not start")

    def start(self, name: str, conf: Path | None = None, *,
              ipp_version: str | None = None) -> IppEvePrinter:
        """Start a server named `name` with the attributes of `conf`; `ipp_version="1.1"` makes an
        IPP/1.1-only printer (it answers IPP/2.0 requests with HTTP 400).  Returns once it answers.
        """
        for attempt in range(3):
            printer = self._spawn(f"{name}-{attempt}", name, conf, ipp_version)
            if _wait_for(lambda p=printer: _answers(p.port), printer.process):
                self.printers.append(printer)
                return printer
            exited = printer.process.poll() is not None
            _stop(printer.process)
            if not exited:
                break
            # It exited: most likely another process took the port first; try another one.
        log = printer.log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"ippeveprinter {name} did not start: {log}")

    def _spawn(self, directory: str, name: str, conf: Path | None,
               ipp_version: str | None) -> IppEvePrinter:
        home = self.workdir / directory
        (home / "keys").mkdir(parents=True)
        (home / "spool").mkdir()
        port = free_port()
        command = ["ippeveprinter", "-p", str(port), "-n", "localhost", "-r", "off",
                   "-K", str(home / "keys"), "-d", str(home / "spool")]
        if conf is not None:
            command += ["-a", str(conf)]
        if ipp_version is not None:
            command += ["-V", ipp_version]
        log = home / "log"
        with log.open("wb") as out:
            process = subprocess.Popen([*command, name], stdout=out, stderr=subprocess.STDOUT,
                                       env=self._env)
        return IppEvePrinter(name, port, process, log)

    def close(self) -> None:
        for process in [p.process for p in self.printers] + [self._dbus]:
            _stop(process)
        self.printers.clear()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> IppEveFleet:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _wait_for(ready: Callable[[], bool], process: subprocess.Popen[bytes]) -> bool:
    """True once `ready()`; False when the process exits or the start timeout passes first."""
    deadline = time.monotonic() + _START_TIMEOUT
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module", name="ippeve_fleet")
def ippeve_fleet_fixture() -> Iterator[IppEveFleet]:
    """An `IppEveFleet` for one test module."""
    if shutil.which("ippeveprinter") is None:
        pytest.fail("ippeveprinter is missing: install the Debian package cups-ipp-utils")
    with IppEveFleet() as fleet:
        yield fleet
