"""mDNS between two hosts: the gateway in one network namespace, printers in another.

The printers are (a) the simulator fleet on the printers' veth addresses, advertised by zeroconf,
and (b) publishers independent of this project: avahi-daemon with avahi-publish, and CUPS's
ippeveprinter (which registers through avahi and serves real IPP).  The gateway side is
`python -m protocols.mdns`, run in the gateway's namespace.  Nothing here touches the machine's
own interfaces: see tests/support/netns.py.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from typing import Any

import pytest

from simulator.cli import parse_args
from simulator.fleet import Fleet, FleetConfig, addresses, in_private_netns
from tests.support.netns import NetnsPair, netns_pair, read_until, require_netns

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

IPP = "_ipp._tcp.local."
IPPS = "_ipps._tcp.local."
PDL = "_pdl-datastream._tcp.local."
WAIT = 45.0  # generous: a loaded 2-core CI machine
PROFILES = ["color-mfp", "mono-laser", "inkjet"]
SEED = 4213


async def browse(net: NetnsPair, interface: str, duration: float = 4.0) -> list[dict[str, Any]]:
    """`python -m protocols.mdns --json` in the gateway's namespace."""
    _rc, out, _err = await net.run(net.gw, sys.executable, "-m", "protocols.mdns",
                                   "--interface", interface, "--duration", str(duration),
                                   "--json", limit=duration + 60)
    services = json.loads(out)
    keys = [(s["type"], s["name"]) for s in services]
    assert len(keys) == len(set(keys)), f"duplicates: {keys}"
    return services


async def follow(net: NetnsPair) -> Any:
    """`python -m protocols.mdns --follow --json`: events as JSON lines."""
    return await net.spawn(net.gw, sys.executable, "-m", "protocols.mdns", "--interface",
                           net.gw_if, "--follow", "--json", "--duration", "200",
                           stderr=subprocess.STDOUT)


async def events_until(proc: Any, done: Any, seen: list[dict[str, Any]]) -> None:
    """Read events into `seen` until `done(seen)` (other lines: diagnostics, kept in errors)."""
    def check(line: str) -> bool:
        if line.startswith("{"):
            seen.append(json.loads(line))
        return bool(done(seen))
    await read_until(proc, check, WAIT)


def _names(events: list[dict[str, Any]], kind: str) -> list[str]:
    return [e["service"]["name"] for e in events if e["event"] == kind]


async def test_simulator_fleet_seen_from_the_gateway_namespace() -> None:
    require_netns()
    async with netns_pair() as net:
        ips = await net.add_printer_addresses(3)
        # The same fleet, in this process, for the expected values (nothing is started).
        expected = Fleet(FleetConfig(count=3, first_ip="127.0.40.1", profiles=PROFILES,
                                     seed=SEED, identity_first_ip=ips[0])).printers
        _rc, out, _err = await net.run(net.printers, sys.executable, "-c", "from simulator.fleet "
                                       f"import addresses; print(addresses('{net.host(254)}', 3))")
        assert out.strip() == repr([net.host(254), f"10.213.{net.octet + 1}.1",
                                    f"10.213.{net.octet + 1}.2"])
        watcher = await follow(net)
        sim = await net.spawn(
            net.printers, sys.executable, "-m", "simulator.cli", "--count", "3",
            "--first-ip", ips[0], "--mdns", "--mdns-interface", ips[0], "--control-port", "0",
            "--snmp-port", "1161", "--ipp-port", "8631", "--mix", ",".join(PROFILES),
            "--seed", str(SEED), stderr=subprocess.STDOUT)
        await read_until(sim, lambda line: line.startswith("printgw-sim: 3 printers"), WAIT)

        services = await browse(net, net.gw_if)
        ipp = sorted((s for s in services if s["type"] == IPP), key=lambda s: s["addresses"])
        pdl = sorted((s for s in services if s["type"] == PDL), key=lambda s: s["addresses"])
        assert [s["addresses"] for s in ipp] == [[ip] for ip in ips], services
        assert [s["addresses"] for s in pdl] == [[ip] for ip in ips]
        for service, printer, ip in zip(ipp, expected, ips, strict=True):
            st = printer.state
            assert service["uuid"] == st.uuid.lower()
            assert service["make_and_model"] == st.make_and_model == service["txt"]["ty"]
            assert (service["manufacturer"], service["model"]) == (st.manufacturer, st.model)
            assert service["product"] == st.model
            assert service["color"] is st.color and service["duplex"] is printer.profile.duplex
            assert service["pdl"] and service["resource_path"] == "ipp/print"
            assert service["ipp_uri"] == f"ipp://{ip}:8631/ipp/print"
            assert service["admin_url"] == f"http://{ip}:8631/"
            assert service["subtypes"] == []
        assert {s["uuid"] for s in pdl} == {s["uuid"] for s in ipp}
        assert all(s["port"] == 9100 and s["ipp_uri"] is None for s in pdl)

        # Followed from before the fleet started: each service added once; all removed when
        # the fleet stops (zeroconf's goodbye packets).
        names = {s["name"] for s in ipp + pdl}
        events: list[dict[str, Any]] = []
        await events_until(watcher, lambda ev: set(_names(ev, "added")) >= names, events)
        assert sorted(n for n in _names(events, "added") if n in names) == sorted(names)
        await net.stop(sim)
        await events_until(watcher, lambda ev: set(_names(ev, "removed")) >= names, events)
        await net.stop(watcher, signal.SIGINT)


