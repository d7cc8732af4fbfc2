"""The MIB sources in mibs/ compile offline, and the gateway's OID constants match them."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from protocols.snmp import textual_conventions
from tests.support.mib_compile import (
    MIBS_DIR,
    available_mibs,
    build_oid_index,
    check_oid_constants,
    compile_mibs,
    enumeration,
)

# Python modules whose public string constants are MIB object name = numeric OID.
OID_CONSTANT_MODULES = ["protocols.snmp.oids", "protocols.snmp.contract_mib"]

# The standard modules the gateway relies on; they must be in mibs/.
REQUIRED_MIBS = [
    "SNMPv2-SMI",
    "SNMPv2-TC",
    "SNMPv2-CONF",
    "SNMPv2-MIB",
    "IANAifType-MIB",
    "IF-MIB",
    "HOST-RESOURCES-MIB",
    "HOST-RESOURCES-TYPES",
    "IANA-CHARSET-MIB",
    "IANA-PRINTER-MIB",
    "Printer-MIB",
]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """All modules of mibs/, compiled together once for this test module."""
    return compile_mibs(available_mibs(), tmp_path_factory.mktemp("mibs-json"))


@pytest.fixture(scope="module")
def oid_index(compiled: dict[str, dict]) -> dict[str, str]:
    return build_oid_index(compiled)


def test_required_mibs_present() -> None:
    missing = sorted(set(REQUIRED_MIBS) - set(available_mibs()))
    assert not missing, f"missing from {MIBS_DIR}: {', '.join(missing)}"


@pytest.mark.parametrize("name", available_mibs())
def test_mib_compiles(name: str, tmp_path: Path) -> None:
    """Each module compiles on its own, from mibs/ alone (so all its imports are there)."""
    result = compile_mibs([name], tmp_path)
    assert result.get(name), f"{name}: compiled to an empty module"


@pytest.mark.parametrize("module", OID_CONSTANT_MODULES)
def test_oid_constants_match_mibs(module: str, oid_index: dict[str, str]) -> None:
    problems = check_oid_constants(module, oid_index)
    assert not problems, f"{len(problems)} OID constant(s) disagree with mibs/:\n" + "\n".join(
        problems
    )


def test_supplies_type_enumeration(compiled: dict[str, dict]) -> None:
    values = enumeration(compiled, "PrtMarkerSuppliesTypeTC", ["IANA-PRINTER-MIB", "Printer-MIB"])
    expected = {
        "toner": 3,
        "wasteToner": 4,
        "inkCartridge": 6,
        "opc": 9,
        "fuser": 15,
        "tonerCartridge": 21,
        "staples": 32,
    }
    assert {name: values.get(name) for name in expected} == expected


@pytest.mark.parametrize("name", [
    "PrtMarkerSuppliesTypeTC", "PrtMarkerSuppliesClassTC", "PrtMarkerSuppliesSupplyUnitTC",
    "PrtMarkerCounterUnitTC", "PrtAlertSeverityLevelTC", "PrtAlertTrainingLevelTC",
    "PrtAlertGroupTC", "PrtAlertCodeTC", "hrPrinterStatus", "hrDeviceStatus",
])
def test_textual_conventions_match_mibs(name: str, compiled: dict[str, dict]) -> None:
    """The gateway's enumerations (protocols/snmp/textual_conventions.py) are the MIBs' own."""
    ours = getattr(textual_conventions, name)
    if name.startswith("hr"):
        syntax = compiled["HOST-RESOURCES-MIB"][name]["syntax"]
        theirs = syntax["constraints"]["enumeration"]
    else:
        theirs = enumeration(compiled, name, ["IANA-PRINTER-MIB", "Printer-MIB"])
    by_number = {number: label for label, number in theirs.items()}
    if name in ("PrtAlertCodeTC", "PrtAlertGroupTC"):  # IANA keeps adding codes: ours a subset
        by_number = {number: by_number.get(number) for number in ours}
    assert by_number == ours


def test_detected_error_state_bits(compiled: dict[str, dict]) -> None:
    """hrPrinterDetectedErrorState's bits are listed in its DESCRIPTION, in bit order."""
    description = compiled["HOST-RESOURCES-MIB"]["hrPrinterDetectedErrorState"]["description"]
    bits = textual_conventions.hrPrinterDetectedErrorState
    positions = [description.index(name) for name in bits]
    assert positions == sorted(positions)


def test_check_reports_wrong_and_unknown_constants(oid_index: dict[str, str]) -> None:
    """The check names the offending constant, whether its OID is wrong or its name unknown."""
    fake = types.ModuleType("fake_oids")
    fake.prtMarkerSuppliesLevel = "1.3.6.1.2.1.43.11.1.1.8"
    fake.prtNoSuchObject = "1.3.6.1.2.1.43.99"
    fake.sysDescr = "1.3.6.1.2.1.1.1"
    problems = check_oid_constants(fake, oid_index)
    assert len(problems) == 2
    assert "fake_oids.prtMarkerSuppliesLevel" in problems[0]
    assert "1.3.6.1.2.1.43.11.1.1.9" in problems[0]
    assert "fake_oids.prtNoSuchObject" in problems[1]
