"""Many virtual printers in one process: addresses, lifecycle (start/stop), lookup, actions."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import random
import resource
import socket
from dataclasses import dataclass, field
from pathlib import Path

from simulator import ber
from simulator.identity import PrinterKey
from simulator.ipp_server import IppServer
from simulator.printer import VirtualPrinter
from simulator.profiles import get_profile
from simulator.snmp_agent import AgentConfig, SnmpAgent
from simulator.snmp_v3 import V3Responder, V3User


@dataclass
class FleetConfig:
    count: int = 1
    first_ip: str = "127.0.10.1"
    snmp_port: int = 161
    ipp_port: int = 631
    profiles: list[str] = field(default_factory=lambda: ["color-mfp"])
    """Profiles assigned round-robin (a mix): built-in keys or `.snmprec` paths."""
    seed: int = 0
    read_community: str = "public"
    write_community: str = "private"
    v3_users: list[V3User] = field(default_factory=list)
    """When set, every printer answers SNMPv3 and accepts SETs only over v3 authPriv."""
    sleep_delay: float = 0.8
    contract_root: str = "1.3.6.1.4.1.32473.1"
    max_message_size: int = 65000
    ipp: bool = True
    identity_first_ip: str | None = None
    """The printers take their serial, UUID and MAC from the addresses from this one on instead
    of their own (`simulator.identity`): the same printers moved elsewhere (DHCP)."""


def in_private_netns() -> bool:
    """True inside a network namespace other than the initial one (`ip netns exec`): there the
    interfaces are a test's own, not the machine's.

    The initial namespace is PID 1's or, where PID 1's cannot be read (some sandboxes), that of
    the kernel thread kthreadd (PID 2), which always lives in it.  Neither readable: assume
    initial.
    """
    try:
        own = os.stat("/proc/self/ns/net")
    except OSError:
        return False
    for pid, comm in (("1", None), ("2", "kthreadd")):
        try:
            if comm is not None and Path(f"/proc/{pid}/comm").read_text().strip() != comm:
                continue
            init = os.stat(f"/proc/{pid}/ns/net")
        except OSError:
            continue
        return (own.st_dev, own.st_ino) != (init.st_dev, init.st_ino)
    return False


def addresses(first_ip: str, count: int, serve: bool = True) -> list[str]:
    """`count` addresses from `first_ip`, skipping .0 and .255 host octets.

    To `serve` on: loopback (127.0.0.0/8) anywhere; other unicast addresses only inside a network
    namespace of their own (see `in_private_netns`), so that virtual printers never appear on a
    real network.  Addresses only named (`serve=False`: identities) may be any unicast ones.
    """
    ip = ipaddress.IPv4Address(first_ip)
    net = ipaddress.IPv4Network("127.0.0.0/8")
    loopback = ip in net
    if serve and not loopback and not in_private_netns():
        raise ValueError(f"printers on {first_ip}: only loopback addresses (127.0.0.0/8) here; "
                         "other addresses only inside a network namespace (ip netns exec NS ...)")
    out = []
    while len(out) < count:
        if loopback and ip not in net:
            raise ValueError(f"{count} printers from {first_ip} leave 127.0.0.0/8")
        if not loopback and (ip.is_loopback or ip.is_multicast or ip.is_reserved):
            raise ValueError(f"{count} printers from {first_ip} reach {ip}, not a unicast address")
        if ip.packed[3] not in (0, 255):
            out.append(str(ip))
        ip += 1
    return out


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        new = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


class Fleet:
    """Start, look up, drive and stop a fleet of virtual printers."""

    def __init__(self, config: FleetConfig) -> None:
        if config.count < 1:
            raise ValueError("count must be at least 1")
        self.config = config
        self.agent = SnmpAgent(AgentConfig(
            read_community=config.read_community.encode(),
            write_community=config.write_community.encode(),
            max_message_size=config.max_message_size, sleep_delay=config.sleep_delay,
            contract_root=ber.parse_oid(config.contract_root)))
        self.ipp = IppServer(sleep_delay=config.sleep_delay) if config.ipp else None
        self.printers: list[VirtualPrinter] = []
        self._by_key: dict[str, VirtualPrinter] = {}
        rng = random.Random(config.seed)
        profiles = [get_profile(p) for p in config.profiles]
        ips = addresses(config.first_ip, config.count)
        named = (addresses(config.identity_first_ip, config.count, serve=False)
                 if config.identity_first_ip else ips)
        for i, (ip, identity_ip) in enumerate(zip(ips, named, strict=True)):
            profile = profiles[i % len(profiles)]
            state = profile.make_state(i + 1, rng, PrinterKey(config.seed, identity_ip))
            printer = VirtualPrinter(state, profile, ip, config.snmp_port, config.ipp_port,
                                     self.agent.config.contract_root,
                                     v3_enabled=bool(config.v3_users))
            self.printers.append(printer)
            for key in (state.name, state.serial, ip):
                self._by_key[key] = printer
        self.started = False

    async def start(self) -> None:
        raise_fd_limit(3 * len(self.printers) + 256)
        loop = asyncio.get_running_loop()
        if self.config.v3_users:
            self.agent.v3 = V3Responder(self.agent.process_pdu, self.config.v3_users)
        try:
            for p in self.printers:
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
                sock.bind((p.ip, p.snmp_port))
                sock.setblocking(False)
                transport, _ = await loop.create_datagram_endpoint(
                    lambda p=p: self.agent.endpoint(p), sock=sock)
                p.transport = transport  # type: ignore[assignment]
            if self.ipp is not None:
                await self.ipp.setup()
                for p in self.printers:
                    await self.ipp.add(p)
        except BaseException:
            await self.stop()
            raise
        self.started = True

    async def stop(self) -> None:
        for p in self.printers:
            if p.transport is not None:
                p.transport.close()
                p.transport = None
        if self.ipp is not None:
            await self.ipp.close()
        self.started = False

    async def __aenter__(self) -> Fleet:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- lookup and actions ----------------------------------------------------------------------

    def get(self, key: str) -> VirtualPrinter:
        """A printer by name, serial, IP address or position (0-based)."""
        p = self._by_key.get(key)
        if p is None and key.isdigit() and int(key) < len(self.printers):
            p = self.printers[int(key)]
        if p is None:
            raise KeyError(key)
        return p

    async def set_unreachable(self, printer: VirtualPrinter, value: bool) -> None:
        printer.state.set_unreachable(value)
        if self.ipp is not None:
            if value:
                await self.ipp.stop_site(printer)
            else:
                await self.ipp.start_site(printer)

