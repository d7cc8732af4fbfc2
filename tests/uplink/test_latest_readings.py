"""The newest reading of each device kept compact (`gateway.uplink.latest`, issue 20): every real
printer's reading comes back equal to the one kept, in a fraction of the memory the objects took,
and the daemon keeps one copy of it for the intake and the cloud link together."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

from gateway.app.intake import ReadingIntake
from gateway.device.model import DeviceStatus, Identity, Supply
from gateway.device.reader import DeviceReader
from gateway.fleet.inventory import Inventory
from gateway.settings.loading import parse_config
from gateway.store import Store
from gateway.uplink.cloud_state import CloudState
from gateway.uplink.latest import LatestReadings, pack
from gateway.uplink.link import CloudLink
from gateway.uplink.outbox import Outbox
from gateway.uplink.pipeline import UploadPipeline
from gateway.uplink.services import ServiceSettings
from protocols.snmp.model import SnmpCredentials, SnmpTarget
from tests.support.paths import SNMP_FIXTURES


def deep_size(value: object, seen: set[int] | None = None) -> int:
    """Bytes an object graph takes (objects, their `__dict__`s and containers)."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    size = sys.getsizeof(value)
    if isinstance(value, dict):
        size += sum(deep_size(k, seen) + deep_size(v, seen) for k, v in value.items())
    elif isinstance(value, list | tuple | set | frozenset):
        size += sum(deep_size(item, seen) for item in value)
    elif hasattr(value, "__dict__"):
        size += deep_size(vars(value), seen)
    return size


async def test_every_real_printers_reading_comes_back_equal_and_smaller(
        recorded_printers: tuple[str, int]) -> None:
    host, port = recorded_printers
    names = sorted(path.stem for path in SNMP_FIXTURES.glob("*.snmprec"))
    latest = LatestReadings()
    async with DeviceReader() as reader:
        statuses = await asyncio.gather(*(reader.read(host, SnmpTarget(host, port, SnmpCredentials(
            version=2, community=name)), None) for name in names))
    for device_id, (name, status) in enumerate(zip(names, statuses, strict=True)):
        assert status.identity.model, name
        latest[device_id] = status
        assert latest[device_id] == status, name
        assert latest[device_id] is not status
        assert len(pack(status)) * 3 < deep_size(status), name
    assert len(latest) == len(names) and set(latest) == set(range(len(names)))


def test_a_reading_taken_out_is_a_copy() -> None:
    latest = LatestReadings()
    status = DeviceStatus(host="192.0.2.1", read_at=datetime(2026, 1, 1, tzinfo=UTC),
                          identity=Identity(serial="SN-1"),
                          supplies=[Supply(index="1.1", kind="toner", level_percent=50)])
    latest[7] = status
    status.supplies[0].level_percent = 10
    copy = latest[7]
    copy.identity.serial = "changed"
    assert latest[7].supplies[0].level_percent == 50
    assert latest[7].identity.serial == "SN-1"
    assert latest.get(8) is None and 8 not in latest
    del latest[7]
    assert len(latest) == 0


def test_the_intake_and_the_cloud_link_keep_one_copy(tmp_path: Path) -> None:
    config = parse_config({"gateway": {"region": "jp"},
                           "cloud": {"url": "https://cloud.example.invalid"}})
    with Store.in_directory(tmp_path) as store:
        state = CloudState(store)
        link = CloudLink(lambda: config.gateway, lambda: config.cloud, state, Inventory(store),
                         ServiceSettings.from_config(config))
        pipeline = UploadPipeline(lambda: config.events, lambda: config.poll, state,
                                  Outbox(store))
        intake = ReadingIntake(pipeline, state, link, asyncio.Event())
        assert intake.latest is link.statuses
        assert ReadingIntake(pipeline, state, None, asyncio.Event()).latest is not link.statuses
