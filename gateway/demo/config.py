"""The options of `printgw demo` and the files it writes: the gateway's config for the virtual
fleet and the reference cloud, and the secrets (operator and enrolment tokens) only this user may
read."""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DemoOptions:
    count: int = 10
    first_ip: str = "127.0.10.1"
    snmp_port: int = 10161
    ipp_port: int = 10631
    control_port: int = 0
    """The fleet's control API on 127.0.0.1 (0: a free port)."""
    cloud_port: int = 0
    """The reference cloud on 127.0.0.1 (0: a free port)."""
    status_port: int = 0
    """The gateway's status page on 127.0.0.1 (0: a free port)."""
    duration: float | None = None
    """Seconds to keep running once the fleet table is shown (None: until Ctrl-C or SIGTERM)."""
    interval: float = 5.0
    """The gateway's poll interval, seconds."""
    keep_data: Path | None = None
    """Keep the cloud's database, the gateway's data and the logs here (default: a temporary
    directory, removed on exit)."""
    timeout: float = 120.0
    """Seconds each start-up step may take (and, with `contract_change`, each step of the
    contract process)."""
    contract_change: bool = False
    """Once the fleet is shown, run a change of contract machine on two of its printers
    (`gateway.demo.contract_change`), then stop."""
    keep_running: bool = False
    """With `contract_change`: go on as the plain demo does after it (until Ctrl-C or the end of
    `duration`)."""

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError("--count must be at least 1")
        try:
            first = ipaddress.IPv4Address(self.first_ip)
        except ipaddress.AddressValueError:
            raise ValueError(f"--first-ip {self.first_ip!r} is not an IPv4 address") from None
        last = int(first) + self.count - 1
        if not first.is_loopback or not ipaddress.IPv4Address(last).is_loopback:
            raise ValueError(f"--first-ip and --count must keep the printers in 127.0.0.0/8 "
                             f"(loopback), got {first} + {self.count}")
        for name in ("snmp_port", "ipp_port", "control_port", "cloud_port", "status_port"):
            if not 0 <= getattr(self, name) <= 65535:
                raise ValueError(f"--{name.replace('_', '-')} must be a port number (0-65535)")
        if self.interval <= 0 or (self.duration is not None and self.duration < 0):
            raise ValueError("--interval must be positive and --duration not negative")
        if self.keep_running and not self.contract_change:
            raise ValueError("--keep-running goes with --contract-change")


def write_private(path: Path, text: str) -> None:
    """`text` in a new file `path` only this user can read (it holds a secret)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def sweep_networks(first_ip: str, count: int) -> list[ipaddress.IPv4Network]:
    """Networks whose SNMP sweep probes exactly `count` addresses from `first_ip`: the range's
    CIDR blocks, plus each block's own and broadcast address where the block has them (a sweep
    skips those, as it should on a real LAN)."""
    first = ipaddress.IPv4Address(first_ip)
    networks = []
    for network in ipaddress.summarize_address_range(first, first + count - 1):
        networks.append(network)
        if network.prefixlen < 31:
            networks += [ipaddress.IPv4Network(network.network_address),
                         ipaddress.IPv4Network(network.broadcast_address)]
    return networks


def write_config(data: Path, options: DemoOptions, cloud_url: str, status_port: int,
                 enrolment_token: str) -> Path:
    """The gateway's config for the demo's fleet and cloud, in `data` (the enrolment token in a
    file of its own)."""
    token_file = data / "enrolment-token"
    write_private(token_file, enrolment_token + "\n")
    subnets = sweep_networks(options.first_ip, options.count)
    interval = options.interval
    text = "\n".join([
        "# Written by `printgw demo`: the gateway of its virtual fleet and reference cloud.",
        "[gateway]",
        f"data_dir = {json.dumps(str(data / 'gateway'))}",
        'name = "printgw-demo"',
        'region = "jp"',
        "",
        "[snmp]",
        f"port = {options.snmp_port}",
        'communities = ["public"]',
        'timeout = "1s"',
        "",
        "[ipp]",
        f"port = {options.ipp_port}",
        'timeout = "3s"',
        "",
        "[discovery]  # an SNMP sweep of exactly the fleet's addresses",
        "mdns = false",
        "subnets = [" + ", ".join(f'{{ cidr = "{net}" }}' for net in subnets) + "]",
        "",
        "[cloud]",
        f'url = "{cloud_url}"',
        f"enrolment_token = {{ file = {json.dumps(str(token_file))} }}",
        'changes_poll_interval = "2s"',
        'timeout = "10s"',
        "",
        "[poll]",
        f'interval = "{interval:g}s"',
        'periodic_upload = "5m"',
        "",
        "[contract]",
        'write_community = "private"',
        'retry_initial = "1s"',
        'retry_max = "10s"',
        "",
        "[status_page]",
        "enabled = true",
        'host = "127.0.0.1"',
        f"port = {status_port}",
        ""])
    path = data / "gateway.toml"
    write_private(path, text)
    return path

