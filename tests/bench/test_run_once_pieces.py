"""`bench/run_once.py`'s config, cheaply: the benchmark itself is not a test."""

from __future__ import annotations

import tomllib
from pathlib import Path

from bench.run_once import once_config
from gateway.settings.loading import parse_config


def test_the_config_lists_every_printer_as_a_static_host(tmp_path: Path) -> None:
    ips = ["127.60.0.1", "127.60.0.2", "127.60.9.196"]
    config = parse_config(tomllib.loads(once_config(ips, 16600, tmp_path / "data")))
    assert [host.host for host in config.discovery.static] == ips
    assert (config.snmp.port, config.ipp.port) == (16600, 16601)
    assert config.gateway.data_dir == tmp_path / "data"
    assert not (config.discovery.mdns or config.discovery.subnets or config.status_page.enabled)
    assert config.cloud.url is None
