"""How many full gateway polls per second the virtual fleet answers.

Starts `printgw-sim` (N printers, default 1000) as a separate process, then drives full polls
against it from this process for a bounded time with bounded concurrency.  One full poll = GET of
the system scalars + serial + life count, and GETBULK walks (max-repetitions 25) of the marker
supplies, marker, colorant and alert tables: what the gateway reads.  Prints polls/s, the
simulator's CPU ms per answered poll, and its peak RSS.  `--compare-snmpsim` also polls snmpsim
serving one recording, for scale.

The client is a minimal asyncio UDP poller on `simulator.ber` (a pysnmp client costs ~10 ms CPU
per poll, and would measure itself, not the fleet);
`bench/fleet.py` drives the same polls with the gateway's gufo_snmp client, which costs less
than the agent, through `drive(..., open_poller)`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

# this file is bench/simulator.py: keep it from shadowing the `simulator` package
_HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if p not in ("", _HERE)]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from protocols.snmp import oids  # noqa: E402
from simulator import ber  # noqa: E402
from simulator.fleet import addresses  # noqa: E402
from tests.support.paths import SNMP_FIXTURES  # noqa: E402

O = ber.parse_oid  # noqa: E741
SCALARS = [(*O(oids.sysDescr), 0), (*O(oids.sysObjectID), 0), (*O(oids.sysUpTime), 0),
           (*O(oids.sysName), 0), (*O(oids.sysLocation), 0),
           (*O(oids.prtGeneralSerialNumber), 1), (*O(oids.prtMarkerLifeCount), 1, 1)]
TABLES = [O(oids.prtMarkerSuppliesTable), O(oids.prtMarkerTable),
          O(oids.prtMarkerColorantTable), O(oids.prtAlertTable)]


def request(pdu_type: int, request_id: int, community: bytes, varbinds: list[ber.Oid],
            non_rep: int = 0, max_rep: int = 0) -> bytes:
    vbl = b"".join(ber.varbind(ber.enc_oid(o), ber.tlv(ber.NULL, b"")) for o in varbinds)
    pdu = (ber.enc_int(request_id) + ber.enc_int(non_rep) + ber.enc_int(max_rep)
           + ber.tlv(ber.SEQUENCE, vbl))
    return ber.tlv(ber.SEQUENCE, ber.enc_int(1) + ber.enc_octets(community)
                   + ber.tlv(pdu_type, pdu))


class Client(asyncio.DatagramProtocol):
    """One UDP socket, one request in flight at a time (a worker)."""

    def __init__(self) -> None:
        self.waiter: asyncio.Future[bytes] | None = None
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:  # type: ignore[override]
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(data)

    async def ask(self, data: bytes, addr: tuple[str, int], wait: float, retries: int
                  ) -> ber.Message | None:
        assert self.transport is not None
        for _ in range(retries + 1):
            self.waiter = asyncio.get_running_loop().create_future()
            self.transport.sendto(data, addr)
            try:
                raw = await asyncio.wait_for(self.waiter, wait)
                return ber.decode_message(raw)
            except TimeoutError:
                continue
        return None


async def full_poll(client: Client, addr: tuple[str, int], community: bytes, rid: int,
                    wait: float = 2.0, retries: int = 1) -> int | None:
    """Values read in one full poll, or None when the printer did not answer."""
    got = await client.ask(request(ber.GET, rid, community, SCALARS), addr, wait, retries)
    if got is None:
        return None
    values = len(got.varbinds)
    for table in TABLES:
        oid = table
        while True:
            rid += 1
            got = await client.ask(request(ber.GETBULK, rid, community, [oid], 0, 25), addr,
                                   wait, retries)
            if got is None:
                return None
            done = False
            for vb_oid, tag, _body in got.varbinds:
                if vb_oid[:len(table)] != table or tag == ber.END_OF_MIB_VIEW:
                    done = True
                    break
                values += 1
                oid = vb_oid
            if done or not got.varbinds:
                break
    return values


Poll = Callable[[tuple[str, int]], Awaitable[int | None]]
"""One full poll of the printer at (address, port): values read, or None without an answer."""
PollerFactory = Callable[[], AbstractAsyncContextManager[Poll]]
"""Opens a poller for one worker (its polls run one after another)."""


@contextlib.asynccontextmanager
async def ber_poller(community: bytes) -> AsyncIterator[Poll]:
    """Full polls on `simulator.ber` through a socket of the worker's own."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    transport, client = await loop.create_datagram_endpoint(Client, sock=sock)
    try:
        yield lambda addr: full_poll(client, addr, community, random.randint(1, 2**30))
    finally:
        transport.close()


