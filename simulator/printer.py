"""One virtual printer: its state, profile, addresses, and a cached SNMP view of the state.

The SNMP agent, the IPP server, mDNS and the control API all take a `VirtualPrinter`; the fleet
makes them.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from simulator import ber
from simulator.mib_view import MibStore, build
from simulator.profiles import Profile
from simulator.state import PrinterState

_INF = float("inf")


class VirtualPrinter:
    """One printer: its state, profile, address, and a cached SNMP view of the state."""

    def __init__(self, state: PrinterState, profile: Profile, ip: str, snmp_port: int,
                 ipp_port: int, contract_root: ber.Oid, v3_enabled: bool = False) -> None:
        self.state = state
        self.profile = profile
        self.ip = ip
        self.snmp_port = snmp_port
        self.ipp_port = ipp_port
        self.contract_root = contract_root
        """Where this printer's contract MIB sits (vendor profiles may move it)."""
        self.v3_enabled = v3_enabled
        self.transport: asyncio.DatagramTransport | None = None
        self._view: MibStore | None = None
        self._contexts: dict[str, MibStore] = {}

    @property
    def dns_sd_name(self) -> str:
        text = f"{self.state.make_and_model} [{self.state.serial}]"
        return text[:63]

    @property
    def ipp_uri(self) -> str:
        return f"ipp://{self.ip}:{self.ipp_port}/ipp/print"

    @property
    def admin_url(self) -> str:
        """The printer's web page (IPP printer-more-info, mDNS adminurl)."""
        return f"http://{self.ip}:{self.ipp_port}/"

    def view(self) -> MibStore:
        v = self._view
        if v is None or v.version != self.state.version or (
                v.valid_until != _INF and time.monotonic() >= v.valid_until):
            v = self._view = build(self.state, self.profile, self.contract_root)
        return v

    def context_view(self, context: str) -> MibStore | None:
        """A named SNMP context's values (a replayed recording's), or None: no such context."""
        view = self._contexts.get(context)
        if view is None and context in self.profile.contexts:
            view = self._contexts[context] = MibStore(self.profile.contexts[context], 0)
        return view

    def summary(self) -> dict[str, Any]:
        st = self.state
        return {"name": st.name, "ip": self.ip, "snmp_port": self.snmp_port,
                "ipp_port": self.ipp_port, "serial": st.serial, "model": st.model,
                "profile": self.profile.key, "printer_state": st.printer_state(),
                "asleep": st.asleep, "unreachable": st.unreachable,
                "total_pages": st.total_pages}

    def to_json(self) -> dict[str, Any]:
        return {**self.state.to_json(), "ip": self.ip, "snmp_port": self.snmp_port,
                "ipp_port": self.ipp_port, "profile": self.profile.key,
                "ipp_uri": self.ipp_uri}
