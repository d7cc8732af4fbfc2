"""`printgw run`: the composition root.  `Gateway` builds the daemon's parts, starts them and
closes them, each with its own job:

- `DiscoveryLoop` (`discovery_loop.py`): discovery at the start and every `discovery.interval`;
- `PollLoop` (`poll_loop.py`): every device read on its own schedule; each reading taken in by
  `ReadingIntake` (`intake.py`: register a new device, queue what the reading causes);
- `CloudUplink` (`cloud_loop.py`): the cloud link, the outbox sender, the change stream and the
  command relay;
- `Cycle` (`cycle.py`): one full cycle, for `printgw run --once`;
- `Shutdown` (`shutdown.py`) and `reload` (`reload.py`): stopping without losing anything, and
  SIGHUP through `LiveConfig`, the one path by which every part gets its settings.
"""

from __future__ import annotations

import asyncio
import time
from functools import partial
from pathlib import Path

from gateway.alerts.service import LocalAlerts
from gateway.app.cloud_loop import CloudUplink
from gateway.app.cycle import Cycle, CycleReport
from gateway.app.discovery_loop import DiscoveryLoop
from gateway.app.intake import ReadingIntake
from gateway.app.poll_loop import PollLoop
from gateway.app.reload import apply, reload
from gateway.app.runtime import DaemonRuntime
from gateway.app.shutdown import Shutdown
from gateway.app.sync_now import sync_now
from gateway.commands.relay import CommandRelay
from gateway.commands.service_enable import ServiceEnabler
from gateway.device.reader import DeviceReader
from gateway.fleet.credentials import CredentialResolver
from gateway.fleet.inventory import Inventory
from gateway.fleet.poller import Poller
from gateway.fleet.schedule import Schedule
from gateway.local import logs
from gateway.local.local_servers import LocalServers
from gateway.local.metrics import GatewayMetrics
from gateway.settings.discovery import DiscoverySettings
from gateway.settings.live import LiveConfig
from gateway.settings.schema import Config
from gateway.store import Store
from gateway.uplink.cloud_state import CloudState
from gateway.uplink.enable_overrides import EnableOverrides
from gateway.uplink.link import CloudLink
from gateway.uplink.outbox import Outbox
from gateway.uplink.pipeline import UploadPipeline
from gateway.uplink.rejudge import ServiceRejudge
from gateway.uplink.services import ServiceSettings

REDISCOVER = ("snmp", *(f"discovery.{key}" for key in DiscoverySettings.model_fields
                        if key != "interval"))
"""Settings whose change makes the daemon discover again at once."""


