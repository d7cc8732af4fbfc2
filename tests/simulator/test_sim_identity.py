"""Every virtual printer has its own MAC, serial and UUID across `printgw-sim` processes and seeds
(issue 20), the same ones each time the same command starts, and they look like real ones."""

from __future__ import annotations

import asyncio
import re

from gateway.device.model import Identity
from gateway.device.reader import DeviceReader, IppEndpoint
from protocols.snmp.model import SnmpCredentials, SnmpTarget
from simulator.fleet import addresses
from simulator.identity import SERIAL_ALPHABET, PrinterKey
from simulator.profiles import BUILTIN
from tests.support.paths import SNMP_FIXTURES
from tests.support.sim_helpers import sim_process

COUNT = 8  # two of each profile of the default mix


async def identities(first_ip: str, sim: dict) -> list[Identity]:
    """What a gateway reads (SNMP and IPP) as each printer's identity."""
    async with DeviceReader(read_deadline=15) as reader:
        statuses = await asyncio.gather(*(
            reader.read(ip, SnmpTarget(ip, sim["snmp"], SnmpCredentials(community="public")),
                        IppEndpoint.for_host(ip, sim["ipp"]))
            for ip in addresses(first_ip, COUNT)))
    return [s.identity for s in statuses]


def shared(*fleets: list[Identity]) -> dict[str, set[str]]:
    """MACs, serials and UUIDs that occur more than once over all the fleets' printers."""
    out = {}
    for field in ("mac", "serial", "uuid"):
        values = [getattr(i, field) for fleet in fleets for i in fleet]
        assert all(values) or field == "uuid", (field, values)  # legacy-laser: no IPP UUID
        present = [v for v in values if v]
        out[field] = {v for v in present if present.count(v) > 1}
    return out


async def test_processes_and_seeds_share_no_identity_and_a_restart_keeps_them() -> None:
    async with sim_process("127.0.156.1", COUNT, seed=0) as a, \
            sim_process("127.0.157.1", COUNT, seed=0) as b, \
            sim_process("127.0.156.1", COUNT, seed=1) as c, \
            sim_process("127.0.158.1", COUNT, seed=7) as d:
        # a and b: the same seed, other addresses; c: a's addresses (on another port), another
        # seed; d: another seed, other addresses
        first = await identities("127.0.156.1", a)
        fleets = [first, await identities("127.0.157.1", b),
                  await identities("127.0.156.1", c), await identities("127.0.158.1", d)]
        ports = {k: a[k] for k in ("snmp", "ipp", "control")}
    assert shared(*fleets) == {"mac": set(), "serial": set(), "uuid": set()}
    assert sum(1 for fleet in fleets for i in fleet if i.uuid) >= 4 * COUNT * 3 // 4
    async with sim_process("127.0.156.1", COUNT, seed=0, ports=ports) as again:
        assert await identities("127.0.156.1", again) == first


def test_identities_look_real_and_are_unique_in_a_scale_fleet() -> None:
    # the bench's fleet at 10,000 (127.60.0.0/14), and others of other seeds
    keys = [PrinterKey(0, ip) for ip in addresses("127.60.0.1", 10_000)]
    keys += [PrinterKey(seed, ip) for seed in (1, 2) for ip in addresses("127.60.0.1", 2_000)]
    for attribute in ("mac", "uuid", "number"):
        assert len({getattr(k, attribute) for k in keys}) == len(keys), attribute
    assert len({k.serial("ACX") for k in keys}) == len(keys)
    for key in keys[:50]:
        assert key.mac[0] & 0b11 == 0b10  # unicast, locally administered
        assert re.fullmatch(f"ACX[{SERIAL_ALPHABET}]{{9}}", key.serial("ACX"))
    recorded = "CNB1h-34567"
    shaped = {k.serial_like(recorded) for k in keys}
    assert len(shaped) == len(keys)
    assert all(re.fullmatch(r"[A-Z]{3}\d[a-z]-\d{5}", s) for s in shaped)


def test_a_profile_gives_its_format_and_the_key_decides() -> None:
    import random

    from simulator.profiles import load_snmprec
    key = PrinterKey(3, "127.0.159.1")
    for profile in [*BUILTIN.values(), load_snmprec(SNMP_FIXTURES / "sharp.snmprec")]:
        a = profile.make_state(1, random.Random(5), key)
        b = profile.make_state(2, random.Random(6), key)
        assert (a.serial, a.uuid, a.mac) == (b.serial, b.uuid, b.mac)
        other = profile.make_state(1, random.Random(5), PrinterKey(4, "127.0.159.1"))
        assert {a.serial, a.uuid, a.mac}.isdisjoint({other.serial, other.uuid, other.mac})
        if profile.recorded_serial:
            assert len(a.serial) == len(profile.recorded_serial)
        else:
            assert a.serial.startswith(profile.serial_prefix)
