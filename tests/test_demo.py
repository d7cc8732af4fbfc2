"""`printgw demo`: starts the virtual fleet, reads every printer, stops, leaves nothing behind."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from tests.ports import free_port, free_udp_port


def test_demo_reads_the_fleet_and_cleans_up() -> None:
    control = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "demo", "--count", "4", "--first-ip", "127.0.30.1",
         "--snmp-port", str(free_udp_port()), "--ipp-port", str(free_port()),
         "--control-port", str(control), "--duration", "2", "--interval", "1"],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0, result.stderr + result.stdout
    assert "4 of 4 printers read" in result.stdout
    for address in ("127.0.30.1", "127.0.30.4"):
        assert address in result.stdout
    assert "Virtual fleet stopped." in result.stdout
    with socket.socket() as sock:  # the fleet's control API is gone
        assert sock.connect_ex(("127.0.0.1", control)) != 0
