"""`bench/scale.py`'s pieces, cheaply: the fleet plan, the snmp_exporter module, the target lines.
The benchmark itself is not a test (no timings asserted here)."""

from __future__ import annotations

import ipaddress

import pytest
import yaml

from bench.lines import print_lines
from bench.scale import (
    EXPORTER_MODULE,
    FIRST_IP,
    FLEET_NET,
    SizeResult,
    fleet_plan,
    size_lines,
)
from protocols.snmp.printer import INTERFACE_SUBTREES, PRINTER_SUBTREES, SYSTEM_SCALARS
from simulator.fleet import addresses


@pytest.mark.parametrize(("printers", "per_sim", "sims"),
                         [(1, 500, 1), (1_000, 500, 2), (3_000, 500, 6), (5_001, 500, 11),
                          (10_000, 500, 20), (10_000, 3_000, 4)])
def test_the_fleet_plan_splits_n_into_processes(printers: int, per_sim: int, sims: int) -> None:
    plan = fleet_plan(printers, per_sim)
    assert len(plan) == sims
    counts = [spec.count for spec in plan]
    assert sum(counts) == printers and max(counts) <= per_sim and max(counts) - min(counts) <= 1
    ips = [ip for spec in plan for ip in addresses(spec.first_ip, spec.count)]
    assert ips == addresses(FIRST_IP, printers)  # consecutive, none twice
    assert all(ipaddress.IPv4Address(ip) in FLEET_NET for ip in (ips[0], ips[-1]))


def test_the_fleet_plan_stays_in_its_network() -> None:
    with pytest.raises(ValueError, match="leave"):
        fleet_plan(270_000)


def test_the_snmp_exporter_module_reads_only_what_printgw_reads() -> None:
    config = yaml.safe_load(EXPORTER_MODULE.read_text())
    module = config["printer_mib"]
    assert module["version"] == 2 and module["auth"] == {"community": "public"}
    assert set(module["get"]) <= set(SYSTEM_SCALARS)
    walked = set(module["walk"])
    assert walked <= set(PRINTER_SUBTREES + INTERFACE_SUBTREES)
    assert walked >= set(PRINTER_SUBTREES)  # every Printer-MIB/HR subtree printgw walks
    scalars = {oid.removesuffix(".0") for oid in module["get"]}
    for metric in module["metrics"]:
        oid = metric["oid"]
        assert oid in scalars or any(oid == w or oid.startswith(w + ".") for w in walked), oid
        assert metric["type"] in {"gauge", "counter", "DisplayString", "OctetString",
                                  "PhysAddress48"}
    names = [m["name"] for m in module["metrics"]]
    assert len(names) == len(set(names))
    assert "prtMarkerSuppliesLevel" in names  # what the bench checks in every scrape


def _size(printers: int, cpu_ms: float, fds: int, shares: list[float]) -> SizeResult:
    return SizeResult(printers, {"seconds": 10.0, "first": 12.0, "read": printers,
                                 "gateway_cpu_ms": cpu_ms, "peak_rss_mb": 100.0,
                                 "rss_before_mb": 60.0, "peak_fds": fds}, shares)


def test_the_target_lines_judge_flat_cost_fds_and_the_fleet_share(capsys) -> None:
    lines = size_lines([_size(1_000, 1.2, 40, [0.3, 0.3]), _size(10_000, 1.3, 44, [0.5] * 20)])
    met = {line.target.split(",")[0]: line.met for line in lines}
    assert met == {"cycle": True, "gateway CPU per printer": True, "gateway peak RSS": True,
                   "gateway fds": True, "CPU per printer": True,
                   "printgw-sim CPU share": True}
    assert print_lines("t", lines)
    worse = size_lines([_size(1_000, 1.2, 40, [0.3]), _size(10_000, 1.5, 4_000, [0.7])])
    assert {line.target.split(",")[0] for line in worse if not line.met} == {
        "gateway fds", "CPU per printer", "printgw-sim CPU share"}
    assert not print_lines("t", worse)
    assert "MISSED" in capsys.readouterr().out
