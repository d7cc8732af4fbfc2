"""Profiles from real `.snmprec` recordings keep the device's quirks and gain state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from protocols.snmp import oids
from simulator.profiles import BUILTIN, load_snmprec
from tests.support.paths import SNMP_FIXTURES
from tests.support.sim_helpers import running_fleet, snmpget, snmpwalk

RECORDINGS = sorted(SNMP_FIXTURES.glob("*.snmprec"))


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.stem)
def test_every_recording_loads(path: Path) -> None:
    profile = load_snmprec(path)
    expected = json.loads(path.with_suffix("").with_suffix(".expected.json").read_text())
    assert {f"{s.device_index}.{s.index}" for s in profile.supplies} >= {
        s["index"] for s in expected["supplies"]}
    if expected.get("page_count_total") is not None:
        assert profile.recorded_life_count == expected["page_count_total"]


async def test_recording_profile_served_with_quirks_and_state() -> None:
    sharp = SNMP_FIXTURES / "sharp.snmprec"
    brother = SNMP_FIXTURES / "brother.snmprec"
    async with running_fleet("127.0.25.1", 2, profiles=[str(sharp), f"{brother}+contract"],
                             seed=3) as fleet:
        p = fleet.printers[0]
        raw = {line.split("|")[0]: line.split("|") for line in
               sharp.read_text().splitlines() if line.count("|") >= 2}
        walk = await snmpwalk(p, oids.sysObjectID)  # recorded scalars served as recorded
        assert walk[f"{oids.sysObjectID}.0"] == "." + raw[f"{oids.sysObjectID}.0"][2]
        descr = await snmpwalk(p, oids.prtMarkerSuppliesDescription)
        assert len(descr) == len(p.state.supplies)
        # numeric supplies wear; recorded specials (-3 …) stay special
        before = await snmpwalk(p, oids.prtMarkerSuppliesLevel)
        p.state.print_pages(200, color=True, coverage=20)
        after = await snmpwalk(p, oids.prtMarkerSuppliesLevel)
        assert before.keys() == after.keys()
        assert any(int(after[k]) < int(v) for k, v in before.items() if int(v) > 0)
        assert all(after[k] == v for k, v in before.items() if int(v) < 0)
        total = await snmpget(p, f"{oids.prtMarkerLifeCount}.1.1")
        assert total[f"{oids.prtMarkerLifeCount}.1.1"] == str(p.state.total_pages)
        # the Brother recording has no prtGeneralSerialNumber: the quirk is kept
        q = fleet.printers[1]
        got = await snmpget(q, f"{oids.prtGeneralSerialNumber}.1",
                            "1.3.6.1.4.1.32473.1.1.1.1.0")
        assert got[f"{oids.prtGeneralSerialNumber}.1"].startswith("No Such Object")
        assert got["1.3.6.1.4.1.32473.1.1.1.1.0"] == "1"  # +contract adds the contract MIB


def test_builtin_profiles_are_reproducible() -> None:
    import random
    for profile in BUILTIN.values():
        a = profile.make_state(1, random.Random(5))
        b = profile.make_state(1, random.Random(5))
        assert a.serial == b.serial and a.uuid == b.uuid
        assert [s.level for s in a.supplies] == [s.level for s in b.supplies]
