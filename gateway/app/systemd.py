"""systemd's notify protocol (`Type=notify`): READY, RELOADING, STOPPING."""

from __future__ import annotations

import contextlib
import os
import socket


def sd_notify(message: str) -> None:
    """Tell systemd about the daemon's state; nothing without `$NOTIFY_SOCKET`."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(message.encode(), address)
