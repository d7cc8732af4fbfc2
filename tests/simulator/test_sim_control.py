"""The control API (in process, and `printgw-sim` as a process) and `printgw poll` against it."""

from __future__ import annotations

import json
import sys

import aiohttp

from protocols.hosts import free_port
from protocols.snmp import contract_mib as cm
from simulator.control_api import start_control_api
from simulator.fleet import addresses
from tests.support.sim_helpers import run, running_fleet, sim_process


async def test_control_api_drives_the_fleet_and_net_snmp_sees_it() -> None:
    async with sim_process("127.0.22.1", 4) as sim, aiohttp.ClientSession() as http:
        api = sim["api"]
        async with http.get(f"{api}/printers") as r:
            printers = await r.json()
        assert [p["ip"] for p in printers] == addresses("127.0.22.1", 4)
        assert [p["profile"] for p in printers] == [
            "color-mfp", "mono-laser", "inkjet", "legacy-laser"]
        first = printers[0]
        target = f"{first['ip']}:{sim['snmp']}"
        async with http.post(f"{api}/printers/{first['name']}/print",
                             json={"pages": 50, "color": True}) as r:
            assert r.status == 200
            body = await r.json()
        assert body["printed"] == 50
        assert body["printer"]["counters"]["total"] == first["total_pages"] + 50
        _rc, out, _ = await run("snmpget", "-v2c", "-c", "public", "-Oqv", target,
                                "1.3.6.1.2.1.43.10.2.1.4.1.1", check=True)
        assert int(out) == first["total_pages"] + 50
        async with http.post(f"{api}/print", json={"pages": 1}) as r:
            assert r.status == 200
        async with http.post(f"{api}/printers/{first['serial']}/replace",
                             json={"supply": "cyan", "cartridge_type": "contract"}) as r:
            state = await r.json()
        assert state["counters"]["cartridge_replacements"] == 1
        assert state["supplies"][1]["cartridge_type"] == "contract"
        async with http.post(f"{api}/printers/{first['ip']}/errors",
                             json={"error": "paper-jam"}) as r:
            assert "media-jam-error" in (await r.json())["reasons"]
        async with http.post(f"{api}/printers/0/errors", json={"error": "bogus"}) as r:
            assert r.status == 400 and "unknown error" in (await r.json())["error"]
        async with http.post(f"{api}/printers/0/print", data="{not json") as r:
            assert r.status == 400
        async with http.post(f"{api}/printers/0/print", json={"pages": "ten"}) as r:
            assert r.status == 400
        async with http.get(f"{api}/printers/nope") as r:
            assert r.status == 404
        async with http.delete(f"{api}/printers/0/errors/paper-jam") as r:
            assert (await r.json())["errors"] == []
        await run("snmpset", "-v2c", "-c", "private", target, f"{cm.pgwContractMode}.0", "i",
                  "3", check=True)
        async with http.get(f"{api}/printers/0") as r:
            assert (await r.json())["contract"]["mode"] == "contract-billing"
        async with http.post(f"{api}/printers/1/offline") as r:
            assert (await r.json())["unreachable"] is True
        rc, _out, _err = await run("snmpget", "-v2c", "-c", "public", "-t", "0.3", "-r", "0",
                                 f"{printers[1]['ip']}:{sim['snmp']}", "1.3.6.1.2.1.1.5.0")
        assert rc != 0
        async with http.post(f"{api}/printers/1/online") as r:
            assert (await r.json())["unreachable"] is False


async def test_gateway_poll_reads_what_the_simulator_says() -> None:
    async with sim_process("127.0.22.20", 1, "--profile", "color-mfp") as sim, \
            aiohttp.ClientSession() as http:
        api = sim["api"]

        async def poll() -> dict:
            _rc, out, _err = await run(sys.executable, "-m", "gateway.app.cli", "poll",
                                       "127.0.22.20",
                                      "--port", str(sim["snmp"]), "--community", "public",
                                      "--ipp-port", str(sim["ipp"]), "--json", check=True,
                                      limit=30)
            return json.loads(out)

        async def state() -> dict:
            async with http.get(f"{api}/printers/0") as r:
                return await r.json()

        def check(read: dict, st: dict) -> None:
            assert read["identity"]["serial"] == st["serial"]
            assert read["counters"]["total"] == st["counters"]["total"]
            by_index = {s["index"]: s for s in read["supplies"]}
            for s in st["supplies"]:
                got = by_index[f"1.{s['index']}"]
                assert got["description"] == s["description"]
                if s["kind"] == "wasteToner":
                    assert got["level_state"] == "some-remaining"
                    continue
                assert got["raw_level"] == s["level"]
                assert got["max_capacity"] == s["max_capacity"]
                assert got["level_percent"] == s["percent"]
                assert got["kind"] == s["kind"]

        check(await poll(), await state())
        async with http.post(f"{api}/printers/0/print", json={"pages": 500, "color": True}):
            pass
        async with http.post(f"{api}/printers/0/replace", json={"supply": "black"}):
            pass
        check(await poll(), await state())


async def test_control_api_levels_power_and_contract() -> None:
    async with running_fleet("127.0.22.40", 2, profiles=["color-mfp"]) as fleet:
        port = free_port()
        runner = await start_control_api(fleet, "127.0.0.1", port)
        api = f"http://127.0.0.1:{port}/printers"
        try:
            async with aiohttp.ClientSession() as http:
                async with http.post(f"{api}/0/level", json={"supply": "cyan", "percent": 4}) as r:
                    assert r.status == 200
                    cyan = (await r.json())["supplies"][1]
                assert cyan["percent"] == 4
                assert "toner-low-warning" in fleet.printers[0].state.reasons()
                async with http.post(f"{api}/0/level", json={"supply": "cyan"}) as r:
                    assert r.status == 400 and "percent" in (await r.json())["error"]
                async with http.post(f"{api}/1/sleep") as r:
                    assert (await r.json())["asleep"] is True
                async with http.post(f"{api}/1/wake") as r:
                    assert (await r.json())["asleep"] is False
                async with http.post(f"{api}/1/errors", json={"error": "cover-open"}):
                    pass
                async with http.delete(f"{api}/1/errors") as r:
                    assert (await r.json())["errors"] == []
                async with http.post(f"{api}/0/contract",
                                     json={"mode": "contract-billing", "panel_message": "Hi"}) as r:
                    contract = (await r.json())["contract"]
                assert contract["mode"] == "contract-billing" and contract["panel_message"] == "Hi"
                async with http.post(f"{api}/0/contract", json={"mode": "bogus"}) as r:
                    assert r.status == 400
                async with http.post(f"{api}/0/contract", json={"mode": "non-contract"}):
                    pass
                async with http.post(f"{api}/0/replace",
                                     json={"supply": "black", "cartridge_type": "contract"}):
                    pass
                async with http.post(f"{api}/0/print", json={"pages": 1}) as r:
                    assert r.status == 409 and "not allowed" in (await r.json())["error"]
        finally:
            await runner.cleanup()
