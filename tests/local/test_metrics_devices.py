"""Per-printer metrics end to end (issue 18): a virtual fleet of every profile and the reference
cloud, the real `printgw run` with its status page and the metrics-only listener; every metric
docs/metrics.md names is in the scrape, with the simulator's own values and sane labels.
Addresses: 127.0.132.1-127.0.132.5.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from gateway.device.model import Counters
from gateway.local.device_metrics import COUNTERS
from protocols.hosts import free_port
from protocols.version import VERSION
from tests.support.uplink_harness import Harness, uplink_setup

PROFILES = ["color-mfp", "mono-laser", "inkjet", "contract-laser", "legacy-laser"]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


@dataclass(frozen=True)
class Scrape:
    """One `/metrics` answer: every family and sample by name."""

    families: set[str]
    samples: dict[str, list[Sample]]

    @classmethod
    def of(cls, text: str) -> Scrape:
        families: set[str] = set()
        samples: dict[str, list[Sample]] = {}
        for family in text_string_to_metric_families(text):
            families.add(family.name)
            if family.type == "counter":
                families.add(f"{family.name}_total")
            for sample in family.samples:
                samples.setdefault(sample.name, []).append(sample)
        return cls(families | set(samples), samples)

    def values(self, name: str, *labels: str) -> dict[tuple[str, ...], float]:
        return {tuple(s.labels[label] for label in labels): s.value
                for s in self.samples.get(name, [])}

    def by_device(self, name: str) -> dict[str, float]:
        return {key[0]: value for key, value in self.values(name, "device").items()}


async def scrape(h: Harness, url: str, **kwargs: object) -> Scrape:
    async with h.http.get(url, **kwargs) as response:  # type: ignore[arg-type]
        assert response.status == 200, (url, response.status)
        return Scrape.of(await response.text())


def documented() -> set[str]:
    """The metric names docs/metrics.md lists (in back-quotes)."""
    return set(re.findall(r"`((?:printgw|process|python)_[a-z_]+)`", DOCS.read_text()))


def test_every_counters_field_has_its_metric() -> None:
    assert set(COUNTERS) == set(vars(Counters()))
    assert {f"{metric}_total" for metric, _help in COUNTERS.values()} <= documented()


@pytest.mark.slow
async def test_every_documented_metric_from_a_running_daemon(tmp_path: Path) -> None:
    async with uplink_setup(tmp_path, "127.0.132.1", PROFILES) as h:
        page_port, metrics_port = free_port(), free_port()
        h.write_config(poll={"interval": "2s"}, status_page={"port": page_port},
                       metrics={"listen": f"127.0.0.1:{metrics_port}"})
        started = time.time()
        await h.start_daemon()
        page = f"http://127.0.0.1:{page_port}/metrics"
        listener = f"http://127.0.0.1:{metrics_port}/metrics"
        printers = {p.state.serial: p for p in h.fleet.printers}

        async def read_all() -> Scrape | None:
            try:
                found = await scrape(h, listener)
            except aiohttp.ClientError:
                return None
            up = found.by_device("printgw_device_up")
            return found if len(up) == len(printers) and all(up.values()) else None
        first = await h.wait_for(read_all, 60, "every printer read")
        devices = {labels[0]: dict(zip(("serial", "model", "address", "site"), labels[1:],
                                       strict=True))
                   for labels in first.values("printgw_device_info", "device", "serial",
                                              "model", "address", "site")}
        ids = {info["serial"]: device for device, info in devices.items()}
        assert set(ids) == set(printers)
        for serial, printer in printers.items():
            info = devices[ids[serial]]
            assert info["address"] == printer.ip
            assert info["model"] == printer.state.model
            assert info["site"] == ""

        # Changes on the printers: a low ink and an open cover, a contract, one unplugged.
        inkjet, contract, mono = (h.fleet.printers[i].state for i in (2, 3, 1))
        inkjet.set_level("cyan", 5)
        inkjet.raise_error("cover-open")
        contract.set_contract_mode(3)
        mono.set_unreachable(True)

        async def changed() -> Scrape | None:
            found = await scrape(h, listener)
            states = found.values("printgw_device_state", "device", "state")
            if (ids[inkjet.serial], "stopped") in states and \
                    (ids[mono.serial], "unreachable") in states and \
                    (ids[contract.serial], "contract-billing") in found.values(
                        "printgw_device_contract_mode", "device", "mode"):
                return found
            return None
        found = await h.wait_for(changed, 60, "the changes read")

        # Every documented metric is served, by the listener and by the status page alike.
        assert documented() - found.families == set()
        assert (await scrape(h, page)).families == found.families

        # The values are the simulator's.
        up = found.by_device("printgw_device_up")
        assert up == {device: (0 if device == ids[mono.serial] else 1) for device in devices}
        levels = found.values("printgw_supply_level_percent", "device", "supply")
        level_states = {(device, supply): state for device, supply, state in found.values(
            "printgw_supply_level_state", "device", "supply", "state")}
        for serial, printer in printers.items():
            if printer.state is mono:
                continue  # its newest reading is the one before it was unplugged
            for supply in printer.state.supplies:
                key = (ids[serial], f"1.{supply.index}")
                if level_states[key] == "known":
                    assert levels[key] == supply.percent, (serial, key)
                else:  # e.g. a waste box telling only "some remaining": no level series
                    assert key not in levels
        assert sum(state == "known" for state in level_states.values()) >= 15
        pages = found.by_device("printgw_device_pages_total")
        assert {serial: pages[ids[serial]] for serial in printers} == \
            {serial: p.state.total_pages for serial, p in printers.items()}
        colour = printers[h.fleet.printers[0].state.serial].state
        assert found.by_device("printgw_device_color_pages_total")[ids[colour.serial]] == \
            colour.color_pages
        low = found.values("printgw_supply_low", "device", "supply")
        assert low[(ids[inkjet.serial], "1.2")] == 1
        assert sum(low.values()) == 1
        descriptions = found.values("printgw_supply_info", "device", "supply", "color", "kind")
        assert (ids[inkjet.serial], "1.2", "cyan", "inkCartridge") in descriptions
        alerts = found.values("printgw_device_alerts", "device", "severity")
        assert alerts[(ids[inkjet.serial], "critical")] >= 1
        assert sum(v for (device, _s), v in alerts.items() if device != ids[inkjet.serial]) == 0
        assert {severity for _d, severity in alerts} == {"critical", "warning", "other"}
        assert found.by_device("printgw_device_printing_prohibited")[ids[contract.serial]] == 0
        read_at = found.by_device("printgw_device_last_read_timestamp_seconds")
        assert all(started - 1 <= at <= time.time() for at in read_at.values())
        protocols = found.values("printgw_device_protocol_up", "device", "protocol")
        assert protocols[(ids[inkjet.serial], "snmp")] == 1
        states = found.values("printgw_device_state", "device", "state")
        assert len(states) == len(printers)  # one state each
        by_state = found.values("printgw_devices", "state")
        assert by_state[("stopped",)] == 1 and by_state[("unreachable",)] == 1
        assert found.values("printgw_build_info", "version") == {(VERSION,): 1}
        assert found.samples["process_cpu_seconds_total"][0].value > 0
        assert found.samples["printgw_cloud_connected"][0].value == 1
        assert all(name.startswith(("printgw_", "process_", "python_"))
                   for name in found.families)
        assert not _label_names(found.samples.values()) - {
            "device", "serial", "manufacturer", "model", "address", "site", "state", "protocol",
            "severity", "mode", "supply", "kind", "color", "description", "result", "reason",
            "le", "version", "python", "implementation", "major", "minor", "patchlevel",
            "generation"}


def _label_names(groups: Iterable[list[Sample]]) -> set[str]:
    return {label for samples in groups for sample in samples for label in sample.labels}
