"""A reload reaches every part of the daemon through `LiveConfig`, the one path (in process: a
real `Gateway` on a temporary data directory, no cloud, nothing polled)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.app.daemon import Gateway
from gateway.app.reload import reload
from gateway.fleet.inventory import Sighting
from gateway.settings.live import LiveConfig
from gateway.settings.loading import parse_config
from gateway.settings.schema import Config


def config(tmp_path: Path, **sections: Any) -> Config:
    base: dict[str, Any] = {"gateway": {"data_dir": str(tmp_path / "data"), "region": "jp"},
                            "discovery": {"mdns": False}, "status_page": {"enabled": False}}
    for name, values in sections.items():
        base[name] = {**base.get(name, {}), **values}
    return parse_config(base)


def test_a_swap_reaches_sections_and_only_the_reactions_it_concerns() -> None:
    live = LiveConfig(parse_config({}))
    poll = live.section(lambda c: c.poll)
    seen: list[str] = []
    live.on_change(("poll",), lambda c: seen.append("poll"))
    live.on_change(("cloud.batch_size",), lambda c: seen.append("batch"))
    live.on_change((), lambda c: seen.append("any"))
    live.swap(parse_config({"poll": {"interval": 60}}), ["poll.interval"])
    assert poll().interval == 60
    assert seen == ["poll", "any"]
    live.swap(parse_config({"cloud": {"batch_size": 100}}), ["cloud.batch_size", "poll.interval"])
    assert seen == ["poll", "any", "poll", "batch", "any"]
    assert poll().interval == 300


async def test_reload_applies_to_every_part_and_keeps_what_needs_a_restart(
        tmp_path: Path) -> None:
    async with Gateway(config(tmp_path)) as gateway:
        device = gateway.inventory.record(Sighting(
            address="127.0.96.1", sources=frozenset({"static"}), serial="S1",
            snmp_version=2, protocols=frozenset({"snmp"})))
        gateway.discovery.last_run = 1.0

        path = tmp_path / "gateway.toml"
        path.write_text(f'''
[gateway]
data_dir = "{tmp_path / "data"}"
region = "us"
[discovery]
mdns = false
interval = "2h"
[status_page]
enabled = false
[poll]
concurrency = 4
periodic_upload = "30m"
[events]
thresholds = [50]
[ipp]
timeout = 9
''')
        in_force = reload(gateway.live, path)

        assert in_force is not None and gateway.config is in_force
        assert gateway.config.gateway.region == "jp", "the region needs a restart: kept"
        assert gateway.intake.pipeline.events().thresholds == [50]
        assert gateway.intake.pipeline.poll().periodic_upload == 1800
        assert gateway.poller.ipp().timeout == 9
        assert gateway.schedule.settings.concurrency == 4
        assert gateway.discovery.last_run == 1.0, "only the interval changed: no new run now"

        path.write_text(path.read_text().replace("[ipp]", "[snmp]\ntimeout = 3\n[ipp]"))
        assert reload(gateway.live, path) is not None
        assert gateway.discovery.last_run is None, "[snmp] changed: discover again at once"
        assert gateway.credentials.read_targets(device, "127.0.96.1")[0].timeout == 3


async def test_a_broken_file_changes_nothing(tmp_path: Path) -> None:
    async with Gateway(config(tmp_path)) as gateway:
        before = gateway.config
        path = tmp_path / "gateway.toml"
        path.write_text("[poll]\ninterval = 'soon'\n")
        assert reload(gateway.live, path) is None
        assert gateway.config is before
