"""`/metrics` of a gateway that knows 1,000 printers (issue 18): real readings of every virtual
printer profile written into the store as the newest readings of 1,000 devices
(`bench/metrics_scrape.py`, which prints the figures of docs/metrics.md), scraped over HTTP from
the metrics-only listener.  Behaviour only: every device and supply is there, once, each device
at its `[[gateway.sites]]` site; the time is
printed, not asserted (the machine is shared).  Addresses: 127.0.133.1-127.0.133.5 (printers),
127.0.133.110 (the listener).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bench.metrics_scrape import read_profiles, write_fleet
from gateway.local.live_view import FleetView
from gateway.local.metrics import GatewayMetrics
from gateway.local.metrics_listener import MetricsListener
from gateway.settings.loading import parse_config
from gateway.store import Store
from protocols.hosts import free_port

DEVICES = 1000


@pytest.mark.slow
async def test_a_scrape_of_a_thousand_printers(tmp_path: Path) -> None:
    readings = await read_profiles("127.0.133.1")
    port = free_port("127.0.133.110")
    config = parse_config({"gateway": {"data_dir": str(tmp_path), "sites": [
        {"name": "Osaka office", "networks": ["10.0.0.0/24"], "time_zone": "Asia/Tokyo"}]},
        "metrics": {"listen": f"127.0.133.110:{port}"}})
    with Store.in_directory(tmp_path) as store:
        ids = write_fleet(store, readings, DEVICES)
        metrics = GatewayMetrics()
        metrics.read_store(FleetView(store, config))
        listener = MetricsListener(config.metrics, metrics)
        url = await listener.start()
        try:
            async with aiohttp.ClientSession() as http:
                started = time.perf_counter()
                async with http.get(url, headers={"Accept-Encoding": "gzip"}) as response:
                    assert response.status == 200
                    text = await response.text()
                seconds = time.perf_counter() - started
        finally:
            await listener.close()
    samples = Counter[str]()
    info: dict[str, set[str]] = {}
    sites = Counter[str]()
    supplies: set[tuple[str, str]] = set()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name] += 1
            if sample.name == "printgw_device_info":
                info.setdefault(sample.labels["device"], set()).add(sample.labels["serial"])
                sites[sample.labels["site"]] += 1
            if sample.name == "printgw_supply_info":
                supplies.add((sample.labels["device"], sample.labels["supply"]))
    assert set(info) == {str(i) for i in ids}
    assert all(len(serials) == 1 for serials in info.values())
    assert len({serial for serials in info.values() for serial in serials}) == DEVICES
    assert sites == {"Osaka office": 256, "": DEVICES - 256}  # write_fleet: 10.0.0.0-10.0.3.231
    per_profile = [len(reading.supplies) for reading in readings]
    assert len(supplies) == sum(per_profile[n % len(readings)] for n in range(DEVICES))
    assert samples["printgw_supply_level_state"] == len(supplies)
    assert samples["printgw_device_pages_total"] == DEVICES
    assert samples["printgw_device_up"] == DEVICES
    devices = {s.labels["state"]: s.value for f in text_string_to_metric_families(text)
               if f.name == "printgw_devices" for s in f.samples}
    assert sum(devices.values()) == DEVICES
    print(f"\n/metrics of {DEVICES} printers: {seconds:.2f} s over HTTP, "
          f"{sum(samples.values())} samples, {len(text) / 1e6:.1f} MB")
