"""Two network namespaces joined by a veth pair: a private LAN for mDNS tests.

mDNS must never multicast on the machine's real interfaces.  Tests that need a real link between
a gateway and printers (multicast between two hosts, publishers other than zeroconf) run both
sides in namespaces of their own::

    async with netns_pair() as net:          # net.gw / net.printers: namespace names
        await net.add_printer_addresses(3)   # 10.213.N.2, .3, .4 on the printers' veth
        proc = await net.spawn(net.printers, sys.executable, "-m", "simulator.cli", ...)
        rc, out, err = await net.run(net.gw, sys.executable, "-m", "protocols.mdns", ...)

    async with net.avahi() as avahi:         # avahi-daemon (+ its own D-Bus) among the printers
        await avahi.publish("Printer", "_ipp._tcp", 631, ["ty=X"], subtypes=["_universal"])

Namespaces are named `pgw-gw-<pid>-<n>` and `pgw-pr-<pid>-<n>`; the veth ends are `gw0` (gateway
side, 10.213.N.1/24) and `pr0` (printers' side, 10.213.N.2/24 and whatever is added).  They are
created directly inside the namespaces, so the machine's own interface list never changes.
Everything is torn down on exit, failure or not: processes started here are stopped (SIGTERM,
then SIGKILL), anything left inside the namespaces is killed, the namespaces are deleted.
Namespaces left by a test run that was killed outright are removed by the next run.

Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN), iproute2 and util-linux; avahi needs the Debian
packages avahi-daemon, avahi-utils and dbus.  `.ci/run` installs them and runs as root.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import pytest

PREFIX = "pgw"
SUBNET = "10.213"
GW_IF = "gw0"
PRINTERS_IF = "pr0"
_counter = itertools.count(1)
_NAME = re.compile(rf"^{PREFIX}-(?:gw|pr)-(\d+)-\d+$")
_START_TIMEOUT = 20.0
_STOP_TIMEOUT = 5.0


class NetnsUnavailable(RuntimeError):
    """The machine cannot make network namespaces for us (privileges or tools missing)."""


def require_netns(*tools: str) -> None:
    """Fail the test, saying what is needed, unless namespaces can be made and `tools` exist."""
    missing = [t for t in ("ip", "unshare", "nsenter", *tools) if shutil.which(t) is None]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: install the Debian packages iproute2, "
                    "util-linux, avahi-daemon, avahi-utils, dbus, cups-ipp-utils (.ci/run does)")
    if os.geteuid() != 0:
        pytest.fail("network-namespace tests need root (CAP_NET_ADMIN and CAP_SYS_ADMIN to "
                    "create namespaces, veth pairs and mounts): run them as root, as .ci/run does")


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=15)
    if check and result.returncode:
        raise NetnsUnavailable(f"`ip {' '.join(args)}` failed: {result.stderr.strip()} "
                               "(network namespaces need root: CAP_NET_ADMIN, CAP_SYS_ADMIN)")
    return result


def _ns_pids(name: str) -> list[int]:
    out = _ip("netns", "pids", name, check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, killed but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _kill_namespaces(names: Sequence[str]) -> None:
    """Kill whatever still runs inside the namespaces (all started by us), then delete them."""
    for sig, patience in ((signal.SIGTERM, _STOP_TIMEOUT), (signal.SIGKILL, 2.0)):
        pids = [p for n in names for p in _ns_pids(n)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + patience
        while any(_ns_pids(n) for n in names) and time.monotonic() < deadline:
            time.sleep(0.05)
    for name in names:
        _ip("netns", "del", name, check=False)


def remove_stale_namespaces() -> None:
    """Delete `pgw-*` namespaces (and work directories) whose creating test process is gone."""
    def gone(pid: str) -> bool:
        return int(pid) != os.getpid() and not _alive(int(pid))

    listing = _ip("netns", "list", check=False).stdout
    stale = []
    for line in listing.splitlines():
        name = line.split()[0] if line.split() else ""
        match = _NAME.match(name)
        if match and gone(match.group(1)):
            stale.append(name)
    if stale:
        _kill_namespaces(stale)
    for workdir in Path(tempfile.gettempdir()).glob(f"{PREFIX}-netns-*-*"):
        pid = workdir.name.split("-")[2]
        if pid.isdigit() and gone(pid):
            shutil.rmtree(workdir, ignore_errors=True)


class NetnsPair:
    """The gateway's namespace and the printers' namespace, and the processes started in them."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.gw = f"{PREFIX}-gw-{os.getpid()}-{index}"
        self.printers = f"{PREFIX}-pr-{os.getpid()}-{index}"
        self.gw_if = GW_IF
        self.printers_if = PRINTERS_IF
        self.octet = (index - 1) % 254 + 1  # the namespaces are private: reuse is harmless
        self.gw_ip = self.host(1)
        self.printer_ips: list[str] = [self.host(2)]
        self.processes: list[asyncio.subprocess.Process] = []
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-netns-{os.getpid()}-"))

    def host(self, n: int) -> str:
        """10.213.N.n: an address on this pair's /24."""
        return f"{SUBNET}.{self.octet}.{n}"

    # -- set-up and tear-down (synchronous, so that they also complete when a test is cancelled)

    def create(self, ipv6: bool = False) -> None:
        for ns in (self.gw, self.printers):
            _ip("netns", "add", ns)
        _ip("link", "add", self.gw_if, "netns", self.gw, "type", "veth",
            "peer", "name", self.printers_if, "netns", self.printers)
        for ns, dev, ip in ((self.gw, self.gw_if, self.gw_ip),
                            (self.printers, self.printers_if, self.printer_ips[0])):
            _ip("-n", ns, "link", "set", "lo", "up")
            if not ipv6:  # no link-local IPv6 addresses: only the IPv4 addresses are advertised
                knob = f"/proc/sys/net/ipv6/conf/{dev}/disable_ipv6"
                _ip("netns", "exec", ns, "sh", "-c", f"[ ! -e {knob} ] || echo 1 > {knob}")
            _ip("-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
            _ip("-n", ns, "link", "set", dev, "multicast", "on", "up")

    def destroy(self) -> None:
        for proc in self.processes:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGTERM)
        _kill_namespaces([self.printers, self.gw])
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- addresses

    async def add_printer_addresses(self, count: int) -> list[str]:
        """Make sure the printers' veth has `count` addresses (10.213.N.2 onwards); returns them."""
        while len(self.printer_ips) < count:
            ip = self.host(len(self.printer_ips) + 2)
            await self.run(self.printers, "ip", "addr", "add", f"{ip}/24", "dev",
                           self.printers_if)
            self.printer_ips.append(ip)
        return self.printer_ips[:count]

    # -- processes

    def _command(self, ns: str, cmd: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", ns, *cmd]

    async def run(self, ns: str, *cmd: str, limit: float = 30.0, check: bool = True,
                  env: dict[str, str] | None = None) -> tuple[int, str, str]:
        """Run `cmd` in namespace `ns` to completion (killed after `limit` seconds)."""
        proc = await self.spawn(ns, *cmd, env=env, stdin=subprocess.DEVNULL)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), limit)
        except TimeoutError:
            await self.stop(proc)
            raise AssertionError(f"{shlex.join(cmd)} in {ns} took more than {limit}s") from None
        rc = proc.returncode or 0
        if check and rc:
            raise AssertionError(f"{shlex.join(cmd)} in {ns} failed ({rc}):\n{err.decode()}\n"
                                 f"{out.decode()}")
        return rc, out.decode(errors="replace"), err.decode(errors="replace")

    async def spawn(self, ns: str, *cmd: str, env: dict[str, str] | None = None,
                    stdin: int | None = subprocess.DEVNULL, stdout: int | None = subprocess.PIPE,
                    stderr: int | None = subprocess.PIPE, enter: int | None = None,
                    ) -> asyncio.subprocess.Process:
        """Start `cmd` in namespace `ns` (or, with `enter=PID`, in the network and mount
        namespaces of that process: see `Avahi`), in a process group of its own; stopped at the
        latest when the pair is torn down."""
        argv = (["nsenter", "-t", str(enter), "-n", "-m", "--", *cmd] if enter is not None
                else self._command(ns, cmd))
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=stdin, stdout=stdout, stderr=stderr, start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
        self.processes.append(proc)
        return proc

    async def stop(self, proc: asyncio.subprocess.Process, sig: int = signal.SIGTERM,
                   limit: float = _STOP_TIMEOUT) -> int:
        """Signal `proc`'s process group, SIGKILL it after `limit` s; returns the exit status."""
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                await asyncio.wait_for(proc.wait(), limit)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        return proc.returncode if proc.returncode is not None else -1

    async def wait_tcp(self, ns: str, host: str, port: int, limit: float = _START_TIMEOUT
                       ) -> None:
        """Wait until something accepts TCP connections on host:port, seen from `ns`."""
        script = ("import socket, sys, time\n"
                  f"end = time.monotonic() + {limit}\n"
                  "while True:\n"
                  "    try:\n"
                  f"        socket.create_connection(({host!r}, {port}), 0.5).close(); break\n"
                  "    except OSError:\n"
                  "        if time.monotonic() > end: sys.exit(1)\n"
                  "        time.sleep(0.1)\n")
        await self.run(ns, sys.executable, "-c", script, limit=limit + 10)

    def avahi(self, host_name: str | None = None) -> Avahi:
        """avahi-daemon among the printers, publishing on the printers' veth only."""
        return Avahi(self, host_name or f"pgwpr{self.octet}")


