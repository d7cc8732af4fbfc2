"""The contract MIB compiles with pysmi, and the constants and the agent agree with it."""

from __future__ import annotations

from pathlib import Path

from protocols.snmp import contract_mib as cm
from tests.support.mib_compile import build_oid_index, check_oid_constants, compile_mibs


def test_contract_mib_compiles_and_constants_match(tmp_path: Path) -> None:
    compiled = compile_mibs(["PRINTGW-CONTRACT-MIB"], tmp_path)
    mib = compiled["PRINTGW-CONTRACT-MIB"]
    imports = set(mib.get("imports", {})) - {"class"}
    assert imports <= {"SNMPv2-SMI", "SNMPv2-TC", "SNMPv2-CONF"}, imports
    index = build_oid_index(compiled)
    assert not check_oid_constants("protocols.snmp.contract_mib", index)
    assert index["printgwContractMIB"] == "1.3.6.1.4.1.32473.1"
    for name, access in [("pgwContractMode", "read-write"),
                         ("pgwContractPrintingProhibited", "read-write"),
                         ("pgwPanelMessage", "read-write"),
                         ("pgwContractPageCount", "read-only"),
                         ("pgwCartridgeReplacementCount", "read-only"),
                         ("pgwSupplyCartridgeType", "read-only"),
                         ("pgwSupplyCartridgeId", "read-only"),
                         ("pgwSupplyNewFlag", "read-only")]:
        assert mib[name]["maxaccess"] == access, name
    assert {v: k for k, v in cm.CONTRACT_MODE_VALUES.items()} == {
        "non-contract": 1, "contract-non-billing": 2, "contract-billing": 3}
    modes = mib["pgwContractMode"]["syntax"]["constraints"]["enumeration"]
    assert modes == {"nonContract": 1, "contractNonBilling": 2, "contractBilling": 3}
    types = mib["pgwSupplyCartridgeType"]["syntax"]["constraints"]["enumeration"]
    assert {v: k for k, v in types.items()} == cm.CARTRIDGE_TYPE_VALUES


def test_rebase() -> None:
    assert cm.rebase(cm.pgwContractMode, "1.3.6.1.4.1.2435.99") == "1.3.6.1.4.1.2435.99.1.1.1"
