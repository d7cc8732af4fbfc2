"""The newest reading of each device, kept compact in memory.

The daemon keeps one reading per device for what needs a whole `DeviceStatus` rarely: the FIG. 7
sync (at start-up, every `sync_interval`, for a device that answers again), FIG. 10's judgement
and the registration of a new device.  As objects those readings were about 8 KB a printer, most
of the gateway's memory per printer at 10,000 printers; kept as their `to_json()` document,
marshalled and compressed once, they are 1-2 KB, and decoded only when one is asked for (about
100 µs, at a sync).

`marshal`, not JSON: the document is ours, made in this process and never stored or read from
outside it, and `marshal` encodes it several times faster.
"""

from __future__ import annotations

import marshal
import zlib
from collections.abc import Iterator, MutableMapping

from gateway.device.model import DeviceStatus

LEVEL = 1
"""zlib's fastest level: a document compresses to about a third, in about 30 µs."""


def pack(status: DeviceStatus) -> bytes:
    """The reading as the compact bytes it is kept as."""
    return zlib.compress(marshal.dumps(status.to_json()), LEVEL)


def unpack(packed: bytes) -> DeviceStatus:
    """The reading `pack` made the bytes of: equal to the one packed."""
    return DeviceStatus.from_json(marshal.loads(zlib.decompress(packed)))


class LatestReadings(MutableMapping[int, DeviceStatus]):
    """Device row → its newest reading, each kept packed; a reading taken out is a new object
    equal to the one put in (changing it changes nothing here)."""

    def __init__(self) -> None:
        self._packed: dict[int, bytes] = {}

    def __getitem__(self, device_id: int) -> DeviceStatus:
        return unpack(self._packed[device_id])

    def __setitem__(self, device_id: int, status: DeviceStatus) -> None:
        self._packed[device_id] = pack(status)

    def __delitem__(self, device_id: int) -> None:
        del self._packed[device_id]

    def __contains__(self, device_id: object) -> bool:
        return device_id in self._packed

    def __iter__(self) -> Iterator[int]:
        return iter(list(self._packed))

    def __len__(self) -> int:
        return len(self._packed)
