"""The administrator's guide says what is read from each vendor as the code reads it: its table
of supported printers matches `protocols/snmp/vendors.py` and `vendor_counters.py` row by row, so
the page cannot drift from the reader."""

from __future__ import annotations

import re

from protocols.snmp.vendor_counters import VENDOR_COUNTERS
from protocols.snmp.vendors import VENDORS
from tests.support.paths import REPO

GUIDE = REPO / "docs" / "admin-guide.md"
ROW = re.compile(r"^\| (?P<name>[^|(]+) \((?P<number>\d+)\) \|(?P<cells>.*)\|$")


def vendor_rows() -> dict[int, tuple[str, list[str]]]:
    rows = {}
    for line in GUIDE.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            cells = [cell.strip() for cell in match["cells"].split("|")]
            rows[int(match["number"])] = (match["name"].strip(), cells)
    return rows


def test_the_vendor_table_matches_the_reader() -> None:
    rows = vendor_rows()
    assert sorted(rows) == sorted(VENDORS), "one row per vendor of protocols/snmp/vendors.py"
    for number, vendor in VENDORS.items():
        name, (serial, model, firmware, device_id, contexts, counters) = rows[number]
        assert name == vendor.name
        assert (serial, model, firmware) == tuple("✓" if oids else "" for oids in (
            vendor.serial, vendor.model, vendor.firmware)), name
        assert device_id == ("✓" if vendor.device_id else "HP's object"), name
        assert contexts == ", ".join(f"`{c}`" for c in vendor.contexts), name
        assert (counters == "—") == (number not in VENDOR_COUNTERS), name
