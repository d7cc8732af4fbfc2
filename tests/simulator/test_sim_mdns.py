"""The fleet's mDNS advertisements, browsed with zeroconf pinned to loopback."""

from __future__ import annotations

import asyncio

from zeroconf import IPVersion, ServiceStateChange
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from simulator.mdns import IPP_TYPE, PDL_TYPE, Advertiser
from tests.support.sim_helpers import running_fleet


async def test_browse_finds_every_printer_with_its_txt_record() -> None:
    async with running_fleet("127.0.24.1", 5, profiles=["color-mfp", "mono-laser"]) as fleet:
        adv = Advertiser("127.0.0.1")
        await adv.start(fleet.printers)
        zc = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
        found: dict[str, set[str]] = {IPP_TYPE: set(), PDL_TYPE: set()}

        def on_change(zeroconf, service_type, name, state_change) -> None:
            if state_change is ServiceStateChange.Added:
                found[service_type].add(name)

        browser = AsyncServiceBrowser(zc.zeroconf, [IPP_TYPE, PDL_TYPE], handlers=[on_change])
        try:
            for _ in range(100):
                if all(len(v) >= 5 for v in found.values()):
                    break
                await asyncio.sleep(0.1)
            assert all(len(v) == 5 for v in found.values()), found
            by_uuid = {p.state.uuid: p for p in fleet.printers}
            seen = set()
            for name in found[IPP_TYPE]:
                info = AsyncServiceInfo(IPP_TYPE, name)
                assert await info.async_request(zc.zeroconf, 3000)
                txt = {k.decode(): (v or b"").decode() for k, v in info.properties.items()}
                p = by_uuid[txt["UUID"]]
                seen.add(p.state.uuid)
                assert info.port == p.ipp_port
                assert info.parsed_addresses() == [p.ip]
                assert txt["rp"] == "ipp/print"
                assert txt["ty"] == p.state.make_and_model
                assert txt["usb_MFG"] == p.state.manufacturer
                assert txt["Color"] == ("T" if p.state.color else "F")
                assert "pdl" in txt and "adminurl" in txt and "product" in txt
            assert seen == set(by_uuid)
        finally:
            await browser.async_cancel()
            await zc.async_close()
            await adv.close()