async def read_until(proc: asyncio.subprocess.Process, predicate: Callable[[str], bool],
                     limit: float, stream: str = "stdout") -> tuple[str, list[str]]:
    """Read lines from `proc` until one satisfies `predicate`; returns it and all lines read.
    AssertionError, with what was read, on timeout or end of output."""
    reader = getattr(proc, stream)
    assert reader is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(limit):
            while True:
                raw = await reader.readline()
                if not raw:
                    break
                line = raw.decode(errors="replace").rstrip("\n")
                lines.append(line)
                if predicate(line):
                    return line, lines
    except TimeoutError:
        pass
    tail = "\n".join(lines[-40:])
    raise AssertionError(f"no matching line within {limit}s (exit {proc.returncode}):\n{tail}")


@contextlib.asynccontextmanager
async def netns_pair(ipv6: bool = False) -> AsyncIterator[NetnsPair]:
    """A fresh gateway/printers namespace pair; torn down on exit whatever happened."""
    remove_stale_namespaces()
    net = NetnsPair(next(_counter))
    try:
        net.create(ipv6=ipv6)
        yield net
    finally:
        net.destroy()
        for proc in net.processes:  # let asyncio collect what destroy() killed
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(proc.wait(), 2.0)


# -- avahi: an mDNS publisher independent of zeroconf -------------------------------------------