class Gateway:
    """The daemon's parts, opened together and closed together."""

    def __init__(self, config: Config, data_dir: Path | None = None) -> None:
        self.live = live = LiveConfig(config)
        self.store = Store.in_directory(data_dir or config.gateway.data_dir)
        self.inventory = Inventory(self.store)
        self.state = CloudState(self.store)
        logs.protect(self.state.get("token"))
        self.outbox = Outbox(self.store, max_entries=config.cloud.outbox_max_entries)
        self.metrics = GatewayMetrics()
        self.reader = DeviceReader()
        self.credentials = CredentialResolver(live)
        self.poller = Poller(live.section(lambda c: c.ipp), self.reader, self.credentials,
                             config.poll.concurrency, self.metrics,
                             live.section(lambda c: c.poll.read_deadline))
        self.schedule = Schedule(config.poll)
        self.link = (CloudLink(live.section(lambda c: c.gateway), live.section(lambda c: c.cloud),
                               self.state, self.inventory, ServiceSettings.from_config(config))
                     if config.cloud.url is not None else None)
        self.relay: CommandRelay | None = None
        if self.link is not None:  # contract commands only when [contract] enabled
            link, reader = self.link, self.reader
            enabler = ServiceEnabler(EnableOverrides(self.store), lambda: link.services, link)
            self.relay = CommandRelay(live.section(lambda c: c.contract), self.state,
                                      self.inventory, self.credentials, lambda: link.client,
                                      lambda: reader.snmp, enabler=enabler)
            link.on_command = self.relay.handle
        self.uplink = (None if self.link is None else
                       CloudUplink(live, self.link, self.state, self.outbox, self.store,
                                   self.metrics, self.relay))
        self.alerts = LocalAlerts(live, self.store)  # every reading, registered or not
        pipeline = UploadPipeline(live.section(lambda c: c.events), live.section(lambda c: c.poll),
                                  self.state, self.outbox, on_recorded=self.alerts.source.reading)
        if self.link is not None:  # FIG. 10 again at a reading that changes its inputs
            pipeline.on_reading = ServiceRejudge(self.link)
        wake_sender = asyncio.Event() if self.uplink is None else self.uplink.wake_sender
        self.intake = ReadingIntake(pipeline, self.state, self.link, wake_sender)
        self.polling = PollLoop(live, self.inventory, self.poller, self.schedule, self.intake,
                                self.link, self.alerts.source.unreachable)
        if self.link is not None:  # a service became active: its data now, not at the schedule
            self.link.on_due = self.polling.read_now
        self.discovery = DiscoveryLoop(live, self.inventory, self.reader,
                                       self.polling.devices_changed, self.polling.take)
        self.cycle_runner = Cycle(self.discovery, self.inventory, self.poller, self.intake,
                                  self.outbox, self.uplink)
        self.shutdown = Shutdown()
        self.runtime = DaemonRuntime(live, self.poller, self.schedule, self.link)
        """What the local views may see of the daemon."""
        self.last_cycle: CycleReport | None = None
        self._react_to_reloads()

    @property
    def config(self) -> Config:
        """The config in force."""
        return self.live()

    def _react_to_reloads(self) -> None:
        """What must act on a reload besides reading the new settings where they are used."""
        live = self.live
        live.on_change(("poll.concurrency",), lambda c: self.poller.limit(c.poll.concurrency))
        live.on_change(("poll",), lambda c: self.schedule.configure(c.poll, time.monotonic()))
        live.on_change(("snmp", "discovery", "contract"), lambda c: self.credentials.forget_all())
        live.on_change(("cloud.outbox_max_entries",),
                       lambda c: setattr(self.outbox, "max_entries", c.cloud.outbox_max_entries))
        live.on_change(REDISCOVER, lambda c: self.discovery.run_again(now=True))
        live.on_change((), lambda c: self.discovery.run_again(now=False))
        live.on_change((), lambda c: self.polling.devices_changed())
        if self.uplink is not None:
            uplink = self.uplink
            live.on_change(("cloud.batch_size",), lambda c: uplink.sender and setattr(
                uplink.sender, "batch_size", c.cloud.batch_size))
            live.on_change(("services",), self._services_changed)

    def _services_changed(self, config: Config) -> None:
        assert self.link is not None
        self.link.services = ServiceSettings.from_config(config)
        self.state.delete("last_sync")  # FIG. 10 again with the new settings

    async def __aenter__(self) -> Gateway:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        self.intake.flush()  # readings gathered for a group commit
        if self.uplink is not None:
            await self.uplink.close()
        await self.reader.close()
        self.store.close()

    async def connect(self) -> bool:
        """Connect the cloud link once; False when there is none or it cannot be reached now."""
        return self.uplink is not None and await self.uplink.connect()

    async def cycle(self, sync: bool | None = None, deliver: bool = True) -> CycleReport:
        self.last_cycle = await self.cycle_runner.run(sync, deliver)
        return self.last_cycle

    async def run_once(self) -> CycleReport:
        """`printgw run --once`: one full cycle with a full sync, then the change stream polled."""
        report = await self.cycle(sync=True)
        await self.alerts.dispatcher.flush()
        if self.link is not None and self.link.status.connected:
            await self.link.poll_changes()
        return report

    async def run(self, stop: asyncio.Event) -> None:
        """The daemon, until `stop` is set."""
        local = await LocalServers.start(self.runtime, self.store, self.metrics,
                                         partial(sync_now, self.link, self.polling))
        loops = [asyncio.create_task(self.polling.run(stop), name="poll"), self.alerts.start(stop),
                 asyncio.create_task(self.discovery.run(stop), name="discovery")]
        link_task = None
        if self.uplink is not None:
            link_task = asyncio.create_task(self.uplink.run(stop, self._link_up),
                                            name="cloud-link")
        try:
            await stop.wait()
        finally:
            await self.shutdown.run(self.config.gateway.shutdown_grace, loops, self.polling,
                                    link_task, self.uplink, self.outbox)
            await local.close()

    async def _link_up(self) -> None:
        await self.intake.register_read_devices(self.polling.devices)
        self.polling.wake()  # a FIG. 7 sync may be due now

    def hurry(self) -> None:
        self.shutdown.hurry()

    def reload(self, path: Path) -> Config | None:
        return reload(self.live, path)

    def apply_config(self, config: Config) -> Config:
        return apply(self.live, config)
