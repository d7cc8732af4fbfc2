"""Read the devices of the inventory: the credentials and endpoints discovery recorded for them.

Discovery stores which SNMP version, port and v3 user answered, never the community itself (a
secret); the poller tries the configured communities of that version for the device's scope in
order and remembers, in memory, the one that answered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from gateway.config import Config
from gateway.inventory import Device
from gateway.model import DeviceStatus
from gateway.reader import DeviceReader, DeviceUnreachable, IppEndpoint
from protocols.snmp.client import SnmpCredentials, SnmpTarget

log = logging.getLogger(__name__)


class Poller:
    """Reads inventory devices with a concurrency limit; a device that answers nothing is None."""

    def __init__(self, config: Config, reader: DeviceReader, concurrency: int = 32) -> None:
        self.config = config
        self.reader = reader
        self._semaphore = asyncio.Semaphore(concurrency)
        self._working: dict[int, SnmpCredentials] = {}

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
            return None
        snmp = self.config.snmp
        candidates = self._snmp_candidates(device, address)
        async with self._semaphore:
            for credentials in candidates or [None]:
                target = None if credentials is None else SnmpTarget(
                    address, device.snmp_port or snmp.port, credentials, snmp.timeout,
                    snmp.retries)
                try:
                    status = await self.reader.read(address, target, self._ipp(device, address))
                except DeviceUnreachable as exc:
                    log.info("device %s at %s: %s", device.id, address, exc)
                    continue
                if credentials is not None and status.reachable.get("snmp"):
                    self._working[device.id] = credentials
                    return status
                if credentials is None or credentials is candidates[-1]:
                    return status
            self._working.pop(device.id, None)
            return None

    async def read_all(self, devices: Iterable[Device]) -> list[tuple[Device, DeviceStatus | None]]:
        devices = list(devices)
        statuses = await asyncio.gather(*(self.read(d) for d in devices))
        return list(zip(devices, statuses, strict=True))
