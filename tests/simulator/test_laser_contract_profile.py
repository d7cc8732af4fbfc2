"""The `contract-laser` profile: a flat-rate laser whose drum is a contract part.  Read over real
SNMP by the gateway's reader, the drum is a supply of kind `opc` with cartridge type `contract`,
its own ID and new flag, as the toner; the gateway's `supplies.cartridge` data carries both."""

from __future__ import annotations

from gateway.device.model import DeviceStatus
from gateway.device.reader import DeviceReader
from gateway.uplink.data_types import project
from protocols.snmp.model import SnmpCredentials, SnmpTarget
from simulator.printer import VirtualPrinter
from simulator.state import PrinterError
from tests.support.sim_helpers import running_fleet


async def read(reader: DeviceReader, printer: VirtualPrinter) -> DeviceStatus:
    target = SnmpTarget(printer.ip, printer.snmp_port,
                        SnmpCredentials(version=2, community="public"))
    return await reader.read(printer.ip, target, None)


async def test_the_drum_is_a_contract_supply_as_the_toner() -> None:
    async with running_fleet("127.0.96.50", 1, seed=3, profiles=["contract-laser"]) as fleet, \
            DeviceReader() as reader:
        [printer] = fleet.printers
        state = printer.state
        status = await read(reader, printer)
        by_kind = {s.kind: s for s in status.supplies}
        assert set(by_kind) == {"toner", "opc"}
        for kind in ("toner", "opc"):
            expected = state.supply(kind)
            supply = by_kind[kind]
            assert (supply.cartridge_type, supply.cartridge_id, supply.cartridge_new) == (
                "contract", expected.cartridge_id, False)
        assert status.contract.supported and status.contract.mode == "non-contract"
        data = project(status, ["supplies.cartridge", "supplies.kind", "counters.contract"])
        kinds = {s["index"]: s["kind"] for s in data["supplies.kind"]}
        assert {kinds[c["index"]] for c in data["supplies.cartridge"]
                if c["cartridge_type"] == "contract"} == {"toner", "opc"}

        # a contract machine prints only in a contract mode, and counts those pages
        try:
            state.print_pages(5)
        except PrinterError as exc:
            assert "contract" in str(exc)
        else:
            raise AssertionError("a contract cartridge printed outside a contract mode")
        state.set_contract_mode(2)
        drum_before = state.supply("opc").level
        assert state.print_pages(5) == 5
        assert state.supply("opc").level < drum_before  # the drum wears with the pages
        state.replace("opc", "contract", "DRUM-0002")  # a new contract drum
        state.touch()
        status = await read(reader, printer)
        drum = next(s for s in status.supplies if s.kind == "opc")
        assert (drum.cartridge_type, drum.cartridge_id, drum.cartridge_new) == (
            "contract", "DRUM-0002", True)
        assert status.counters.contract == 5
        assert status.counters.cartridge_replacements == 0  # a drum is not a cartridge


async def test_other_profiles_list_only_their_cartridges_in_the_contract_mib() -> None:
    async with running_fleet("127.0.97.50", 1, seed=3, profiles=["mono-laser"]) as fleet, \
            DeviceReader() as reader:
        status = await read(reader, fleet.printers[0])
        drum = next(s for s in status.supplies if s.kind == "opc")
        assert (drum.cartridge_type, drum.cartridge_id) == (None, None)
