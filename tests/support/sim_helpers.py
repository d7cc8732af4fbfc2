"""Helpers for the simulator tests: a running fleet, net-snmp and ipptool runners.

Tests use addresses in 127.0.20.0-127.0.29.255 and ports of the kernel's choosing so that they do
not collide with other test modules running in parallel.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator

from protocols.hosts import free_port
from simulator.fleet import Fleet, FleetConfig

SNMP_ENV = {**os.environ, "MIBS": "", "MIBDIRS": "/nonexistent"}


@contextlib.asynccontextmanager
async def running_fleet(first_ip: str, count: int = 1, **kwargs) -> AsyncIterator[Fleet]:
    from simulator.fleet import addresses
    ips = addresses(first_ip, count)
    snmp_port = free_port(*ips, udp=True)
    ipp_port = free_port(*ips, udp=True)
    fleet = Fleet(FleetConfig(count=count, first_ip=first_ip, snmp_port=snmp_port,
                              ipp_port=ipp_port, **kwargs))
    await fleet.start()
    try:
        yield fleet
    finally:
        await fleet.stop()


async def run(*cmd: str, limit: float = 20.0, check: bool = False) -> tuple[int, str, str]:
    """Run a command without blocking the event loop (the fleet answers meanwhile)."""
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=SNMP_ENV)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), limit)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    rc = proc.returncode or 0
    if check and rc:
        raise AssertionError(f"{cmd} failed ({rc}): {err.decode()} {out.decode()}")
    return rc, out.decode(), err.decode()


def target(printer) -> str:
    return f"{printer.ip}:{printer.snmp_port}"


async def snmpget(printer, *oids: str, community: str = "public", version: str = "2c",
                  ) -> dict[str, str]:
    """OID → value text (`-Oqv`-style, numeric OIDs)."""
    _rc, out, _err = await run("snmpget", f"-v{version}", "-c", community, "-On", "-Oq",
                               "-t", "2", "-r", "1", target(printer), *oids, check=True)
    return _parse(out)


async def snmpwalk(printer, oid: str, community: str = "public") -> dict[str, str]:
    _rc, out, _err = await run("snmpbulkwalk", "-v2c", "-c", community, "-On", "-Oq",
                               "-t", "2", "-r", "1", target(printer), oid, check=True)
    return _parse(out)


def _parse(out: str) -> dict[str, str]:
    values = {}
    for line in out.splitlines():
        if not line.startswith("."):
            continue
        oid, _, value = line.partition(" ")
        values[oid.lstrip(".")] = value.strip().strip('"')
    return values


@contextlib.asynccontextmanager
async def sim_process(first_ip: str, count: int, *extra: str, seed: int = 42,
                      ports: dict[str, int] | None = None) -> AsyncIterator[dict]:
    """`printgw-sim` as a process until the block ends: {"snmp", "ipp", "control" ports, "api"
    URL}; `ports` (those three) to start it again where it was, else of the kernel's choosing."""
    from simulator.fleet import addresses
    ips = addresses(first_ip, count)
    ports = ports or {"snmp": free_port(*ips, udp=True), "ipp": free_port(*ips, udp=True),
                      "control": free_port(udp=True)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "simulator", "--count", str(count), "--first-ip", first_ip,
        "--snmp-port", str(ports["snmp"]), "--ipp-port", str(ports["ipp"]),
        "--control-port", str(ports["control"]), "--seed", str(seed), *extra,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=SNMP_ENV)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert b"printgw-sim:" in line, (line, await proc.stderr.read())  # type: ignore[union-attr]
        yield {**ports, "api": f"http://127.0.0.1:{ports['control']}"}
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)
