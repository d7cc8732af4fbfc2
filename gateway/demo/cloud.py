"""The reference cloud as `printgw demo` sees it: its operator API, called by the operation IDs of
the published document (`protocols/cloud/openapi.yaml`), and each virtual printer as the cloud
has it (registration, services, the statuses received)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import aiohttp

from gateway.demo.errors import DemoError
from protocols.cloud.transport import operation_request


@cache
class Operator:
    """The cloud's operator, calling operations by their ID in the cloud document."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str) -> None:
        self.session, self.base_url, self.token = session, base_url, token

    async def call(self, operation_id: str, *, path: dict[str, str] | None = None,
                   body: Any = None, params: dict[str, str] | None = None) -> Any:
        try:
            async with operation_request(self.session, self.base_url, operation_id,
                                         token=self.token, path=path, query=params,
                                         json_body=body) as response:
                raw = await response.read()
                answer = json.loads(raw) if raw else None
                if response.status >= 300:
                    detail = answer.get("detail") or answer.get("title") \
                        if isinstance(answer, dict) else answer
                    raise DemoError(f"the cloud answered {operation_id} with {response.status}: "
                                    f"{detail}")
                return answer
        except (aiohttp.ClientError, json.JSONDecodeError) as exc:
            raise DemoError(f"calling the cloud ({operation_id}): {exc}") from exc

    async def pages(self, operation_id: str, key: str, *, path: dict[str, str] | None = None,
                    params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Every item of a paged list operation."""
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = {**(params or {}), **({"cursor": cursor} if cursor else {})}
            page = await self.call(operation_id, path=path, params=query or None)
            items += page[key]
            cursor = page.get("next_cursor")
            if not cursor:
                return items


@dataclass
class PrinterView:
    """One virtual printer: the fleet's summary, the cloud's view, the latest data received."""

    fleet: dict[str, Any]
    contract_mib: bool
    cloud: dict[str, Any] | None = None
    data: dict[str, Any] = field(default_factory=dict)
    seen_entries: set[str] = field(default_factory=set)
    received_until: str | None = None

    @property
    def label(self) -> str:
        return f"{self.fleet['ip']} {self.fleet['serial']}"

    def services(self) -> dict[str, str]:
        """Activation state by service ID."""
        apps = self.cloud["applications"] if self.cloud else []
        return {a["service_id"]: a["activation_state"] for a in apps}


async def refresh_printers(operator: Operator, printers: list[PrinterView]) -> None:
    """Each printer's view as the cloud has it now (kept as it was if the cloud lists it not)."""
    views = {v["registration"]["serial"]: v
             for v in await operator.pages("listPrinters", "printers")}
    for printer in printers:
        printer.cloud = views.get(printer.fleet["serial"], printer.cloud)


async def receive_statuses(operator: Operator, printers: list[PrinterView]
                           ) -> list[tuple[PrinterView, dict[str, Any]]]:
    """The entries received since the last look, per printer, the latest data merged."""
    new = []
    for printer in printers:
        if printer.cloud is None or printer.cloud["last_status_at"] is None \
                or printer.cloud["last_status_at"] == printer.received_until:
            continue
        params = {"since": printer.received_until} if printer.received_until else None
        entries = await operator.pages("listReceivedStatuses", "statuses",
                                       path={"printer_id": printer.cloud["printer_id"]},
                                       params=params)
        for entry in entries:
            if entry["entry_id"] in printer.seen_entries:
                continue
            printer.seen_entries.add(entry["entry_id"])
            printer.data.update(entry["data"])
            new.append((printer, entry))
        if entries:
            printer.received_until = max(e["received_at"] for e in entries)
    return new