async def test_avahi_and_ippeveprinter_seen_from_the_gateway_namespace() -> None:
    require_netns("avahi-daemon", "avahi-publish", "dbus-daemon", "ippeveprinter", "ipptool")
    uuid = "6e0c8a5f-3b1d-4c2e-9f70-1a2b3c4d5e6f"
    async with netns_pair() as net, net.avahi() as avahi:
        ip = net.printer_ips[0]
        watcher = await follow(net)
        published = await avahi.publish(
            "PGW Avahi Printer", "_ipp._tcp", 631,
            ["txtvers=1", "ty=Acme Avahi 100", f"UUID=urn:uuid:{uuid.upper()}",
             "usb_MFG=Acme", "usb_MDL=Avahi 100", "product=(Avahi 100)", "rp=ipp/print",
             "Color=T", "Duplex=F", "pdl=application/pdf,image/urf", "adminurl=http://x/",
             "TLS=1.2", b"note=B\xfcro 2"],  # Latin-1, not UTF-8
            subtypes=["_universal"])
        await avahi.ippeveprinter("PGW IppEve", 8631, "-r", "_universal", "-M", "Acme",
                                  "-m", "Eve 9", "-l", "Lab")

        # By address this time (the interface name is used above and below).
        services = await browse(net, net.gw_ip)
        by_key = {(s["type"], s["instance"]): s for s in services}
        a = by_key[(IPP, "PGW Avahi Printer")]
        assert a["addresses"] == [ip] and a["port"] == 631
        assert a["server"] == f"{avahi.host_name}.local."
        assert a["subtypes"] == ["_universal"]  # one service, listed under the subtype too
        assert a["uuid"] == uuid and a["make_and_model"] == "Acme Avahi 100"
        assert (a["manufacturer"], a["model"], a["product"]) == ("Acme", "Avahi 100",
                                                                 "Avahi 100")
        assert (a["color"], a["duplex"], a["tls"]) == (True, False, "1.2")
        assert a["pdl"] == ["application/pdf", "image/urf"]
        assert a["note"] == "Büro 2"
        assert a["ipp_uri"] == f"ipp://{ip}:631/ipp/print"

        eve = by_key[(IPP, "PGW IppEve")]
        assert eve["addresses"] == [ip] and eve["port"] == 8631
        assert eve["subtypes"] == ["_universal"]
        assert eve["uuid"] is not None and eve["make_and_model"] == "Acme Eve 9"
        assert eve["ipp_uri"] == f"ipp://{ip}:8631/ipp/print"
        assert by_key[(IPPS, "PGW IppEve")]["ipp_uri"] == f"ipps://{ip}:8631/ipp/print"
        assert by_key[(IPPS, "PGW IppEve")]["uuid"] == eve["uuid"]
        # The advertised URI serves IPP, seen from the gateway's side.
        _rc, out, _err = await net.run(net.gw, "ipptool", "-T", "10", "-tv", eve["ipp_uri"],
                                       "get-printer-attributes.test")
        assert "[PASS]" in out and "Acme Eve 9" in out, out

        # Withdrawing one service is seen as a removal; the other printer stays.
        events: list[dict[str, Any]] = []
        await events_until(watcher, lambda ev: {a["name"], eve["name"]} <= set(
            _names(ev, "added")), events)
        assert _names(events, "added").count(a["name"]) == 1
        await net.stop(published)
        await events_until(watcher, lambda ev: a["name"] in _names(ev, "removed"), events)
        assert eve["name"] not in _names(events, "removed")
        await net.stop(watcher, signal.SIGINT)


def test_simulator_stays_on_loopback_outside_a_namespace() -> None:
    if in_private_netns():
        pytest.skip("this test process itself runs in a network namespace")
    assert addresses("127.0.40.254", 2) == ["127.0.40.254", "127.0.41.1"]
    with pytest.raises(ValueError, match="network namespace"):
        addresses("10.213.0.2", 2)
    with pytest.raises(ValueError, match=r"leave 127\.0\.0\.0/8"):
        addresses("127.255.255.254", 2)
    for argv in (["--first-ip", "10.213.0.2"], ["--mdns", "--mdns-interface", "192.0.2.1"],
                 ["--mdns-interface", "0.0.0.0"]):
        with pytest.raises(SystemExit):
            parse_args(argv)
