"""Read one printer over SNMP and IPP together into one `DeviceStatus`.

Both protocols are asked at once; SNMP is applied first (its values win), IPP fills the gaps.
A device that answers neither raises `DeviceUnreachable`; one that answers only one of them still
gives a status, with the other protocol's failure in `problems`.

Every reading has a deadline (`[poll] read_deadline`, `READ_DEADLINE` by default): SNMP walks
still under way shortly before it stop there (each a problem; the values read elsewhere are kept),
and whatever of either protocol is still unanswered at the deadline is abandoned and reported.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from gateway.device.ipp_mapping import apply_ipp
from gateway.device.model import DeviceStatus
from gateway.device.snmp_mapping import apply_snmp
from protocols.ipp.client import get_printer_attributes
from protocols.ipp.connections import IppConnections, PoolLimits
from protocols.ipp.model import DEFAULT_MAX_RESPONSE_BYTES, IppError, IppReading
from protocols.snmp.client import SnmpClient
from protocols.snmp.model import SnmpError, SnmpTarget
from protocols.snmp.printer import PrinterReading, read_printer

T = TypeVar("T")
U = TypeVar("U")


READ_DEADLINE = 30.0
"""Seconds one reading of one device may take by default (`[poll] read_deadline`)."""
WALK_MARGIN = 0.1
"""SNMP walks stop this share of the reading's time before its deadline (at most 2 s before), so
that what the other walks read is still used."""


class DeviceUnreachable(Exception):
    """Neither SNMP nor IPP answered."""


class ReadDeadline(Exception):
    """A protocol's part of a reading did not finish by the reading's deadline."""


@dataclass(frozen=True)
class IppEndpoint:
    uri: str
    verify_tls: bool = False
    timeout: float = 5.0
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    """A larger answer is cut off there: a problem of the reading (`[ipp] max_response_bytes`)."""

    @classmethod
    def for_host(cls, host: str, port: int = 631, path: str = "/ipp/print", tls: bool = False,
                 verify_tls: bool = False, timeout: float = 5.0) -> IppEndpoint:
        scheme = "ipps" if tls else "ipp"
        address = f"[{host}]" if ":" in host else host
        return cls(f"{scheme}://{address}:{port}/{path.lstrip('/')}", verify_tls, timeout)


class DeviceReader:
    """Reads devices; owns the SNMP engine (one per process) and the IPP connection pool
    (`protocols.ipp.connections`, bounded by `ipp_limits`); `close()` closes what it owns.

    `read_deadline`: seconds a reading may take when its caller gives no deadline.
    """

    def __init__(self, snmp_client: SnmpClient | None = None,
                 read_deadline: float = READ_DEADLINE,
                 ipp_limits: PoolLimits | None = None) -> None:
        self._snmp = snmp_client
        self._own_snmp = snmp_client is None
        self.ipp_connections = IppConnections(ipp_limits)
        self.read_deadline = read_deadline

    @property
    def snmp(self) -> SnmpClient:
        if self._snmp is None:
            self._snmp = SnmpClient()
        return self._snmp

    async def close(self) -> None:
        if self._own_snmp and self._snmp is not None:
            await self._snmp.aclose()
            self._snmp = None
        await self.ipp_connections.close()

    async def __aenter__(self) -> DeviceReader:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    def deadline(self, seconds: float | None = None) -> float:
        """The event loop's time `seconds` (default `read_deadline`) from now: a deadline for
        `read`, to share between several readings of one device."""
        return asyncio.get_running_loop().time() + (
            self.read_deadline if seconds is None else seconds)

    async def read(self, host: str, snmp: SnmpTarget | None, ipp: IppEndpoint | None,
                   deadline: float | None = None) -> DeviceStatus:
        """One reading, over SNMP and IPP at once, done by `deadline` (the event loop's clock;
        default: `read_deadline` seconds from now).  Raises `DeviceUnreachable` when neither
        protocol gave an answer by then."""
        if snmp is None and ipp is None:
            raise ValueError("nothing to read: both SNMP and IPP are off")
        loop = asyncio.get_running_loop()
        if deadline is None:
            deadline = self.deadline()
        left = max(0.0, deadline - loop.time())
        walks_end = deadline - min(2.0, left * WALK_MARGIN)
        snmp_result, ipp_result = await _both(
            _bounded(self._read_snmp(snmp, walks_end), deadline, "SNMP") if snmp else None,
            _bounded(self._read_ipp(ipp), deadline, "IPP") if ipp else None)

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

    async def _read_snmp(self, target: SnmpTarget,
                         walks_end: float) -> PrinterReading | SnmpError:
        try:
            return await read_printer(self.snmp, target, walks_end)
        except SnmpError as exc:
            return exc

    async def _read_ipp(self, endpoint: IppEndpoint) -> IppReading | IppError:
        try:
            return await get_printer_attributes(endpoint.uri, verify_tls=endpoint.verify_tls,
                                                timeout=endpoint.timeout,
                                                connections=self.ipp_connections,
                                                max_response_bytes=endpoint.max_response_bytes)
        except IppError as exc:
            return exc


async def _both(first: Coroutine[Any, Any, T] | None,
                second: Coroutine[Any, Any, U] | None) -> tuple[T | None, U | None]:
    """Both results, the two run at once; `second` in a task of its own only when there is a
    `first` to await meanwhile (a task per protocol and a gather cost more than the reading's
    own bookkeeping).  Cancelled, it cancels `second`'s task."""
    if first is None or second is None:
        return (await first if first is not None else None,
                await second if second is not None else None)
    other = asyncio.ensure_future(second)
    try:
        result = await first
    except BaseException:
        other.cancel()
        raise
    return result, await other


async def _bounded(read: Coroutine[Any, Any, T], deadline: float,
                   protocol: str) -> T | ReadDeadline:
    """`read`'s result, or `ReadDeadline` when it is not done by `deadline` (it is cancelled)."""
    try:
        async with asyncio.timeout_at(deadline):
            return await read
    except TimeoutError:
        return ReadDeadline(f"no complete {protocol} answer by the reading's deadline")
