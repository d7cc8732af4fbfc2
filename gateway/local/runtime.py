"""What a running daemon tells its local views (the status page, `/metrics`, `/api/status`):
a narrow, read-only interface, so that nothing local reaches into the daemon's parts.  Without a
daemon (`printgw status` reading the store) there is none."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from gateway.fleet.schedule import Outcome
from gateway.settings.schema import Config
from gateway.uplink.link import LinkState


class GatewayRuntime(Protocol):
    def config(self) -> Config:
        """The config in force (a reload replaces it)."""
        ...

    def poll_errors(self) -> Mapping[int, str]:
        """Devices whose last reading got no answer, and why."""
        ...

    def last_outcome(self, device_id: int) -> Outcome | None:
        """How the device's last reading went (None before the first)."""
        ...

    def next_reading_in(self, device_id: int) -> float | None:
        """Seconds until the device's next reading; None while one is under way or unknown."""
        ...

    def link_state(self) -> LinkState | None:
        """A copy of the cloud link's state; None without a cloud link."""
        ...
