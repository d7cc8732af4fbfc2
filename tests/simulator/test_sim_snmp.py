"""The virtual printer's SNMP agent, read and written by net-snmp's own tools."""

from __future__ import annotations

import asyncio
import socket

from protocols.snmp import contract_mib as cm
from protocols.snmp import oids
from tests.support.sim_helpers import run, running_fleet, snmpget, snmpwalk, target

SUPPLY_LEVEL = oids.prtMarkerSuppliesLevel


def levels(printer) -> dict[str, str]:
    return {f"{SUPPLY_LEVEL}.1.{s.index}": str(s.level_int) for s in printer.state.supplies
            if s.special_level is None}


async def test_v2c_reads_agree_with_state_through_print_swap_error_and_set() -> None:
    async with running_fleet("127.0.20.1", 2, profiles=["color-mfp", "mono-laser"]) as fleet:
        p = fleet.printers[0]
        st = p.state
        got = await snmpget(p, f"{oids.sysDescr}.0", f"{oids.prtGeneralSerialNumber}.1",
                            f"{oids.prtMarkerLifeCount}.1.1", f"{oids.hrDeviceType}.1")
        assert got[f"{oids.prtGeneralSerialNumber}.1"] == st.serial
        assert st.serial in got[f"{oids.sysDescr}.0"]
        assert got[f"{oids.prtMarkerLifeCount}.1.1"] == f"{st.total_pages}"
        assert got[f"{oids.hrDeviceType}.1"] == "." + oids.hrDevicePrinter
        table = await snmpwalk(p, oids.prtMarkerSuppliesTable)
        assert {k: v for k, v in table.items() if k.startswith(SUPPLY_LEVEL)} == {
            **levels(p), f"{SUPPLY_LEVEL}.1.9": "-3"}  # waste toner: "some remaining"
        descr = {k: v for k, v in table.items()
                 if k.startswith(oids.prtMarkerSuppliesDescription)}
        assert descr[f"{oids.prtMarkerSuppliesDescription}.1.1"] == st.supplies[0].description

        # print pages: toner goes down, counters go up
        black_before = st.supplies[0].level_int
        total_before = st.total_pages
        assert st.print_pages(120, color=True) == 120
        table = await snmpwalk(p, SUPPLY_LEVEL)
        assert table == {**levels(p), f"{SUPPLY_LEVEL}.1.9": "-3"}
        assert int(table[f"{SUPPLY_LEVEL}.1.1"]) == black_before - 120
        got = await snmpget(p, f"{oids.prtMarkerLifeCount}.1.1", f"{cm.pgwColorPageCount}.0")
        assert got[f"{oids.prtMarkerLifeCount}.1.1"] == str(total_before + 120)
        assert got[f"{cm.pgwColorPageCount}.0"] == str(st.color_pages)

        # cartridge swap: full again, new ID, new flag, replacement counter + 1
        old_id = st.supplies[0].cartridge_id
        st.replace("black", "contract")
        got = await snmpget(p, f"{SUPPLY_LEVEL}.1.1", f"{cm.pgwSupplyCartridgeId}.1.1",
                            f"{cm.pgwSupplyNewFlag}.1.1", f"{cm.pgwSupplyCartridgeType}.1.1",
                            f"{cm.pgwCartridgeReplacementCount}.0")
        assert got[f"{SUPPLY_LEVEL}.1.1"] == str(st.supplies[0].max_capacity)
        assert got[f"{cm.pgwSupplyCartridgeId}.1.1"] not in ("", old_id)
        assert got[f"{cm.pgwSupplyNewFlag}.1.1"] == "1"
        assert got[f"{cm.pgwSupplyCartridgeType}.1.1"] == "1"
        assert got[f"{cm.pgwCartridgeReplacementCount}.0"] == "1"

        # an error: alert table, hrPrinterDetectedErrorState (jammed = bit 5), hrDeviceStatus
        st.raise_error("paper-jam")
        alerts = await snmpwalk(p, oids.prtAlertTable)
        codes = {v for k, v in alerts.items() if k.startswith(oids.prtAlertCode)}
        assert "8" in codes
        got = await snmpget(p, f"{oids.hrPrinterDetectedErrorState}.1",
                            f"{oids.hrDeviceStatus}.1")
        assert int(got[f"{oids.hrPrinterDetectedErrorState}.1"].split()[0], 16) & 0x04
        assert got[f"{oids.hrDeviceStatus}.1"] == "5"
        st.clear_error("paper-jam")
        alerts = await snmpwalk(p, oids.prtAlertTable)
        assert "8" not in {v for k, v in alerts.items() if k.startswith(oids.prtAlertCode)}

        # contract-mode SET with the write community; contract pages then count
        await run("snmpset", "-v2c", "-c", "private", target(p), f"{cm.pgwContractMode}.0",
                  "i", "2", f"{cm.pgwPanelMessage}.0", "s", "Install the contract cartridge",
                  check=True)
        assert st.contract_mode == 2 and st.panel_message == "Install the contract cartridge"
        got = await snmpget(p, f"{cm.pgwContractMode}.0", f"{oids.prtConsoleDisplayBufferText}.1.1")
        assert got[f"{cm.pgwContractMode}.0"] == "2"
        assert got[f"{oids.prtConsoleDisplayBufferText}.1.1"] == "Install the contract cartridge"
        st.print_pages(10)  # mono page: only the (contract) black cartridge is used
        got = await snmpget(p, f"{cm.pgwContractPageCount}.0", f"{cm.pgwSupplyNewFlag}.1.1")
        assert got == {f"{cm.pgwContractPageCount}.0": "10", f"{cm.pgwSupplyNewFlag}.1.1": "2"}
        await run("snmpset", "-v2c", "-c", "private", target(p),
                  f"{cm.pgwContractPrintingProhibited}.0", "i", "1", check=True)
        assert st.contract_printing_prohibited

        # the other printer was not touched
        assert fleet.printers[1].state.contract_mode == 1


