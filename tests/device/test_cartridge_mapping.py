"""Cartridge type, ID and new flag per supply, and the contract state, from the contract MIB:
read from virtual printers over real SNMP, and from hand-made readings of what devices get
wrong."""

from __future__ import annotations

from gateway.device.model import DeviceStatus
from gateway.device.reader import DeviceReader
from gateway.device.snmp_mapping import apply_snmp
from protocols.snmp import contract_mib as cm
from protocols.snmp import oids
from protocols.snmp.model import SnmpCredentials, SnmpTarget
from protocols.snmp.printer import PrinterReading
from tests.support.paths import SNMP_FIXTURES
from tests.support.sim_helpers import running_fleet

CARTRIDGE_KEYS = ("cartridge_type", "cartridge_id", "cartridge_new")


async def read(reader: DeviceReader, printer) -> dict:
    target = SnmpTarget(printer.ip, printer.snmp_port, SnmpCredentials(version=2,
                                                                       community="public"))
    status = await reader.read(printer.ip, target, None)
    return status.to_json()


def by_index(status: dict) -> dict[str, dict]:
    return {supply["index"]: supply for supply in status["supplies"]}


def expected_cartridges(printer) -> dict[str, tuple]:
    state = printer.state
    return {f"{state.hr_device_index}.{s.index}": (
        (s.cartridge_type, s.cartridge_id, s.new) if s.is_cartridge else (None, None, None))
        for s in state.supplies}


async def test_cartridges_and_contract_state_of_virtual_printers() -> None:
    brother = SNMP_FIXTURES / "brother.snmprec"
    async with running_fleet("127.0.71.1", 3, seed=7,
                             profiles=["color-mfp", "legacy-laser", f"{brother}+contract"],
                             ) as fleet, DeviceReader() as reader:
        mfp, legacy, recorded = fleet.printers
        mfp.state.replace("black", "contract", "CTR-000123")
        mfp.state.set_contract_mode(2)
        mfp.state.contract_printing_prohibited = True
        mfp.state.panel_message = "Install the contract cartridge"
        mfp.state.touch()  # the agent's view is rebuilt

        status = await read(reader, mfp)
        got = {index: tuple(s[k] for k in CARTRIDGE_KEYS)
               for index, s in by_index(status).items()}
        assert got == expected_cartridges(mfp)
        black = next(s for s in status["supplies"] if s["kind"] == "toner"
                     and s["color"] == "black")
        assert (black["cartridge_type"], black["cartridge_id"], black["cartridge_new"]) == (
            "contract", "CTR-000123", True)
        assert {s["cartridge_type"] for s in status["supplies"]} == {"contract", "commercial",
                                                                     None}
        assert status["contract"] == {"supported": True, "mode": "contract-non-billing",
                                      "printing_prohibited": True,
                                      "panel_message": "Install the contract cartridge"}
        assert status["counters"]["contract"] == mfp.state.contract_pages
        assert status["counters"]["cartridge_replacements"] == 1
        assert (status["counters"]["color"], status["counters"]["mono"]) == (
            mfp.state.color_pages, mfp.state.mono_pages)
        assert status["sources"]["contract.mode"] == "snmp:pgwContractMode"

        # printing ends the "new" flag of the cartridges it used; the ID stays
        mfp.state.contract_printing_prohibited = False
        assert mfp.state.print_pages(3) == 3
        after = by_index(await read(reader, mfp))
        assert after == {i: {**s, "cartridge_new": after[i]["cartridge_new"],
                             "level_percent": after[i]["level_percent"],
                             "raw_level": after[i]["raw_level"],
                             "remaining_pages": after[i]["remaining_pages"]}
                         for i, s in by_index(status).items()}
        assert {i: tuple(s[k] for k in CARTRIDGE_KEYS) for i, s in after.items()} == \
            expected_cartridges(mfp)
        assert after[black["index"]]["cartridge_new"] is False

        # a device without the contract MIB: nothing invented
        plain = await read(reader, legacy)
        assert plain["supplies"]
        assert all(s[k] is None for s in plain["supplies"] for k in CARTRIDGE_KEYS)
        assert plain["contract"] == {"supported": False, "mode": None,
                                     "printing_prohibited": None, "panel_message": None}
        assert plain["counters"]["contract"] is None
        assert not plain["problems"]

        # a real printer's recording served with the contract MIB added
        real = await read(reader, recorded)
        got = {index: tuple(s[k] for k in CARTRIDGE_KEYS)
               for index, s in by_index(real).items()}
        assert got == expected_cartridges(recorded)
        assert any(value[0] == "commercial" for value in got.values())
        assert real["contract"]["supported"] is True