_AVAHI_CONF = """\
[server]
host-name={host_name}
use-ipv4=yes
use-ipv6=no
allow-interfaces={interface}
enable-dbus=yes
ratelimit-interval-usec=1000000
ratelimit-burst=1000

[wide-area]
enable-wide-area=no

[publish]
publish-addresses=yes
publish-hinfo=no
publish-workstation=no
publish-aaaa-on-ipv4=no
publish-a-on-ipv6=no

[reflector]
enable-reflector=no
"""

# Runs in a mount namespace of its own: a tmpfs on /run gives the private system bus and
# avahi-daemon their usual paths without touching the machine's, and /etc/hosts names the host
# (ippeveprinter listens on its host name's addresses, IPv4 and IPv6).
_AVAHI_SCRIPT = """\
set -e
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/dbus /run/avahi-daemon
mount --bind "$WORK/hosts" /etc/hosts
trap 'kill $children 2>/dev/null; wait; exit 0' TERM INT
dbus-daemon --system --nofork --nopidfile &
children=$!
i=0
while [ ! -S /run/dbus/system_bus_socket ]; do
  i=$((i + 1)); [ $i -lt 200 ] || { echo "dbus-daemon did not start" >&2; exit 1; }; sleep 0.05
done
avahi-daemon --no-drop-root --no-chroot --no-rlimits -f "$WORK/avahi-daemon.conf" &
children="$children $!"
wait
"""


