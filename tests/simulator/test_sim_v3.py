"""SNMPv3 authPriv (SHA/AES) with net-snmp: reads, contract SETs, and refusals."""

from __future__ import annotations

from protocols.snmp import contract_mib as cm
from protocols.snmp import oids
from simulator.snmp_v3 import V3User
from tests.support.sim_helpers import run, running_fleet, target

USER = V3User("gwadmin", "auth-secret-1", "priv-secret-1")
V3 = ("-v3", "-l", "authPriv", "-u", "gwadmin", "-a", "SHA", "-A", "auth-secret-1",
      "-x", "AES", "-X", "priv-secret-1", "-On", "-Oq", "-t", "2", "-r", "1")


async def test_v3_authpriv_reads_and_writes() -> None:
    async with running_fleet("127.0.23.1", 2, v3_users=[USER]) as fleet:
        p = fleet.printers[0]
        _rc, out, _ = await run("snmpget", *V3, target(p), f"{oids.prtGeneralSerialNumber}.1",
                                check=True)
        assert p.state.serial in out
        _rc, out, _ = await run("snmpbulkwalk", *V3, target(p), oids.prtMarkerSuppliesLevel,
                                check=True)
        assert len(out.splitlines()) == len(p.state.supplies)
        await run("snmpset", *V3, target(p), f"{cm.pgwContractMode}.0", "i", "2",
                  f"{cm.pgwContractPrintingProhibited}.0", "i", "1", check=True)
        assert p.state.contract_mode == 2 and p.state.contract_printing_prohibited
        assert fleet.printers[1].state.contract_mode == 1
        rc, out, err = await run("snmpset", *V3, target(p), f"{cm.pgwContractMode}.0", "i", "9")
        assert rc != 0 and "wrongValue" in out + err
        # with v3 users configured, the v2c write community cannot SET
        rc, out, err = await run("snmpset", "-v2c", "-c", "private", target(p),
                                 f"{cm.pgwContractMode}.0", "i", "1")
        assert rc != 0 and "noAccess" in out + err
        # wrong key, unknown user: USM refuses
        bad = list(V3)
        bad[bad.index("auth-secret-1")] = "wrong-secret-1"
        rc, out, err = await run("snmpget", *bad, target(p), f"{oids.sysName}.0")
        assert rc != 0 and "Authentication failure" in out + err
        assert p.state.contract_mode == 2
        # v2c reads keep working
        _rc, out, _ = await run("snmpget", "-v2c", "-c", "public", "-Oqv", target(p),
                                f"{cm.pgwContractMode}.0", check=True)
        assert out.strip() == "2"
