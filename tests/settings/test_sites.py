"""`[[gateway.sites]]`: a device's time zone and shipping destination by subnet or host, the most
specific rule winning, `[gateway]`'s values by default; every mistake named by its key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.settings.loading import ConfigError, parse_config
from gateway.settings.schema import GatewaySettings
from gateway.settings.sites import site_for
from tests.support.printgw_cli import printgw

SITES = [
    {"name": "Osaka", "networks": ["10.20.0.0/16"], "time_zone": "Asia/Tokyo",
     "shipping_destination": "JP"},
    {"name": "Osaka 3F", "networks": ["10.20.3.0/24"], "time_zone": "Asia/Seoul"},
    {"name": "plotter", "hosts": ["Plotter.example.com", "10.20.3.9"],
     "shipping_destination": "KR"},
    {"name": "Berlin", "networks": ["10.40.0.0/16", "2001:db8::/32"],
     "time_zone": "Europe/Berlin", "shipping_destination": "DE"},
]


def _gateway(sites: list[dict[str, Any]]) -> GatewaySettings:
    return parse_config({"gateway": {"time_zone": "UTC", "shipping_destination": "US",
                                     "sites": sites}}).gateway


def _site(gateway: GatewaySettings, *names: str) -> tuple[str, str]:
    site = site_for(gateway.sites, gateway.time_zone, gateway.shipping_destination, names)
    return site.time_zone, site.shipping_destination


@pytest.mark.parametrize(("names", "expected"), [
    (["192.168.1.5"], ("UTC", "US")),  # no rule: [gateway]'s
    (["10.20.1.5"], ("Asia/Tokyo", "JP")),
    (["10.20.3.5"], ("Asia/Seoul", "JP")),  # /24 sets the zone; the /16 still the destination
    (["10.20.3.9"], ("Asia/Seoul", "KR")),  # the host rule sets the destination only
    (["10.20.1.7", "plotter.EXAMPLE.com"], ("Asia/Tokyo", "KR")),  # host names: any case
    (["10.40.0.1"], ("Europe/Berlin", "DE")),
    (["2001:db8::7"], ("Europe/Berlin", "DE")),
    (["no-such-name", ""], ("UTC", "US")),
])
def test_most_specific_rule_wins_per_value(names: list[str], expected: tuple[str, str]) -> None:
    assert _site(_gateway(SITES), *names) == expected


def test_the_source_of_each_value_is_kept() -> None:
    gateway = _gateway(SITES)
    site = site_for(gateway.sites, gateway.time_zone, gateway.shipping_destination, ["10.20.3.9"])
    assert (site.time_zone_from, site.shipping_destination_from) == ("Osaka 3F", "plotter")
    default = site_for(gateway.sites, "UTC", "US", ["192.0.2.1"])
    assert (default.time_zone_from, default.shipping_destination_from) == (None, None)


def _problems(sites: list[dict[str, Any]]) -> str:
    with pytest.raises(ConfigError) as caught:
        _gateway(sites)
    return "\n".join(caught.value.problems)


@pytest.mark.parametrize(("rule", "key", "words"), [
    ({"networks": ["10.1.0.0/16"], "time_zone": "Asia/Toky"}, "gateway.sites[0].time_zone",
     "IANA"),
    ({"networks": ["10.1.0.0/16"], "shipping_destination": "jp"},
     "gateway.sites[0].shipping_destination", "upper case"),
    ({"networks": ["10.1.0.5/16"], "time_zone": "UTC"}, "gateway.sites[0].networks[0]",
     "host bits"),
    ({"hosts": ["bad host"], "time_zone": "UTC"}, "gateway.sites[0].hosts[0]", "host name"),
    ({"time_zone": "UTC"}, "gateway.sites[0]", "networks"),
    ({"networks": ["10.1.0.0/16"]}, "gateway.sites[0]", "time_zone"),
    ({"networks": ["10.1.0.0/16"], "time_zone": "UTC", "zone": "x"}, "gateway.sites[0].zone",
     ""),
])
def test_mistakes_are_named_by_key(rule: dict[str, Any], key: str, words: str) -> None:
    problems = _problems([rule])
    assert key in problems and words in problems, problems


def test_two_rules_setting_one_value_for_one_network_are_refused() -> None:
    problems = _problems([{"networks": ["10.1.0.0/16"], "time_zone": "UTC"},
                          {"networks": ["10.1.0.0/16"], "time_zone": "Asia/Tokyo"}])
    assert "gateway.sites[1].networks: 10.1.0.0/16 is also in gateway.sites[0]" in problems
    # the same network may be split between two rules that set different values
    _gateway([{"networks": ["10.1.0.0/16"], "time_zone": "UTC"},
              {"networks": ["10.1.0.0/16"], "shipping_destination": "JP"}])


def test_check_config_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(f'[gateway]\ndata_dir = "{tmp_path}"\n'
                    '[[gateway.sites]]\nnetworks = ["10.1.0.0/16"]\ntime_zone = "Mars/Base"\n')
    result = printgw("check-config", str(path))
    assert result.returncode == 2
    assert "gateway.sites[0].time_zone" in result.stderr + result.stdout
    path.write_text(f'[gateway]\ndata_dir = "{tmp_path}"\n'
                    '[[gateway.sites]]\nnetworks = ["10.1.0.0/16"]\ntime_zone = "Asia/Tokyo"\n')
    result = printgw("check-config", str(path))
    assert result.returncode == 0, result.stderr
