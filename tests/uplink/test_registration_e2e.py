"""Registration from the device, end to end (issue 16): the virtual fleet, the reference cloud and
the real `printgw run` daemon.

- the cloud's registrations carry each device's type as the device tells it: the virtual colour
  MFP (a scanner and a fax unit in its HOST-RESOURCES device table, `faxout` over IPP) is an `mfp`,
  the mono laser and the inkjet are `printer`s;
- `[[gateway.sites]]` gives the devices of a host or subnet their own time zone and shipping
  destination (the most specific rule per value, `[gateway]`'s by default);
- after a reload (SIGHUP) a device registered from then on gets the new rules; a device
  registered before is registered again with them at its next FIG. 7 sync (here `printgw
  sync`), and only the devices whose values changed.

Addresses: 127.0.116.0-127.0.117.255.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from gateway.device.device_type import device_functions, device_type
from gateway.device.model import DeviceStatus
from simulator.printer import VirtualPrinter
from tests.support.printgw_cli import COMMAND
from tests.support.sim_helpers import run, running_fleet
from tests.support.uplink_harness import Harness, uplink_setup

pytestmark = pytest.mark.slow


def _registration(view: dict[str, Any]) -> tuple[str, str, str]:
    registration = view["registration"]
    return (registration["device_type"], registration["time_zone"],
            registration["shipping_destination"])


async def _registered(h: Harness, count: int) -> dict[str, dict[str, Any]] | None:
    printers = await h.printers()
    return printers if len(printers) >= count else None


async def test_device_types_and_sites_in_the_cloud(tmp_path: Path) -> None:
    async with uplink_setup(tmp_path, "127.0.116.1",
                            ["color-mfp", "mono-laser", "inkjet", "mono-laser"]) as h:
        mfp, laser, inkjet, late = h.fleet.printers
        berlin = {"name": "Berlin", "hosts": [inkjet.ip], "time_zone": "Europe/Berlin",
                  "shipping_destination": "DE"}
        lab = {"name": "lab", "networks": ["127.0.116.0/24"], "time_zone": "America/New_York"}
        h.write_config(discovery={"static": [{"host": p.ip} for p in (mfp, laser, inkjet)]},
                       gateway={"sites": [berlin, lab]})
        daemon = await h.start_daemon()

        printers = await h.wait_for(lambda: _registered(h, 3), 60, "three printers registered")
        assert _registration(printers[mfp.state.serial]) == (
            "mfp", "America/New_York", "JP")  # the /24 sets the zone; [gateway] the destination
        assert _registration(printers[laser.state.serial]) == ("printer", "America/New_York", "JP")
        assert _registration(printers[inkjet.state.serial]) == ("printer", "Europe/Berlin", "DE")

        # A reload: new rules apply to the printer registered from then on at once, to the
        # others at their next FIG. 7 sync.
        sydney = {"name": "Sydney", "networks": ["127.0.116.0/24"],
                  "time_zone": "Australia/Sydney", "shipping_destination": "AU"}
        h.write_config(discovery={"static": [{"host": p.ip} for p in h.fleet.printers]},
                       gateway={"sites": [berlin, sydney]})
        daemon.process.send_signal(signal.SIGHUP)
        printers = await h.wait_for(lambda: _registered(h, 4), 60,
                                    "the fourth printer registered after the reload")
        assert _registration(printers[late.state.serial]) == (
            "printer", "Australia/Sydney", "AU")
        assert _registration(printers[laser.state.serial]) == ("printer", "America/New_York", "JP")

        code, out, err = await run(*COMMAND, "sync", "--config", str(h.config_path), limit=60)
        assert code == 0, out + err
        printers = await h.printers()
        assert _registration(printers[mfp.state.serial]) == ("mfp", "Australia/Sydney", "AU")
        assert _registration(printers[laser.state.serial]) == ("printer", "Australia/Sydney", "AU")
        assert _registration(printers[inkjet.state.serial]) == ("printer", "Europe/Berlin", "DE")
        again = [line for line in daemon.log().splitlines()
                 if "registered again" in line and "time_zone" in line]
        assert len(again) == 2, again  # the MFP and the laser, not the inkjet
        assert await daemon.stop() == 0



async def _poll(printer: VirtualPrinter, *options: str) -> DeviceStatus:
    code, out, err = await run(*COMMAND, "poll", printer.ip, "--port", str(printer.snmp_port),
                               "--ipp-port", str(printer.ipp_port), "--json", *options, limit=30)
    assert code == 0, err
    return DeviceStatus.from_json(json.loads(out))


@pytest.mark.parametrize(("profile", "options", "kind", "evidence"), [
    ("color-mfp", (), "mfp", {"scan": "snmp:hrDeviceDescr", "fax": "snmp:hrDeviceDescr"}),
    ("color-mfp", ("--no-snmp",), "mfp", {"fax": "ipp:ipp-features-supported=faxout"}),
    ("mono-laser", (), "printer", {"print": "snmp:hrDeviceType"}),
    ("inkjet", ("--no-snmp",), "printer", {"print": "device-id:CLS:PRINTER"}),
])
async def test_what_the_virtual_devices_say(profile: str, options: tuple[str, ...], kind: str,
                                            evidence: dict[str, str]) -> None:
    """`printgw poll --json` over SNMP and IPP (or IPP alone): the type and its evidence."""
    async with running_fleet("127.0.117.1", 1, profiles=[profile]) as fleet:
        status = await _poll(fleet.printers[0], *options)
    assert device_type(status) == kind, status.functions
    for function, where in evidence.items():
        assert status.functions[function].startswith(where), status.functions
    if kind == "printer":
        assert device_functions(status) == {"print"}, status.functions
