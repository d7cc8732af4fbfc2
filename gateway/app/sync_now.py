"""FIG. 7 now, as `printgw sync` asks it through the status page (`POST /api/sync`): for the
devices named (device ID or serial number) or every device the daemon reads, with the newest
reading of each, through `CloudLink.sync_each` (bounded like every sync)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from gateway.app.poll_loop import PollLoop
from gateway.fleet.inventory import Device
from gateway.local.sync_api import SyncedDevice, SyncRefused
from gateway.uplink.link import CloudLink

log = logging.getLogger(__name__)


def select(devices: dict[int, Device], selectors: Sequence[str]) -> list[Device]:
    """The devices `selectors` name (all when there is none); raises `SyncRefused` (404) for a
    selector that names none."""
    if not selectors:
        return sorted(devices.values(), key=lambda d: d.id)
    chosen: dict[int, Device] = {}
    for selector in selectors:
        text = selector.strip()
        found = [d for d in devices.values()
                 if str(d.id) == text or (d.serial or "").casefold() == text.casefold()]
        if not found:
            raise SyncRefused(404, f"no device {text[:80]!r} is read by this gateway "
                                   "(give a device ID or a serial number)")
        chosen.update((d.id, d) for d in found)
    return sorted(chosen.values(), key=lambda d: d.id)


async def sync_now(link: CloudLink | None, polling: PollLoop,
                   selectors: Sequence[str]) -> list[SyncedDevice]:
    """FIG. 7 for the selected devices now; what it did for each."""
    if link is None or not link.status.connected:
        raise SyncRefused(503, "the cloud link is not up" if link is not None
                          else "this gateway has no cloud link ([cloud] url)")
    devices = select(polling.devices, selectors)
    outcome: dict[int, bool | None] = {}
    for chunk in polling.intake.readings({d.id: d for d in devices}):  # decoded a chunk at a time
        outcome.update(await link.sync_each(chunk))
    log.info("cloud: FIG. 7 on request for %d device(s): %d synchronised", len(devices),
             sum(ok is True for ok in outcome.values()))
    return [_synced(link, device, outcome.get(device.id, "no-reading")) for device in devices]


def _synced(link: CloudLink, device: Device, ok: bool | str | None) -> SyncedDevice:
    printer_id = link.state.printer_id(device.id)
    if ok == "no-reading":
        result, detail = "no-reading", "not read yet since the daemon started"
    elif ok is None:
        result, detail = "busy", "being synchronised already"
    elif ok:
        result, detail = "synced", None
    else:
        result = "failed"
        detail = link.status.skipped.get(device.id) or link.status.last_error
    return SyncedDevice(device.id, device.serial, device.address, printer_id, result, detail)
