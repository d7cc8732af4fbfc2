"""Read the devices of the inventory: the credentials and endpoints discovery recorded for them.

Discovery stores which SNMP version, port and v3 user answered, never the community itself (a
secret); the poller tries the configured communities of that version for the device's scope in
order and remembers, in memory, the one that answered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from gateway.device.model import DeviceStatus
from gateway.device.reader import DeviceReader, DeviceUnreachable, IppEndpoint
from gateway.fleet.inventory import Device
from gateway.settings.config import Config
from protocols.snmp.client import SnmpCredentials, SnmpTarget

if TYPE_CHECKING:
    from gateway.local.metrics import GatewayMetrics

log = logging.getLogger(__name__)


class Poller:
    """Reads inventory devices with a concurrency limit; a device that answers nothing is None."""

    def __init__(self, config: Config, reader: DeviceReader, concurrency: int = 32,
                 metrics: GatewayMetrics | None = None) -> None:
        self.config = config
        self.reader = reader
        self.metrics = metrics
        self.errors: dict[int, str] = {}
        """Devices whose last reading got no answer, and why (the status page shows them)."""
        self._concurrency = concurrency
        self._semaphore = asyncio.Semaphore(concurrency)
        self._working: dict[int, SnmpCredentials] = {}

    def reconfigure(self, config: Config) -> None:
        """New settings (a reload): the concurrency limit holds for the readings started from now
        on, and the credentials are tried afresh."""
        self.config = config
        self._concurrency = config.poll.concurrency
        self._semaphore = asyncio.Semaphore(self._concurrency)
        self._working.clear()

    def _snmp_candidates(self, device: Device, address: str) -> list[SnmpCredentials]:
        if device.snmp_version is None:
            return []
        known = self._working.get(device.id)
        if known is not None:
            return [known]
        tried = self.config.credentials(self.config.scope_for(address))
        if device.snmp_version == 3:
            return [c for c in tried if c.version == 3 and c.user == device.snmp_user] or [
                c for c in tried if c.version == 3]
        return [c for c in tried if c.version == device.snmp_version]

    def _ipp(self, device: Device, address: str) -> IppEndpoint:
        ipp = self.config.ipp
        uri = device.ipp_uri or IppEndpoint.for_host(address, ipp.port, ipp.path).uri
        return IppEndpoint(uri, ipp.verify_tls, ipp.timeout)

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
        snmp = self.config.snmp
        candidates = self._snmp_candidates(device, address)
        error = "no answer"
        for credentials in candidates or [None]:
            target = None if credentials is None else SnmpTarget(
                address, device.snmp_port or snmp.port, credentials, snmp.timeout, snmp.retries)
            try:
                status = await self.reader.read(address, target, self._ipp(device, address))
            except DeviceUnreachable as exc:
                log.info("device %s at %s: %s", device.id, address, exc)
                error = str(exc)
                continue
            if credentials is not None and status.reachable.get("snmp"):
                self._working[device.id] = credentials
                return status, None
            if credentials is None or credentials is candidates[-1]:
                return status, None
        self._working.pop(device.id, None)
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
