"""Host-name checks shared by the protocol clients and the gateway's settings, without their
imports (the settings must not load the cloud client to validate a URL)."""

from __future__ import annotations

import ipaddress


def is_loopback_host(host: str) -> bool:
    """`localhost`, 127.0.0.0/8 or ::1: where plain HTTP is allowed (tests, the demo)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