async def drive(targets: list[tuple[str, int]], seconds: float, concurrency: int,
                open_poller: PollerFactory) -> tuple[int, int, int, float]:
    """(polls answered, polls failed, values read, seconds) of `concurrency` workers polling
    the targets in turn until `seconds` have passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    polls = failures = values = 0
    order = list(targets)
    random.shuffle(order)
    counter = iter(range(10**12))

    async def worker() -> None:
        nonlocal polls, failures, values
        async with open_poller() as poll:
            while loop.time() < deadline:
                n = await poll(order[next(counter) % len(order)])
                if n is None:
                    failures += 1
                else:
                    polls += 1
                    values += n

    t0 = loop.time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return polls, failures, values, loop.time() - t0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_udp(addr: tuple[str, int], community: bytes, limit: float = 120.0) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(0.5)
    end = time.monotonic() + limit
    try:
        while time.monotonic() < end:
            sock.sendto(request(ber.GET, 1, community, SCALARS[:1]), addr)
            try:
                sock.recv(65535)
                return
            except TimeoutError:
                continue
        raise RuntimeError(f"{addr} did not answer within {limit} s")
    finally:
        sock.close()


def measure(name: str, pid: int, targets: list[tuple[str, int]], seconds: float,
            concurrency: int, open_poller: PollerFactory) -> dict[str, float]:
    """Drive full polls against the agent process `pid`; prints and returns its figures."""
    cpu0 = cpu_seconds(pid)
    polls, failures, values, elapsed = asyncio.run(drive(targets, seconds, concurrency,
                                                         open_poller))
    cpu = cpu_seconds(pid) - cpu0
    figures = {"polls_per_s": polls / elapsed, "failed": failures,
               "values": values / max(1, polls), "agent_cpu_ms": cpu * 1000 / max(1, polls),
               "agent_core": cpu / elapsed, "agent_rss_mb": peak_rss_mb(pid)}
    print(f"{name}: {len(targets)} printers, {concurrency} polls in flight, {elapsed:.1f} s")
    print(f"  full polls answered : {polls} ({figures['polls_per_s']:.0f} polls/s), "
          f"failed {failures}")
    print(f"  values per poll     : {figures['values']:.0f}")
    print(f"  agent CPU per poll  : {figures['agent_cpu_ms']:.2f} ms "
          f"({figures['agent_core'] * 100:.0f} % of one core)")
    print(f"  agent peak RSS      : {figures['agent_rss_mb']:.0f} MB")
    return figures


@contextlib.contextmanager
def fleet_process(count: int, first_ip: str, port: int, profile: str,
                  ipp: bool = True) -> Iterator[subprocess.Popen[bytes]]:
    """`printgw-sim` with `count` printers (SNMP on `port`, IPP on `port + 1`), once they all
    answer."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--count", str(count), "--first-ip", first_ip,
         "--snmp-port", str(port), "--ipp-port", str(port + 1), "--control-port", "0",
         "--profile", profile, *([] if ipp else ["--no-ipp"])],
        cwd=Path(__file__).resolve().parent.parent, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        if not proc.stdout.readline():
            raise SystemExit("printgw-sim did not start (port taken? try another port)")
        wait_udp((addresses(first_ip, count)[-1], port), b"public")
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--first-ip", default="127.0.30.1")
    ap.add_argument("--port", type=int, default=16100)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--profile", default="color-mfp")
    ap.add_argument("--compare-snmpsim", action="store_true")
    args = ap.parse_args()
    if not 1 <= args.concurrency <= 1000 or not 0 < args.seconds <= 600:
        ap.error("concurrency 1..1000, seconds 0..600")
    ips = addresses(args.first_ip, args.count)
    t0 = time.monotonic()
    with fleet_process(args.count, args.first_ip, args.port, args.profile) as proc:
        print(f"fleet of {args.count} started in {time.monotonic() - t0:.1f} s "
              f"(RSS {peak_rss_mb(proc.pid):.0f} MB)")
        measure("printgw-sim", proc.pid, [(ip, args.port) for ip in ips], args.seconds,
                args.concurrency, lambda: ber_poller(b"public"))
    if args.compare_snmpsim and shutil.which("snmpsim-command-responder"):
        compare_snmpsim(args.port, args.seconds)
    return 0


@contextlib.contextmanager
def snmpsim_process(port: int, host: str = "127.0.30.250") -> Iterator[subprocess.Popen[bytes]]:
    """snmpsim serving the Sharp recording as community `public`, once it answers."""
    rec = SNMP_FIXTURES / "sharp.snmprec"
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(rec, Path(tmp) / "public.snmprec")
        env = {**os.environ, "SNMPSIM_ALLOW_ROOT": "true"}
        proc = subprocess.Popen(
            ["snmpsim-command-responder", f"--data-dir={tmp}",
             f"--agent-udpv4-endpoint={host}:{port}", "--cache-dir", tmp],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        try:
            wait_udp((host, port), b"public", 60)
            yield proc
        finally:
            proc.terminate()
            proc.wait(10)


def compare_snmpsim(port: int, seconds: float) -> None:
    with snmpsim_process(port) as proc:
        measure("snmpsim (one recording, for comparison)", proc.pid,
                [("127.0.30.250", port)], min(seconds, 10), 8, lambda: ber_poller(b"public"))


if __name__ == "__main__":
    sys.exit(main())
