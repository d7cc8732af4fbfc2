"""Numeric OIDs of the project's contract MIB (`mibs/PRINTGW-CONTRACT-MIB.mib`).

Names are the MIB's object names; `tests/protocols/snmp/test_mibs.py` checks them against the
compiled module.
The module sits under RFC 5612's documentation enterprise number by default; a vendor profile may
move it (the structure below the root stays): use `rebase()` to get an OID under another root.
"""

printgwContractMIB = "1.3.6.1.4.1.32473.1"
pgwObjects = "1.3.6.1.4.1.32473.1.1"
pgwGeneral = "1.3.6.1.4.1.32473.1.1.1"

# scalars: append ".0"
pgwContractMode = "1.3.6.1.4.1.32473.1.1.1.1"
pgwContractPrintingProhibited = "1.3.6.1.4.1.32473.1.1.1.2"
pgwPanelMessage = "1.3.6.1.4.1.32473.1.1.1.3"
pgwContractPageCount = "1.3.6.1.4.1.32473.1.1.1.4"
pgwCartridgeReplacementCount = "1.3.6.1.4.1.32473.1.1.1.5"
pgwColorPageCount = "1.3.6.1.4.1.32473.1.1.1.6"
pgwMonochromePageCount = "1.3.6.1.4.1.32473.1.1.1.7"

# per supply: append ".hrDeviceIndex.prtMarkerSuppliesIndex"
pgwSupplyTable = "1.3.6.1.4.1.32473.1.1.2"
pgwSupplyEntry = "1.3.6.1.4.1.32473.1.1.2.1"
pgwSupplyCartridgeType = "1.3.6.1.4.1.32473.1.1.2.1.3"
pgwSupplyCartridgeId = "1.3.6.1.4.1.32473.1.1.2.1.4"
pgwSupplyNewFlag = "1.3.6.1.4.1.32473.1.1.2.1.5"

CONTRACT_MODE_VALUES = {1: "non-contract", 2: "contract-non-billing", 3: "contract-billing"}
"""pgwContractMode values → the gateway's contract mode names."""
CARTRIDGE_TYPE_VALUES = {1: "contract", 2: "commercial"}
"""pgwSupplyCartridgeType values."""
TRUTH_VALUES = {1: True, 2: False}
"""SNMPv2-TC TruthValue."""


def rebase(oid: str, root: str) -> str:
    """`oid` (under the default root `printgwContractMIB`) moved under another module root."""
    if oid != printgwContractMIB and not oid.startswith(printgwContractMIB + "."):
        raise ValueError(f"{oid} is not under {printgwContractMIB}")
    return root.rstrip(".") + oid[len(printgwContractMIB):]
