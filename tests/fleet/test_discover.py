"""`printgw discover` end to end: virtual fleets, snmpsim recordings, mDNS pinned to loopback,
ippeveprinter; one inventory record per physical device.

Addresses 127.0.50.0-127.0.59.255 belong to this module.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from protocols.hosts import free_port
from simulator.fleet import Fleet, FleetConfig
from simulator.mdns import Advertiser
from tests.support.ippeveprinter import (  # noqa: F401 - ippeve_fleet_fixture is the `ippeve_fleet` fixture
    IppEveFleet,
    ippeve_fleet_fixture,
)
from tests.support.netns import netns_pair, read_until, require_netns
from tests.support.printgw_cli import COMMAND
from tests.support.sim_helpers import run, running_fleet


async def discover(*args: str, limit: float = 90.0) -> list[dict]:
    rc, out, err = await run(*COMMAND, "discover", "--json", *args, limit=limit)
    assert rc == 0, err
    return json.loads(out)


def closed_port() -> int:
    """A TCP port nothing listens on: the IPP guess there fails at once."""
    return free_port()


async def test_a_printer_seen_by_mdns_and_by_the_sweep_is_one_record(tmp_path: Path) -> None:
    async with running_fleet("127.0.50.1", 4, profiles=["color-mfp", "mono-laser"]) as fleet:
        adv = Advertiser("127.0.0.1")
        await adv.start(fleet.printers)
        try:
            devices = await discover(
                "--subnet", "127.0.50.0/29", "--port", str(fleet.config.snmp_port),
                "--interface", "127.0.0.1", "--mdns-listen", "3", "--timeout", "0.5",
                "--ipp-port", str(closed_port()), "--data-dir", str(tmp_path))
        finally:
            await adv.close()
    by_serial = {d["serial"]: d for d in devices}
    for printer in fleet.printers:
        device = by_serial[printer.state.serial]
        assert device["addresses"] == [printer.ip]
        assert device["sources"] == ["mdns", "snmp-sweep"]
        assert device["protocols"] == ["ipp", "snmp"]  # IPP at the advertised port and path
        assert device["uuid"] == printer.state.uuid
        assert device["ipp_uri"] == f"ipp://{printer.ip}:{printer.ipp_port}/ipp/print"
        assert device["manufacturer"] == printer.state.manufacturer
        assert printer.state.model in device["model"]
        assert device["flags"] == []
        assert len(device["services"]) == 2  # _ipp and _pdl-datastream: one device
    ours = [d for d in devices if d["addresses"][0].startswith("127.0.50.")]
    assert len(ours) == 4


async def test_a_printer_that_changes_address_stays_one_record(tmp_path: Path) -> None:
    common = ("--no-mdns", "--timeout", "0.5", "--data-dir", str(tmp_path))
    async with running_fleet("127.0.51.3", 1, seed=7) as fleet:
        [first] = await discover("--subnet", "127.0.51.0/28", "--port",
                                 str(fleet.config.snmp_port), "--ipp-port",
                                 str(fleet.config.ipp_port), *common)
        serial = fleet.printers[0].state.serial
    assert (first["serial"], first["addresses"]) == (serial, ["127.0.51.3"])
    # DHCP gives the same printer (same seed and identity: same serial and MAC) another address
    async with running_fleet("127.0.51.9", 1, seed=7, identity_first_ip="127.0.51.3") as fleet:
        [second] = await discover("--subnet", "127.0.51.0/28", "--port",
                                  str(fleet.config.snmp_port), "--ipp-port",
                                  str(fleet.config.ipp_port), *common)
        assert fleet.printers[0].state.serial == serial
    assert second["id"] == first["id"]
    assert second["addresses"] == ["127.0.51.9"]
    assert second["first_seen"] == first["first_seen"] < second["last_seen"]
    everything = await discover("--static", "127.0.51.200", "--all", "--port", "9",
                                *common)
    assert [d["serial"] for d in everything] == [serial]  # still one record in the inventory


async def test_sweep_finds_the_printers_with_serials_and_honours_exclusions(
        tmp_path: Path) -> None:
    async with running_fleet("127.0.52.1", 12) as fleet:
        started = time.monotonic()
        devices = await discover("--subnet", "127.0.52.0/26", "--exclude", "127.0.52.2",
                                 "--exclude", "127.0.52.8/30", "--port",
                                 str(fleet.config.snmp_port), "--ipp-port",
                                 str(fleet.config.ipp_port), "--no-mdns", "--timeout", "0.5")
        elapsed = time.monotonic() - started
    expected = {p.state.serial: p.ip for p in fleet.printers
                if p.ip not in ("127.0.52.2", "127.0.52.8", "127.0.52.9", "127.0.52.10",
                                "127.0.52.11")}
    assert {d["serial"]: d["addresses"][0] for d in devices} == expected
    assert all(d["sources"] == ["snmp-sweep"] and d["protocols"] == ["ipp", "snmp"]
               for d in devices)
    # 51 silent addresses cost a timeout or two, not 51 of them (plus process start-up)
    assert elapsed < 20, elapsed


async def test_v3_only_printers_are_found_with_the_right_user(tmp_path: Path) -> None:
    from simulator.snmp_v3 import V3User
    user = V3User("gw", "authpass-123", "privpass-123")
    async with running_fleet("127.0.53.1", 2, v3_users=[user], ipp=False) as fleet:
        base = ("--subnet", "127.0.53.0/29", "--port", str(fleet.config.snmp_port),
                "--no-mdns", "--timeout", "0.5", "--ipp-port", str(closed_port()),
                "--v3-user", "gw", "--v3-auth-key", "authpass-123")
        devices = await discover(*base, "--v3-priv-key", "privpass-123")
        wrong = await discover(*base, "--v3-priv-key", "wrong-key-456")
    assert sorted(d["serial"] for d in devices) == sorted(p.state.serial for p in fleet.printers)
    assert all(d["snmp_version"] == 3 and d["snmp_user"] == "gw" for d in devices)
    assert wrong == []


async def test_a_device_whose_serial_is_unreadable_is_recorded_by_mac_and_flagged(
        recorded_printers: tuple[str, int], tmp_path: Path) -> None:
    host, port = recorded_printers
    args = ("--static", host, "--port", str(port), "--community", "okilan_9450g",
            "--no-mdns", "--ipp-port", str(closed_port()), "--data-dir", str(tmp_path))
    [device] = await discover(*args)
    assert device["serial"] is None
    assert device["mac"] == "00:25:36:d1:a6:5e"
    assert device["flags"] == ["serial-unreadable"]
    assert device["sources"] == ["static"]
    [again] = await discover(*args)
    assert again["id"] == device["id"]


async def test_an_ipp_only_printer_without_serial_is_recorded_by_uuid(
        ippeve_fleet: IppEveFleet, tmp_path: Path) -> None:
    printer = ippeve_fleet.start("noserial")
    [device] = await discover("--static", "127.0.0.1", "--ipp-port", str(printer.port),
                              "--port", str(free_port()), "--timeout", "0.3", "--no-mdns")
    assert device["protocols"] == ["ipp"]
    assert device["uuid"] and device["serial"] is None
    assert device["flags"] == ["serial-unreadable"]


async def test_the_config_file_drives_discovery_and_keeps_the_inventory(tmp_path: Path) -> None:
    async with running_fleet("127.0.54.1", 3) as fleet:
        config = tmp_path / "gateway.toml"
        config.write_text(f"""
