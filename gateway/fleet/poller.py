"""Read the devices of the inventory: the credentials and endpoints discovery recorded for them.

Which SNMP credentials to try, and the memory of the ones that answered, is the
`CredentialResolver`'s (shared with the command relay).  One reading of a device, every
credential tried, ends by `[poll] read_deadline`: a device that answers slowly or endlessly never
holds a place of the concurrency limit for longer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from gateway.device.model import DeviceStatus
from gateway.device.reader import DeviceReader, DeviceUnreachable, IppEndpoint
from gateway.fleet.credentials import CredentialResolver
from gateway.fleet.inventory import Device
from gateway.settings.discovery import IppSettings
from protocols.snmp.model import SnmpTarget

log = logging.getLogger(__name__)


def default_ipp_uri(ipp: IppSettings, address: str) -> str:
    """The URI tried on a device whose IPP URI no one announced (`[ipp] port` and `path`)."""
    return IppEndpoint.for_host(address, ipp.port, ipp.path).uri


def ipp_endpoint(ipp: IppSettings, uri: str) -> IppEndpoint | None:
    """The IPP endpoint read at `uri` with `[ipp]`'s bounds; None when `[ipp] enabled` is
    false (SNMP only)."""
    if not ipp.enabled:
        return None
    return IppEndpoint(uri, ipp.verify_tls, ipp.timeout, ipp.max_response_bytes)


class PollMetrics(Protocol):
    """What the poller counts (the daemon's `GatewayMetrics`)."""

    def polled(self, seconds: float, answered: bool) -> None: ...

    def no_address(self) -> None: ...


class Poller:
    """Reads inventory devices with a concurrency limit; a device that answers nothing is None."""

    def __init__(self, ipp: Callable[[], IppSettings], reader: DeviceReader,
                 credentials: CredentialResolver, concurrency: int = 32,
                 metrics: PollMetrics | None = None,
                 read_deadline: Callable[[], float] | None = None) -> None:
        self.ipp = ipp
        self.reader = reader
        self.read_deadline = read_deadline or (lambda: reader.read_deadline)
        """Seconds one reading of a device may take (`[poll] read_deadline`)."""
        self.credentials = credentials
        self.metrics = metrics
        self.errors: dict[int, str] = {}
        """Devices whose last reading got no answer, and why (the status page shows them)."""
        self._concurrency = concurrency
        self._semaphore = asyncio.Semaphore(concurrency)

    def limit(self, concurrency: int) -> None:
        """A new concurrency limit (a reload): it holds for the readings started from now on."""
        self._concurrency = concurrency
        self._semaphore = asyncio.Semaphore(concurrency)

    def _ipp(self, device: Device, address: str) -> IppEndpoint | None:
        ipp = self.ipp()
        return ipp_endpoint(ipp, device.ipp_uri or default_ipp_uri(ipp, address))

    async def read(self, device: Device) -> DeviceStatus | None:
        """One reading of `device` at its current address, or None when it does not answer."""
        address = device.address
        if address is None:
            self.errors[device.id] = "no current address"
            if self.metrics is not None:
                self.metrics.no_address()
            return None
        async with self._semaphore:
            started = time.monotonic()
            status, error = await self._read(device, address)
            if self.metrics is not None:
                self.metrics.polled(time.monotonic() - started, answered=status is not None)
        if error is None:
            self.errors.pop(device.id, None)
        else:
            self.errors[device.id] = error
        return status

    async def _read(self, device: Device, address: str) -> tuple[DeviceStatus | None, str | None]:
        """(the reading, None) or (None, why there is none)."""
        targets: list[SnmpTarget | None] = list(self.credentials.read_targets(device, address))
        ipp = self._ipp(device, address)
        if not targets and ipp is None:
            return None, "no SNMP credentials to try and IPP is off ([ipp] enabled = false)"
        error = "no answer"
        seconds = self.read_deadline()
        deadline = self.reader.deadline(seconds)
        for target in targets or [None]:
            if asyncio.get_running_loop().time() >= deadline:
                error = (f"{error}; no time left to try other credentials (read_deadline "
                         f"{seconds:g} s)")
                break
            try:
                status = await self.reader.read(address, target, ipp, deadline)
            except DeviceUnreachable as exc:
                log.info("device %s at %s: %s", device.id, address, exc)
                error = str(exc)
                continue
            if target is not None and status.reachable.get("snmp"):
                self.credentials.answered(device, target)
                return status, None
            if target is None or target is targets[-1]:
                return status, None
        self.credentials.forget(device)
        return None, error

    async def read_each(self, devices: Iterable[Device],
                        take: Callable[[Device, DeviceStatus | None], None]) -> None:
        """Read `devices`, handing each reading to `take` as it arrives (in completion order).

        As many workers as the concurrency limit pull the devices in turn, so a cycle holds only
        the readings under way, not one task and one result per device until the last answers.
        """
        pending = iter(devices)

        async def worker() -> None:
            for device in pending:
                take(device, await self.read(device))

        await asyncio.gather(*(worker() for _ in range(self._concurrency)))
