"""Maintenance parts: drum, fuser, transfer, feed and maintenance kits as supplies of the right
part, with their life in pages where the device counts it in impressions; colourless parts have
no colour.  Decided from the Printer-MIB type, else from the description in several languages;
end to end against a virtual printer serving such parts."""

from __future__ import annotations

import pytest

from gateway.device.model import Supply
from gateway.device.reader import DeviceReader, IppEndpoint
from gateway.device.supply_parts import apply_part, drop_mono_colours, part_of
from protocols.colors import from_description
from protocols.snmp.model import SnmpCredentials, SnmpTarget
from tests.support.sim_helpers import running_fleet


@pytest.mark.parametrize(("kind", "description", "expected"), [
    ("toner", "Black Toner Cartridge TK-5240K", "toner"),
    ("tonerCartridge", "Cyan Cartridge HP CF411A", "toner"),
    ("inkCartridge", "Black Ink T9441", "ink"),
    ("wasteToner", "Waste Toner Box", "waste"),
    ("opc", "Drum Unit DR-2400", "drum"),
    ("developer", "Developer Unit", "developer"),
    ("fuser", "Fuser Kit", "fuser"),
    ("transferUnit", "Transfer Belt", "transfer"),
    ("cleanerUnit", "Cleaning Unit", "cleaner"),
    ("staples", "Staple Cartridge", "finisher"),
    # no type column (or `other`): the description tells
    (None, "Waste Toner Container", "waste"),
    (None, "Maintenance Kit PK-1011", "maintenance-kit"),
    (None, "PK-1011", "maintenance-kit"),
    (None, "MK-3170", "maintenance-kit"),
    (None, "DK-1150", "drum"),
    (None, "Fuser Unit", "fuser"),
    (None, "Fixiereinheit", "fuser"),
    (None, "Unité de fixation", "fuser"),
    (None, "Transfer Roller", "transfer"),
    (None, "Transfer Belt Cleaner", "cleaner"),
    (None, "Second Bias Transfer Roll", "transfer"),
    (None, "Document Feeder Kit HP C1P70A", "feed"),
    (None, "Tray 1 Retard Roller Life", "feed"),
    (None, "Transferband", "transfer"),
    (None, "Pickup Roller", "feed"),
    (None, "ADF Roller Kit", "feed"),
    (None, "Paper Feed Kit PF-4100", "feed"),
    (None, "Bildtrommel", "drum"),
    (None, "Tambour", "drum"),
    (None, "Imaging Unit", "drum"),
    (None, "ドラムユニット", "drum"),
    (None, "定着ユニット", "fuser"),
    (None, "転写ベルト", "transfer"),
    (None, "給紙ローラー", "feed"),
    (None, "廃トナーボックス", "waste"),
    (None, "黑色硒鼓", "drum"),
    (None, "定影组件", "fuser"),
    (None, "转印带", "transfer"),
    (None, "废粉盒", "waste"),
    (None, "維護套件", "maintenance-kit"),
    (None, "드럼 유닛", "drum"),
    (None, "정착 유닛", "fuser"),
    (None, "폐토너통", "waste"),
    (None, "Black Toner", "toner"),
    (None, "Black Cartridge HP CF217A", "toner"),
    (None, "トナー(K)", "toner"),
    (None, "Tinte Schwarz", "ink"),
    (None, "Something", None),
    (None, None, None),
])
def test_part_from_kind_or_description(kind: str | None, description: str | None,
                                       expected: str | None) -> None:
    assert part_of(kind, description) == expected


@pytest.mark.parametrize(("kind", "description", "color"), [
    (None, "Maintenance Kit PK-1011", None),
    ("fuser", "Fuser Unit (K)", None),
    ("wasteToner", "Waste Toner Box K", None),
    (None, "Transfer Belt Unit", None),
    ("opc", "Cyan Drum Unit", "cyan"),
    ("toner", "Toner (K)", "black"),
])
def test_colourless_parts_have_no_colour(kind: str | None, description: str,
                                         color: str | None) -> None:
    supply = Supply("1.1", description=description, kind=kind,
                    color=from_description(description))
    apply_part(supply)
    assert supply.color == color


def test_a_mono_printers_drum_has_no_colour() -> None:
    def supplies(*rows: tuple[str, str]) -> list[Supply]:
        out = [Supply(f"1.{i}", description=d, kind=k, color=from_description(d))
               for i, (k, d) in enumerate(rows, 1)]
        for supply in out:
            apply_part(supply)
        drop_mono_colours(out)
        return out

    mono = supplies(("toner", "Toner (K)"), ("opc", "Drum Unit (K)"))
    assert [s.color for s in mono] == ["black", None]
    color = supplies(("toner", "Black Toner"), ("toner", "Cyan Toner"), ("opc", "Black Drum"),
                     ("opc", "Cyan Drum"))
    assert [s.color for s in color] == ["black", "cyan", "black", "cyan"]


def test_remaining_pages_only_for_levels_in_pages() -> None:
    drum = Supply("1.2", kind="opc", unit="impressions", raw_level=41000)
    toner = Supply("1.1", kind="toner", unit="percent", raw_level=40)
    unknown = Supply("1.3", kind="fuser", unit="impressions", raw_level=-3)
    for supply in (drum, toner, unknown):
        apply_part(supply)
    assert (drum.remaining_pages, toner.remaining_pages, unknown.remaining_pages) == (
        41000, None, None)


async def test_virtual_printer_maintenance_parts_over_snmp_and_ipp() -> None:
    async with running_fleet("127.0.122.1", 1, seed=11, profiles=["maintenance-mfp"]) as fleet, \
            DeviceReader() as reader:
        printer = fleet.printers[0]
        target = SnmpTarget(printer.ip, printer.snmp_port,
                            SnmpCredentials(version=2, community="public"))
        status = await reader.read(printer.ip, target, None)
        parts = {s.description: s for s in status.supplies}
        assert {d: s.part for d, s in parts.items()} == {
            "Black Toner Cartridge TK-4100K": "toner",
            "Drum Unit DK-4100": "drum",
            "Fuser Unit FK-4100": "fuser",
            "Transfer Roller TR-4100": "transfer",
            "Paper Feed Kit PF-4100": "feed",
            "Maintenance Kit MK-4100": "maintenance-kit",
        }
        assert parts["Black Toner Cartridge TK-4100K"].color == "black"
        assert all(s.color is None for d, s in parts.items() if s.part != "toner")
        assert parts["Paper Feed Kit PF-4100"].kind is None  # the row's type is `other`
        for supply in parts.values():
            if supply.unit == "impressions":
                assert supply.remaining_pages == supply.raw_level
                assert supply.remaining_pages is not None and supply.remaining_pages > 0
        assert parts["Black Toner Cartridge TK-4100K"].remaining_pages is None  # percent

        drum_before = parts["Drum Unit DK-4100"].remaining_pages
        assert printer.state.print_pages(250) == 250
        printer.state.touch()
        after = await reader.read(printer.ip, target, None)
        drum = next(s for s in after.supplies if s.part == "drum")
        assert drum_before is not None and drum.remaining_pages is not None
        assert drum_before - drum.remaining_pages in (249, 250, 251)

        ipp = IppEndpoint.for_host(printer.ip, printer.ipp_port)
        over_ipp = await reader.read(printer.ip, None, ipp)
        assert {s.part for s in over_ipp.supplies} >= {"toner", "drum", "fuser", "transfer"}
        assert all(s.color is None for s in over_ipp.supplies if s.part != "toner")
