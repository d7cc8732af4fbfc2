"""Issue 19: a device id out of range on the status page is a 404, never a 500 and never a
traceback in the log.  The real page of a gateway (no cloud, no mDNS) on 127.0.0.1."""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
import pytest

from gateway.app.daemon import Gateway
from gateway.fleet.inventory import Sighting
from gateway.local.status_page import MAX_DEVICE_ID, StatusPage
from gateway.settings.loading import parse_config
from protocols.hosts import free_port

IDS = ["99999999999999999999999", str(MAX_DEVICE_ID + 1), str(MAX_DEVICE_ID), "0",
       "0000000000000000000000001000", "9" * 5000, "18446744073709551615"]
"""Beyond any SQLite row id, the largest one (no such device), zero, padded, longer than
Python's int() takes, 2^64 - 1."""


async def test_ids_out_of_range_answer_404_without_a_traceback(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    config = parse_config({"gateway": {"data_dir": str(tmp_path / "gateway")},
                           "discovery": {"mdns": False}, "status_page": {"port": port}})
    caplog.set_level(logging.DEBUG)
    async with Gateway(config) as gateway:
        device = gateway.inventory.record(Sighting(
            address="127.0.96.1", sources=frozenset({"static"}), serial="SN-19",
            protocols=frozenset({"snmp"})))
        page = StatusPage(gateway.runtime, gateway.store, gateway.metrics)
        base = await page.start()
        try:
            async with aiohttp.ClientSession() as http:
                for prefix in ("devices/", "api/devices/"):
                    for device_id in IDS:
                        async with http.get(base + prefix + device_id) as response:
                            assert response.status == 404, (prefix, device_id[:30])
                            text = await response.text()
                            assert text.startswith("no device ") and len(text) < 100
                    async with http.get(base + prefix + str(device.id)) as response:
                        assert response.status == 200, prefix  # a real one still answers
                    padded = f"{device.id:08d}"  # the same number written with zeros
                    async with http.get(base + prefix + padded) as response:
                        assert response.status == 200, prefix
        finally:
            await page.close()
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert problems == [], [r.getMessage() for r in problems]