async def test_set_errors_are_the_protocol_errors() -> None:
    async with running_fleet("127.0.20.10", 2, profiles=["mono-laser", "legacy-laser"]) as fleet:
        p, legacy = fleet.printers
        mode = f"{cm.pgwContractMode}.0"
        cases = [
            (("-c", "private", mode, "i", "7"), "wrongValue"),
            (("-c", "private", mode, "s", "x"), "wrongType"),
            (("-c", "private", f"{cm.pgwPanelMessage}.0", "s", "x" * 300), "wrongLength"),
            (("-c", "public", mode, "i", "2"), "noAccess"),
            (("-c", "private", f"{cm.pgwContractPageCount}.0", "i", "5"), "notWritable"),
            (("-c", "private", "1.3.6.1.4.1.32473.9.9.0", "i", "1"), "noCreation"),
        ]
        for args, error in cases:
            community, *rest = args[1:]
            rc, out, err = await run("snmpset", "-v2c", "-c", community, "-t", "2", "-r", "0",
                                     target(p), *rest)
            assert rc != 0 and error in out + err, (args, out, err)
        assert p.state.contract_mode == 1 and p.state.panel_message == ""
        # atomic: one bad varbind, nothing applied
        rc, out, err = await run("snmpset", "-v2c", "-c", "private", target(p),
                                 f"{cm.pgwPanelMessage}.0", "s", "hi", mode, "i", "9")
        assert rc != 0 and p.state.panel_message == ""
        # SNMPv1 maps them to noSuchName / badValue
        rc, out, err = await run("snmpset", "-v1", "-c", "private", target(p), mode, "i", "9")
        assert "badValue" in out + err
        # a device without the contract MIB
        rc, out, err = await run("snmpget", "-v2c", "-c", "public", target(legacy), mode)
        assert "No Such Object" in out
        rc, out, err = await run("snmpset", "-v2c", "-c", "private", target(legacy), mode,
                                 "i", "2")
        assert rc != 0 and "noCreation" in out + err


async def test_v1_semantics_and_end_of_mib() -> None:
    async with running_fleet("127.0.20.20", 1, profiles=["inkjet"]) as fleet:
        p = fleet.printers[0]
        _rc, out, err = await run("snmpget", "-v1", "-c", "public", "-On", target(p),
                                 "1.3.6.1.2.1.1.99.0")
        assert "noSuchName" in out + err
        walk = await snmpwalk(p, "1.3.6.1.4.1.32473")
        assert walk  # the contract MIB is the last subtree; the walk ends cleanly
        _rc, out, err = await run("snmpgetnext", "-v2c", "-c", "public", "-On", target(p),
                                 "1.3.6.1.4.1.32474")
        assert "past the end of the MIB" in out
        _rc, out, _err = await run("snmpwalk", "-v1", "-c", "public", "-On", target(p),
                                 oids.prtMarkerColorantValue)
        assert out.count("STRING") == 4


async def test_malformed_datagrams_never_crash_the_agent() -> None:
    async with running_fleet("127.0.20.30", 1) as fleet:
        p = fleet.printers[0]
        junk = [b"", b"\x30", b"\x30\x03\x02\x01", b"\x30\x84\xff\xff\xff\xff", b"\xff" * 50,
                bytes(range(256)),
                # v2c GET with a truncated varbind list
                bytes.fromhex("302602010104067075626c6963a019020101020100020100300e300c06082b060102010101"),
                # v1 GETBULK (not allowed in v1)
                bytes.fromhex("302702010004067075626c6963a51a0201010201000201053010300e060a2b06010201"
                              "2b0b01010905000000"),
                # wrong community
                bytes.fromhex("302902010104067075626c6963a01c02010102010002010030113"
                              "00f060b2b060102012b0b010109010105 00".replace(" ", "")),
                # SNMPv3 without v3 users configured
                bytes.fromhex("303e020103301102042412899a020300ffe3040104020103041030"
                              "0e0400020100020100040004000400301404000400a00e020478bcf3dc"
                              "0201000201003000")]
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        for j in junk:
            await loop.sock_sendto(sock, j, (p.ip, p.snmp_port))
        sock.close()
        await asyncio.sleep(0.2)
        assert fleet.agent.stats.dropped_malformed >= len(junk) - 2
        got = await snmpget(p, f"{oids.sysName}.0")
        assert got[f"{oids.sysName}.0"] == p.state.sys_name


async def test_sleep_slow_answers_unknown_levels_and_unreachable() -> None:
    async with running_fleet("127.0.20.40", 1, sleep_delay=0.5) as fleet:
        p = fleet.printers[0]
        p.state.set_sleep(True)
        t0 = asyncio.get_running_loop().time()
        got = await snmpget(p, f"{SUPPLY_LEVEL}.1.1")
        assert asyncio.get_running_loop().time() - t0 >= 0.45
        assert got[f"{SUPPLY_LEVEL}.1.1"] == "-2"
        p.state.set_sleep(False)
        await fleet.set_unreachable(p, True)
        rc, out, err = await run("snmpget", "-v2c", "-c", "public", "-t", "0.3", "-r", "0",
                                 target(p), f"{oids.sysName}.0")
        assert rc != 0 and "Timeout" in out + err
        await fleet.set_unreachable(p, False)
        assert await snmpget(p, f"{oids.sysName}.0")