[gateway]
data_dir = "{tmp_path / 'data'}"
[snmp]
port = {fleet.config.snmp_port}
communities = ["wrong", "public"]
[ipp]
port = {fleet.config.ipp_port}
[discovery]
mdns = false
exclude = ["127.0.54.3"]
[discovery.sweep]
timeout = 0.5
[[discovery.subnets]]
cidr = "127.0.54.0/30"
[[discovery.static]]
host = "127.0.54.3"
""")
        devices = await discover("--config", str(config))
        rc, out, err = await run(*COMMAND, "discover", "--config", str(config), limit=60)
    assert rc == 0, err
    assert sorted(d["addresses"][0] for d in devices) == ["127.0.54.1", "127.0.54.2"]
    assert fleet.printers[0].state.serial in out  # the table
    assert (tmp_path / "data" / "printgw.db").exists()


async def test_bad_options_are_named() -> None:
    rc, _out, err = await run(*COMMAND, "discover", "--subnet", "10.0.0.0/33", "--no-mdns")
    assert rc == 2
    assert "discovery.subnets[0].cidr" in err and "10.0.0.0/33" in err
    rc, _out, err = await run(*COMMAND, "discover", "--no-mdns")
    assert rc == 2 and "nothing to discover" in err


async def test_discovery_across_two_network_namespaces(tmp_path: Path) -> None:
    """The gateway in one namespace, printers in the other: the simulator fleet (zeroconf + SNMP
    + IPP) and ippeveprinter registered through avahi, found by mDNS on the veth and by a sweep
    of the printers' subnet, each one record."""
    require_netns("avahi-daemon", "dbus-daemon", "ippeveprinter")
    async with netns_pair() as net, net.avahi() as avahi:
        ips = await net.add_printer_addresses(4)
        sim = await net.spawn(
            net.printers, sys.executable, "-m", "simulator.cli", "--count", "3",
            "--first-ip", ips[1], "--mdns", "--mdns-interface", ips[1], "--control-port", "0",
            "--snmp-port", "1161", "--ipp-port", "8631", "--seed", "11",
            "--mix", "color-mfp,mono-laser", stderr=subprocess.STDOUT)
        await read_until(sim, lambda line: line.startswith("printgw-sim: 3 printers"), 45)
        await avahi.ippeveprinter("PGW Discover Eve", 8632, "-M", "Acme", "-m", "Eve 10")
        _rc, out, err = await net.run(
            net.gw, *COMMAND, "discover", "--json", "--interface", net.gw_if,
            "--mdns-listen", "5", "--subnet", f"{net.host(0)}/28", "--port", "1161",
            "--ipp-port", "8631", "--timeout", "0.5", "--data-dir", str(tmp_path), limit=90)
        devices = json.loads(out)
        await net.stop(sim)
    expected = Fleet(FleetConfig(count=3, first_ip="127.0.55.1", identity_first_ip=ips[1],
                                 seed=11, profiles=["color-mfp", "mono-laser"])).printers
    by_serial = {d["serial"]: d for d in devices}
    assert len(by_serial) == 4, (devices, err)
    for printer, ip in zip(expected, ips[1:], strict=True):
        device = by_serial.pop(printer.state.serial)
        assert device["addresses"] == [ip]
        assert device["sources"] == ["mdns", "snmp-sweep"]
        assert device["protocols"] == ["ipp", "snmp"]
        assert device["uuid"] == printer.state.uuid
    [eve] = by_serial.values()  # the independent publisher: IPP only, known by its UUID
    assert eve["sources"] == ["mdns"] and eve["protocols"] == ["ipp"]
    assert eve["addresses"] == [ips[0]] and eve["uuid"]
    assert eve["model"] and "Eve 10" in eve["model"]
    assert eve["ipp_uri"] == f"ipp://{ips[0]}:8632/ipp/print"
    assert err == "" or "error" not in err.lower(), err
