"""Run `snmpsim` on loopback, serving `.snmprec` recordings of real printers, for tests and benches.

The community of each recording is its file name without `.snmprec`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from protocols.hosts import free_port


def _answers(host: str, port: int, community: str) -> bool:
    """One SNMP GET of sysDescr.0 with the net-snmp CLI; True when the agent answers."""
    result = subprocess.run(
        ["snmpget", "-v2c", "-c", community, "-t", "0.5", "-r", "0", "-Oqv",
         f"{host}:{port}", "1.3.6.1.2.1.1.1.0"],
        capture_output=True, text=True, check=False)
    return result.returncode == 0


@contextmanager
def snmpsim(recordings: Iterable[Path], workdir: Path, host: str = "127.0.0.1",
            port: int | None = None, extra_args: Iterable[str] = ()) -> Iterator[tuple[str, int]]:
    """Serve the given recordings; yields (host, port) once the agent answers.

    `extra_args` go to snmpsim's command line before the endpoint, e.g. `--v3-user` options
    (with SNMPv3 the context name selects the recording).
    """
    recordings = list(recordings)
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    for path in recordings:
        shutil.copy(path, data / path.name)
    port = port or free_port(host, tcp=False, udp=True)
    command = [
        sys.executable, "-c",
        "import sys; from snmpsim.commands.responder import main; sys.exit(main())",
        f"--cache-dir={workdir / 'cache'}", "--log-level=error", "--logging-method=null",
        *extra_args, f"--data-dir={data}", f"--agent-udpv4-endpoint={host}:{port}",
    ]
    env = dict(os.environ, SNMPSIM_ALLOW_ROOT="true")
    log = (workdir / "snmpsim.log").open("w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        community = recordings[0].name.removesuffix(".snmprec")
        deadline = time.monotonic() + 60
        while not _answers(host, port, community):
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                raise RuntimeError("snmpsim did not start: "
                                   + (workdir / "snmpsim.log").read_text()[-2000:])
            time.sleep(0.3)
        yield host, port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
