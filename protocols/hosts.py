"""Host checks shared by the protocol clients, the gateway's settings, the reference cloud and the
demo, without their imports (the settings must not load the cloud client to validate a URL)."""

from __future__ import annotations

import contextlib
import ipaddress
import socket


def is_loopback_host(host: str | None) -> bool:
    """`localhost`, 127.0.0.0/8 or ::1: where plain HTTP is allowed (tests, the demo).  `host` as
    a URL or a command line gives it: any case, an IPv6 address without brackets."""
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def free_port(*hosts: str, tcp: bool = True, udp: bool = False) -> int:
    """A port free for TCP and/or UDP on every IPv4 address in `hosts` (127.0.0.1 when none
    given): the kernel picks one on the first, the others must have it free too.  Another
    process may still take it before the caller binds it: callers that can, retry."""
    kinds = [kind for kind, wanted in ((socket.SOCK_STREAM, tcp), (socket.SOCK_DGRAM, udp))
             if wanted]
    if not kinds:
        raise ValueError("free_port needs tcp, udp or both")
    hosts = hosts or ("127.0.0.1",)
    wanted = [(host, kind) for host in hosts for kind in kinds]
    for _ in range(200):
        with contextlib.ExitStack() as held:
            port = 0
            try:
                for host, kind in wanted:
                    sock = held.enter_context(socket.socket(socket.AF_INET, kind))
                    sock.bind((host, port))
                    port = int(sock.getsockname()[1])
            except OSError:
                continue
            return port
    raise RuntimeError(f"no port free on all of {', '.join(hosts)}")
