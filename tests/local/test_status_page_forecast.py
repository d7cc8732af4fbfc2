"""Supply forecasts end to end (issue 17): a virtual printer given ten days of steady printing in
simulated time (`simulator.history`), that past written into the gateway's store as the readings
it would have taken (`bench.forecast.record_samples`), then the real `printgw run`: the forecast
is on the device page next to the bar, in `/api/devices/{id}`, in `printgw status --json`, in
`/metrics`, and reaches the reference cloud as `supplies.forecast` when a service requests it.
Addresses: 127.0.124.0-127.0.125.255.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bench.forecast import receptacles_of, record_samples
from gateway.device.supply_forecast import SupplyForecast
from gateway.fleet.inventory import Inventory, Sighting
from gateway.local.forecast_text import forecast_title, forecast_words
from gateway.store import Store
from protocols.hosts import free_port
from simulator.history import HOUR, empty_after, run_history
from tests.support.printgw_cli import COMMAND
from tests.support.sim_helpers import run
from tests.support.uplink_harness import Harness, uplink_setup

DAYS = 10
DAILY_PAGES = 100
SERVICE = "toner-forecast"


async def _api(h: Harness, url: str) -> Any:
    async with h.http.get(url) as response:
        assert response.status == 200, url
        return await response.json()


async def test_forecast_on_page_json_metrics_and_cloud(tmp_path: Path) -> None:
    async with uplink_setup(tmp_path, "127.0.124.1", ["mono-laser"]) as h:
        printer = h.fleet.printers[0]
        printer.state.set_level("black", 80)
        rng = random.Random(3)
        start = (time.time() // HOUR - DAYS * 24) * HOUR
        samples = run_history(printer.state, "steady", DAYS * 24, start, rng, DAILY_PAGES)
        truth = empty_after(printer.state, "steady", samples[-1].at, rng, DAILY_PAGES)
        with Store.in_directory(h.data_dir) as store:
            device = Inventory(store).record(Sighting(
                address=printer.ip, sources=frozenset({"static"}), serial=printer.state.serial))
            record_samples(store, device.id, samples, receptacles_of(printer.state))

        await h.operator.put_service(SERVICE, ["supplies.level", "supplies.forecast"])
        port = free_port()
        h.write_config(poll={"interval": "2s"}, status_page={"port": port})
        await h.start_daemon()
        base = f"http://127.0.0.1:{port}/"
        registered = await h.wait_for(h.printers, 60, "the printer registered")
        printer_id = registered[printer.state.serial]["printer_id"]
        await h.operator.contract(printer_id, SERVICE)

        async def forecast_read() -> dict[str, Any] | None:
            device_json = await _api(h, f"{base}api/devices/{device.id}")
            supplies = {s["index"]: s for s in device_json["device"]["supplies"]}
            forecast = (supplies.get("1.1") or {}).get("forecast")
            return device_json if forecast and forecast["days_to_empty"] else None
        device_json = await h.wait_for(forecast_read, 60, "a forecast of the black toner")

        # The numbers: near the simulator's truth (steady use: within a quarter).
        toner = next(s for s in device_json["device"]["supplies"] if s["index"] == "1.1")
        forecast = toner["forecast"]
        actual_days = truth["1.1"] / 86400
        assert abs(forecast["days_to_empty"] - actual_days) <= 0.25 * actual_days, (
            forecast, actual_days)
        assert forecast["method"] == "per-page" and forecast["confidence"] == "high"
        assert forecast["pages_remaining"] > 0 and forecast["basis_days"] >= DAYS - 1
        drum = next(s for s in device_json["device"]["supplies"] if s["index"] == "1.2")
        assert drum["forecast"]["days_to_empty"] or drum["forecast"]["reason"]

        # The device page: the words next to the bar.
        async with h.http.get(f"{base}devices/{device.id}") as response:
            page = await response.text()
        words = f"≈ {forecast['days_to_empty']:.0f} days · {forecast['pages_remaining']:,} pages"
        assert words in page

        # /metrics: the same figures.
        async with h.http.get(base + "metrics") as response:
            families = {f.name: f for f in text_string_to_metric_families(await response.text())}
        days = {s.labels["supply"]: s.value for s in
                families["printgw_supply_days_to_empty"].samples
                if s.labels["device"] == str(device.id)}
        pages = {s.labels["supply"]: s.value for s in
                 families["printgw_supply_pages_remaining"].samples
                 if s.labels["device"] == str(device.id)}
        metrics_forecast = await _api(h, f"{base}api/devices/{device.id}")
        latest = next(s for s in metrics_forecast["device"]["supplies"]
                      if s["index"] == "1.1")["forecast"]
        assert abs(days["1.1"] - latest["days_to_empty"]) <= 1
        assert abs(pages["1.1"] - latest["pages_remaining"]) <= DAILY_PAGES

        # printgw status --json (the daemon's /api/status).
        rc, out, err = await run(*COMMAND, "status", "--config", str(h.config_path), "--json",
                                 limit=60)
        assert rc == 0, err
        shown = next(d for d in json.loads(out)["devices"] if d["id"] == device.id)
        assert next(s for s in shown["supplies"] if s["index"] == "1.1")["forecast"][
            "days_to_empty"] is not None

        # The cloud gets `supplies.forecast` once its service requests it.
        async def forecast_uploaded() -> list[dict[str, Any]] | None:
            for status in reversed(await h.statuses(printer_id)):
                if status["data"].get("supplies.forecast"):
                    return status["data"]["supplies.forecast"]
            return None
        uploaded = await h.wait_for(forecast_uploaded, 60, "supplies.forecast in the cloud")
        black = next(f for f in uploaded if f["index"] == "1.1")
        assert black["days_to_empty"] is not None
        assert abs(black["days_to_empty"] - forecast["days_to_empty"]) <= 1


def test_forecast_words() -> None:
    def supply(supply_class: str = "consumed", **forecast: Any) -> dict[str, Any]:
        document = SupplyForecast("1.1", **forecast).to_json()
        return {"class": supply_class, "forecast": document}
    assert forecast_words(supply(days_to_empty=23.4, pages_remaining=4100)) == \
        "≈ 23 days · 4,100 pages"
    assert forecast_words(supply(days_to_empty=1.2)) == "≈ 1 day"
    assert forecast_words(supply("filled", days_to_empty=9.0, pages_remaining=900)) == \
        "full in ≈ 9 days"
    assert forecast_words(supply(days_to_empty=0.0, pages_remaining=0)) == "empty now"
    assert forecast_words(supply(reason="too few points since the last swap (1, 3 needed)")) \
        == "not enough history"
    assert forecast_words(supply(reason="level unknown")) == "no level to forecast"
    assert forecast_words({"class": None, "forecast": None}) == ""
    assert "too few points" in forecast_title(supply(reason="too few points"))
