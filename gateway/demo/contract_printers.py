"""The two printers of `printgw demo --contract-change`, as the member handles them and as they
report their contract state: the fleet's control API (the devices themselves: their contract
MIB's state, a cartridge put in, a cartridge drained) and the gateway's status page (what the
gateway last read of them)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import aiohttp

from gateway.demo.cloud import PrinterView
from gateway.demo.errors import DemoError


@dataclass(frozen=True)
class DeviceContract:
    """A printer's contract state: mode, contract printing prohibited, panel message."""

    mode: str
    prohibited: bool
    panel: str

    @classmethod
    def of(cls, contract: dict[str, Any]) -> DeviceContract:
        """From a `contract` object (the control API's, the status page's)."""
        return cls(str(contract.get("mode")), bool(contract.get("printing_prohibited")),
                   contract.get("panel_message") or "")

    def text(self, panel: bool = True) -> str:
        prohibited = ", prohibited" if self.prohibited else ""
        message = f', panel "{self.panel}"' if self.panel and panel else ""
        return f"{self.mode}{prohibited}{message}"


@dataclass
class Machine:
    """Printer A or B of the demo, with its contract state as last seen on the device."""

    name: str
    view: PrinterView
    contract: DeviceContract | None = None

    @property
    def printer_id(self) -> str:
        assert self.view.cloud is not None
        return str(self.view.cloud["printer_id"])

    @property
    def ip(self) -> str:
        return str(self.view.fleet["ip"])

    @property
    def serial(self) -> str:
        return str(self.view.fleet["serial"])

    @property
    def model(self) -> str:
        return str(self.view.fleet["model"])

    def state(self) -> str:
        return self.contract.text(panel=False) if self.contract else "?"


def pick(printers: list[PrinterView]) -> tuple[Machine, Machine]:
    """A and B: the first two registered printers with the contract MIB, B of another model
    where the fleet has one (another series: the change plan is proposed)."""
    able = [p for p in printers if p.contract_mib and p.cloud is not None]
    if len(able) < 2:
        raise DemoError("--contract-change needs two printers with the contract MIB: raise "
                        "--count (one printer in four has none)")
    old = able[0]
    new = next((p for p in able[1:] if p.fleet["model"] != old.fleet["model"]), able[1])
    return Machine("A", old), Machine("B", new)


class Printers:
    """The fleet's control API and the gateway's status page, for the demo's two printers."""

    def __init__(self, session: aiohttp.ClientSession, control_url: str,
                 status_url: str) -> None:
        self.session, self.control_url, self.status_url = session, control_url, status_url

    async def _control(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        try:
            async with self.session.request(method, f"{self.control_url}/printers/{path}",
                                            json=body) as response:
                answer = await response.json()
                if response.status != 200:
                    raise DemoError(f"the fleet's control API answered {path} with "
                                    f"{response.status}: {answer.get('error')}")
                return dict(answer)
        except (aiohttp.ClientError, ValueError) as exc:
            raise DemoError(f"calling the fleet's control API ({path}): {exc}") from exc

    async def look(self, machine: Machine) -> DeviceContract | None:
        """The device's contract state now; returns the state before it when it changed."""
        now = DeviceContract.of((await self._control("GET", machine.ip))["contract"])
        before, machine.contract = machine.contract, now
        return before if before is not None and before != now else None

    async def _cartridge_index(self, machine: Machine) -> str:
        """The index of the printer's black (else first) cartridge."""
        supplies = [s for s in (await self._control("GET", machine.ip))["supplies"]
                    if s["cartridge_type"] is not None]
        black = [s for s in supplies if s["color"] in ("black", None)]
        return str((black or supplies)[0]["index"])

    async def put_cartridge(self, machine: Machine, kind: str) -> None:
        """A new, full cartridge of `kind` (`contract`, `commercial`) in place of the black one."""
        index = await self._cartridge_index(machine)
        await self._control("POST", f"{machine.ip}/replace",
                            {"supply": index, "cartridge_type": kind})

    async def drain(self, machine: Machine) -> None:
        """The black cartridge at 0 %."""
        index = await self._cartridge_index(machine)
        await self._control("POST", f"{machine.ip}/level", {"supply": index, "percent": 0})

    async def page(self) -> dict[str, dict[str, Any]] | None:
        """The status page's devices by serial (None while it does not answer)."""
        with contextlib.suppress(aiohttp.ClientError, ValueError, TimeoutError):
            async with self.session.get(f"{self.status_url}/api/status") as response:
                if response.status == 200:
                    return {d["serial"]: d for d in (await response.json())["devices"]}
        return None

    async def gateway_read_contract_cartridge(self, machine: Machine) -> bool:
        """Whether the gateway's last reading of the printer shows a contract cartridge."""
        device = ((await self.page()) or {}).get(machine.serial) or {}
        return any(s.get("cartridge_type") == "contract" for s in device.get("supplies", []))

    async def page_shows(self, machines: tuple[Machine, ...]) -> dict[str, str] | None:
        """Each printer's contract state on the status page once it shows the mode the device
        has (the gateway's next reading), by name; else None."""
        devices = await self.page()
        if devices is None:
            return None
        shown = {}
        for machine in machines:
            device = devices.get(machine.serial)
            if device is None or machine.contract is None:
                return None
            contract = DeviceContract.of(device["contract"])
            if contract.mode != machine.contract.mode:
                return None
            shown[machine.name] = contract.text()
        return shown
