"""Read one printer over SNMP and IPP together into one `DeviceStatus`.

Both protocols are asked at once; SNMP is applied first (its values win), IPP fills the gaps.
A device that answers neither raises `DeviceUnreachable`; one that answers only one of them still
gives a status, with the other protocol's failure in `problems`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp

from gateway.device.ipp_mapping import apply_ipp
from gateway.device.model import DeviceStatus
from gateway.device.snmp_mapping import apply_snmp
from protocols.ipp.client import get_printer_attributes
from protocols.ipp.model import IppError, IppReading
from protocols.snmp.client import SnmpClient
from protocols.snmp.model import SnmpError, SnmpTarget
from protocols.snmp.printer import PrinterReading, read_printer


class DeviceUnreachable(Exception):
    """Neither SNMP nor IPP answered."""


@dataclass(frozen=True)
class IppEndpoint:
    uri: str
    verify_tls: bool = False
    timeout: float = 5.0

    @classmethod
    def for_host(cls, host: str, port: int = 631, path: str = "/ipp/print", tls: bool = False,
                 verify_tls: bool = False, timeout: float = 5.0) -> IppEndpoint:
        scheme = "ipps" if tls else "ipp"
        address = f"[{host}]" if ":" in host else host
        return cls(f"{scheme}://{address}:{port}/{path.lstrip('/')}", verify_tls, timeout)


class DeviceReader:
    """Reads devices; owns the SNMP engine (one per process) and shares an HTTP session."""

    def __init__(self, snmp_client: SnmpClient | None = None,
                 session: aiohttp.ClientSession | None = None) -> None:
        self._snmp = snmp_client
        self._own_snmp = snmp_client is None
        self._session = session

    @property
    def snmp(self) -> SnmpClient:
        if self._snmp is None:
            self._snmp = SnmpClient()
        return self._snmp

    async def close(self) -> None:
        if self._own_snmp and self._snmp is not None:
            await self._snmp.aclose()
            self._snmp = None

    async def __aenter__(self) -> DeviceReader:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def read(self, host: str, snmp: SnmpTarget | None,
                   ipp: IppEndpoint | None) -> DeviceStatus:
        if snmp is None and ipp is None:
            raise ValueError("nothing to read: both SNMP and IPP are off")
        snmp_task = self._read_snmp(snmp) if snmp else _nothing()
        ipp_task = self._read_ipp(ipp) if ipp else _nothing()
        snmp_result, ipp_result = await asyncio.gather(snmp_task, ipp_task)

        status = DeviceStatus(host=host)
        failures = []
        if isinstance(snmp_result, PrinterReading):
            apply_snmp(status, snmp_result)
        elif isinstance(snmp_result, Exception):
            status.reachable["snmp"] = False
            failures.append(f"SNMP: {snmp_result}")
        if isinstance(ipp_result, IppReading):
            apply_ipp(status, ipp_result)
        elif isinstance(ipp_result, Exception):
            status.reachable["ipp"] = False
            failures.append(f"IPP: {ipp_result}")
        if not any(status.reachable.values()):
            raise DeviceUnreachable(f"{host} does not answer ({'; '.join(failures)})")
        for failure in failures:
            protocol, _, message = failure.partition(": ")
            status.problem(protocol.lower(), "read", message)
        return status

    async def _read_snmp(self, target: SnmpTarget) -> PrinterReading | SnmpError:
        try:
            return await read_printer(self.snmp, target)
        except SnmpError as exc:
            return exc

    async def _read_ipp(self, endpoint: IppEndpoint) -> IppReading | IppError:
        try:
            return await get_printer_attributes(endpoint.uri, verify_tls=endpoint.verify_tls,
                                                timeout=endpoint.timeout, session=self._session)
        except IppError as exc:
            return exc


async def _nothing() -> None:
    return None
