"""mDNS/DNS-SD advertisements of the fleet: `_ipp._tcp` and `_pdl-datastream._tcp` per printer.

zeroconf is always pinned to one interface address (loopback by default), never to all
interfaces of the machine: a test fleet must not multicast on the office network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from zeroconf import IPVersion, ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

from simulator.printer import VirtualPrinter

IPP_TYPE = "_ipp._tcp.local."
PDL_TYPE = "_pdl-datastream._tcp.local."
PDL_PORT = 9100


def txt_record(printer: VirtualPrinter) -> dict[str, str]:
    """The TXT keys printers publish (Bonjour Printing 1.2 / PWG 5100.14)."""
    st = printer.state
    prof = printer.profile
    return {
        "txtvers": "1", "qtotal": "1", "rp": "ipp/print", "ty": st.make_and_model,
        "product": f"({st.model})", "usb_MFG": st.manufacturer, "usb_MDL": st.model,
        "UUID": st.uuid, "adminurl": printer.admin_url,
        "note": st.sys_location, "pdl": prof.pdl, "Color": "T" if st.color else "F",
        "Duplex": "T" if prof.duplex else "F", "TLS": "", "priority": "50",
    }


def services(printer: VirtualPrinter) -> list[ServiceInfo]:
    name = printer.dns_sd_name.replace(".", " ")
    host = f"{printer.state.sys_name or printer.state.name}.local."
    addr = [socket.inet_aton(printer.ip)]
    txt = txt_record(printer)
    pdl_txt = {k: v for k, v in txt.items() if k not in ("rp", "TLS")}
    return [
        ServiceInfo(IPP_TYPE, f"{name}.{IPP_TYPE}", addresses=addr, port=printer.ipp_port,
                    properties=txt, server=host),
        ServiceInfo(PDL_TYPE, f"{name}.{PDL_TYPE}", addresses=addr, port=PDL_PORT,
                    properties=pdl_txt, server=host),
    ]


class Advertiser:
    """Publishes every printer's services on one interface address."""

    def __init__(self, interface: str = "127.0.0.1") -> None:
        if ipaddress.IPv4Address(interface).is_unspecified:
            raise ValueError("mDNS must be pinned to one interface address")
        self.interface = interface
        self.zc: AsyncZeroconf | None = None
        self.infos: list[ServiceInfo] = []

    async def start(self, printers: list[VirtualPrinter], concurrency: int = 64) -> None:
        self.zc = AsyncZeroconf(interfaces=[self.interface], ip_version=IPVersion.V4Only)
        sem = asyncio.Semaphore(concurrency)

        async def register(info: ServiceInfo) -> None:
            async with sem:
                assert self.zc is not None
                waiter = await self.zc.async_register_service(info, allow_name_change=True)
                await waiter

        infos = [i for p in printers for i in services(p)]
        await asyncio.gather(*(register(i) for i in infos))
        self.infos = infos

    async def close(self) -> None:
        if self.zc is not None:
            await self.zc.async_unregister_all_services()
            await self.zc.async_close()
            self.zc = None
