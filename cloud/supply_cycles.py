"""The supply cycles (`SupplyCycle` rows) an upload batch reads and writes, with core statements.

A batch of 200 readings of colour MFPs touches some 1,800 rows (one per supply of each reading,
`cloud.providers.observe_supplies`); loaded as ORM objects and flushed through the unit of work
they were more than half of an upload's cost once the printers had rows (`bench/uplink.py`,
rounds after the first).  Here they are plain records: read in one SELECT (locked: FOR UPDATE
where the database has it), then written in one INSERT of the new rows and one UPDATE
(executemany) of the others.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cloud import times
from cloud.notice_tables import SupplyCycle

_TABLE = SupplyCycle.__table__


@dataclass
class Cycle:
    """One supply's cycle as the batch leaves it."""

    printer_id: str
    supply_index: str
    cycle: int = 1
    last_level: int | None = None
    cartridge_id: str | None = None
    stored: bool = False
    """A row exists (UPDATE it), or not (INSERT it)."""


class SupplyCycles:
    """The cycles of a batch's printers: `get`, `start`, `touch`, then `store` once."""

    def __init__(self, cycles: Iterable[Cycle]) -> None:
        self._cycles = {(c.printer_id, c.supply_index): c for c in cycles}
        self._touched: dict[tuple[str, str], Cycle] = {}

    @classmethod
    async def load(cls, session: AsyncSession, printer_ids: Iterable[str]) -> SupplyCycles:
        rows = await session.execute(
            select(_TABLE.c.printer_id, _TABLE.c.supply_index, _TABLE.c.cycle,
                   _TABLE.c.last_level, _TABLE.c.cartridge_id)
            .where(_TABLE.c.printer_id.in_(list(printer_ids))).with_for_update())
        return cls(Cycle(*row, stored=True) for row in rows)

    def get(self, printer_id: str, supply_index: str) -> Cycle | None:
        return self._cycles.get((printer_id, supply_index))

    def start(self, printer_id: str, supply_index: str) -> Cycle:
        """A supply's first cycle."""
        cycle = self._cycles[printer_id, supply_index] = Cycle(printer_id, supply_index)
        return cycle

    def touch(self, cycle: Cycle) -> None:
        """`cycle` was read by this batch: its row gets written (and `updated_at` now)."""
        self._touched[cycle.printer_id, cycle.supply_index] = cycle

    async def store(self, session: AsyncSession) -> None:
        now = times.now()
        new = [{"printer_id": c.printer_id, "supply_index": c.supply_index, "cycle": c.cycle,
                "last_level": c.last_level, "cartridge_id": c.cartridge_id, "updated_at": now}
               for c in self._touched.values() if not c.stored]
        old = [{"p": c.printer_id, "s": c.supply_index, "c": c.cycle, "l": c.last_level,
                "i": c.cartridge_id, "u": now}
               for c in self._touched.values() if c.stored]
        if new:
            await session.execute(insert(_TABLE), new)
        if old:
            await session.execute(
                update(_TABLE)
                .where(_TABLE.c.printer_id == bindparam("p"),
                       _TABLE.c.supply_index == bindparam("s"))
                .values(cycle=bindparam("c"), last_level=bindparam("l"),
                        cartridge_id=bindparam("i"),
                        updated_at=bindparam("u", type_=_TABLE.c.updated_at.type)),
                old)
        for cycle in self._touched.values():
            cycle.stored = True
        self._touched.clear()
