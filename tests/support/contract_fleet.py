"""What the contract end-to-end tests ask of the virtual fleet and the cloud: whether a virtual
printer prints under contract, a watch that records every moment two of them do, and the wait
for every printer of the fleet to be registered."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from simulator.printer import VirtualPrinter
from tests.support.uplink_harness import Harness


def contract_printing(printer: VirtualPrinter) -> bool:
    """In a contract mode (the MIB's mode 1 is non-contract) and not prohibited."""
    state = printer.state
    return state.contract_mode != 1 and not state.contract_printing_prohibited


def watch_contract_printing(printers: Iterable[VirtualPrinter], violations: list[str]) -> None:
    """After every change of any of `printers`' state (SETs included), append to `violations`
    when more than one of them prints under contract."""
    watched = list(printers)
    for printer in watched:
        def touch(touch: Callable[[], None] = printer.state.touch) -> None:
            touch()
            printing = [p for p in watched if contract_printing(p)]
            if len(printing) > 1:
                violations.append("contract printing on " + ", ".join(
                    f"{p.ip} (mode {p.state.contract_mode})" for p in printing))
        printer.state.touch = touch  # type: ignore[method-assign]


async def every_printer_registered(h: Harness) -> dict[str, dict[str, Any]] | None:
    """The cloud's printer views by serial once every printer of the fleet is registered."""
    printers = await h.printers()
    return printers if len(printers) == len(h.fleet.printers) else None