class Avahi:
    """avahi-daemon with a private D-Bus system bus in the printers' namespace, and its clients
    (avahi-publish, ippeveprinter) run in the same network and mount namespaces."""

    def __init__(self, net: NetnsPair, host_name: str) -> None:
        self.net = net
        self.host_name = host_name
        self.workdir = net.workdir / f"avahi-{host_name}"
        self.daemon: asyncio.subprocess.Process | None = None
        self.log: list[str] = []
        """The daemons' output (dbus-daemon, avahi-daemon)."""
        self._drain: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "avahi-daemon.conf").write_text(_AVAHI_CONF.format(
            host_name=self.host_name, interface=self.net.printers_if))
        # ippeveprinter listens on its host name's first IPv4 and first IPv6 address and will
        # not start without both: the IPv6 one goes on lo (a "::1" line would make glibc answer
        # 127.0.0.1 for IPv4 too), so the veth keeps IPv4 only.
        ipv6 = f"fd00:213:{self.net.octet}::2"
        await self.net.run(self.net.printers, "ip", "addr", "add", f"{ipv6}/128", "dev", "lo",
                           "nodad")
        (self.workdir / "hosts").write_text(
            f"127.0.0.1 localhost\n{self.net.printer_ips[0]} {self.host_name}\n"
            f"{ipv6} {self.host_name}\n")
        self.daemon = await self.net.spawn(
            self.net.printers, "unshare", "-m", "--propagation", "private",
            "sh", "-c", _AVAHI_SCRIPT, env={"WORK": str(self.workdir)},
            stderr=subprocess.STDOUT)
        _line, self.log = await read_until(
            self.daemon, lambda line: "Server startup complete" in line, _START_TIMEOUT)
        self._drain = asyncio.create_task(self._keep_log(self.daemon))

    async def _keep_log(self, proc: asyncio.subprocess.Process) -> None:
        """Keep reading the daemon's output (a full pipe would stall it) for diagnostics."""
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            self.log.append(line.decode(errors="replace").rstrip("\n"))

    async def close(self) -> None:
        if self.daemon is not None:
            await self.net.stop(self.daemon)
            self.daemon = None
        if self._drain is not None:
            self._drain.cancel()
            await asyncio.gather(self._drain, return_exceptions=True)
            self._drain = None

    async def __aenter__(self) -> Avahi:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def client(self, *cmd: str | bytes, stdout: int | None = subprocess.PIPE,
                     stderr: int | None = subprocess.STDOUT) -> asyncio.subprocess.Process:
        """Start `cmd` beside the daemon (same network and mount namespaces: same D-Bus)."""
        assert self.daemon is not None, "start() first"
        return await self.net.spawn(self.net.printers, *cmd,  # type: ignore[arg-type]
                                    enter=self.daemon.pid, stdout=stdout, stderr=stderr)

    async def publish(self, name: str, type_: str, port: int, txt: Sequence[str | bytes] = (),
                      subtypes: Sequence[str] = ()) -> asyncio.subprocess.Process:
        """`avahi-publish -s`; returns once avahi has established the service.  Stop the process
        (`net.stop`) to withdraw it.  `subtypes` are labels (`_universal`) or full subtypes."""
        cmd: list[str | bytes] = ["avahi-publish", "-s"]
        for sub in subtypes:
            cmd += ["--subtype", sub if "._sub." in sub else f"{sub}._sub.{type_}"]
        proc = await self.client(*cmd, name, type_, str(port), *txt)
        await read_until(proc, lambda line: "Established under name" in line, _START_TIMEOUT)
        return proc

    async def ippeveprinter(self, name: str, port: int, *args: str
                            ) -> asyncio.subprocess.Process:
        """CUPS's ippeveprinter serving IPP on port `port` of the printers' first address,
        registered through avahi (`args`: more ippeveprinter options, e.g. `-r _universal`)."""
        spool = self.workdir / f"spool-{port}"
        (spool / "keys").mkdir(parents=True, exist_ok=True)
        log = spool / "log"
        with log.open("wb") as out:
            proc = await self.client("ippeveprinter", "-p", str(port), "-n", self.host_name,
                                     "-K", str(spool / "keys"), "-d", str(spool), *args, name,
                                     stdout=out, stderr=subprocess.STDOUT)
        try:
            await self.net.wait_tcp(self.net.printers, self.net.printer_ips[0], port)
        except AssertionError:
            raise AssertionError(f"ippeveprinter {name} did not start: "
                                 f"{log.read_text(errors='replace')[-2000:]}") from None
        return proc
