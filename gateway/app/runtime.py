"""The daemon seen through `GatewayRuntime` (`gateway/local/runtime.py`): the answers its local
views may have, and nothing else of it."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping

from gateway.fleet.poller import Poller
from gateway.fleet.schedule import Outcome, Schedule
from gateway.settings.live import LiveConfig
from gateway.settings.schema import Config
from gateway.uplink.link import CloudLink, LinkState


class DaemonRuntime:
    def __init__(self, live: LiveConfig, poller: Poller, schedule: Schedule,
                 link: CloudLink | None) -> None:
        self._live = live
        self._poller = poller
        self._schedule = schedule
        self._link = link

    def config(self) -> Config:
        return self._live()

    def poll_errors(self) -> Mapping[int, str]:
        return dict(self._poller.errors)

    def last_outcome(self, device_id: int) -> Outcome | None:
        slot = self._schedule.slots.get(device_id)
        return None if slot is None else slot.outcome

    def next_reading_in(self, device_id: int) -> float | None:
        slot = self._schedule.slots.get(device_id)
        if slot is None or slot.reading:
            return None
        return max(0.0, slot.due - time.monotonic())

    def link_state(self) -> LinkState | None:
        link = self._link
        return None if link is None else dataclasses.replace(
            link.status, skipped=dict(link.status.skipped))