def reading_with(values: dict[str, object]) -> PrinterReading:
    """A reading of a two-supply printer (black toner 1.1, drum 1.2) plus `values`."""
    reading = PrinterReading()
    for row, kind in (("1.1", 3), ("1.2", 9)):
        reading.values[f"{oids.prtMarkerSuppliesType}.{row}"] = kind
        reading.values[f"{oids.prtMarkerSuppliesDescription}.{row}"] = b"Black Toner"
        reading.values[f"{oids.prtMarkerSuppliesLevel}.{row}"] = 50
        reading.values[f"{oids.prtMarkerSuppliesMaxCapacity}.{row}"] = 100
    reading.values.update(values)
    return reading


def apply(values: dict[str, object]) -> DeviceStatus:
    status = DeviceStatus(host="192.0.2.9")
    apply_snmp(status, reading_with(values))
    return status


def test_contract_mib_values_a_device_gets_wrong_cost_only_that_field() -> None:
    status = apply({
        f"{cm.pgwContractMode}.0": 3,
        f"{cm.pgwContractPrintingProhibited}.0": 7,            # not a TruthValue
        f"{cm.pgwPanelMessage}.0": b"x" * 300,                 # beyond SIZE (0..255)
        f"{cm.pgwContractPageCount}.0": -4,                    # a Counter32 is never negative
        f"{cm.pgwCartridgeReplacementCount}.0": 12,
        f"{cm.pgwSupplyCartridgeType}.1.1": 1,
        f"{cm.pgwSupplyCartridgeId}.1.1": b"C" * 65,           # beyond SIZE (0..64)
        f"{cm.pgwSupplyNewFlag}.1.1": 2,
        f"{cm.pgwSupplyCartridgeType}.1.2": 5,                 # neither contract nor commercial
        f"{cm.pgwSupplyCartridgeId}.1.2": b"",                 # empty: no ID
        f"{cm.pgwSupplyNewFlag}.1.2": b"yes",                  # wrong type
        f"{cm.pgwSupplyCartridgeType}.1.9": 1,                 # no such supply
    })
    toner, drum = status.supplies
    assert (toner.cartridge_type, toner.cartridge_id, toner.cartridge_new) == (
        "contract", None, False)
    assert (drum.cartridge_type, drum.cartridge_id, drum.cartridge_new) == (None, None, None)
    assert (status.contract.supported, status.contract.mode) == (True, "contract-billing")
    assert (status.contract.printing_prohibited, status.contract.panel_message) == (None, None)
    assert (status.counters.contract, status.counters.cartridge_replacements) == (None, 12)
    problems = {p.where for p in status.problems}
    assert problems == {
        "pgwContractPrintingProhibited", "pgwPanelMessage", "pgwContractPageCount",
        "contract supply 1.1 cartridge ID", "contract supply 1.2 cartridge type",
        "contract supply 1.2 new flag", "contract supply 1.9"}, status.problems


def test_without_a_valid_contract_mode_the_device_has_no_contract_mib() -> None:
    absent = apply({})
    assert absent.contract.supported is False and not absent.problems
    assert all(s.cartridge_type is None for s in absent.supplies)
    garbage = apply({f"{cm.pgwContractMode}.0": 9})
    assert garbage.contract.supported is False
    assert [p.where for p in garbage.problems] == ["pgwContractMode"]


def test_vendor_counters_win_over_the_contract_mib() -> None:
    """The first reader of a field wins; the vendor objects come first."""
    status = apply({f"{cm.pgwContractMode}.0": 1, f"{cm.pgwColorPageCount}.0": 10,
                    f"{cm.pgwMonochromePageCount}.0": 20})
    assert (status.counters.color, status.counters.mono) == (10, 20)
    assert status.sources["counters.color"] == "snmp:pgwColorPageCount"
    assert status.supplies[0].to_json()["cartridge_type"] is None


def test_part_numbers_from_descriptions() -> None:
    """Vendor conventions (Xerox `, PN`, HP `HP CODE`), or a letter-led code with a hyphen and a
    digit ending the description; nothing that merely looks like one."""
    descriptions = {
        "Black Toner Cartridge TN-210": "TN-210",
        "Cyan Ink IJ4-C": "IJ4-C",
        "Black Cartridge 827A HP CF300A": "CF300A",
        "Black Toner, PN 006R01509;SN48170": "006R01509",
        "Fuser Kit HP 110V-C1N54A, 220V-C1N58A": None,
        "Black Toner Cartridge S/N:CRUM-": None,
        "Canon Cartridge 719/719H": None,
        "Tray 1 Roller": None,
        "Drum Unit DR-X": None,
    }
    reading = PrinterReading()
    for row, text in enumerate(descriptions, start=1):
        reading.values[f"{oids.prtMarkerSuppliesDescription}.1.{row}"] = text.encode()
    status = DeviceStatus(host="192.0.2.9")
    apply_snmp(status, reading)
    assert [s.part_number for s in status.supplies] == list(descriptions.values())

