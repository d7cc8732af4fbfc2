"""Walks of several subtrees of one agent together: one GETBULK (v1: GETNEXT) carries a varbind
per subtree still open, and the answer's varbinds are the subtrees' next rows in turn (RFC 3416
§4.2.3: varbind k answers subtree k mod N).

Each request is sized from the subtrees' rows hints (the values each had at its last complete
walk, + 1 to see its end): subtrees are grouped by the rows they want, at most `MAX_VARBINDS`
varbinds asked per request, so that a subtree of one row does not make the agent encode 25 rows
of the next table.  A subtree that ended (an OID beyond it, endOfMibView, v1 noSuchName at its
index) drops out; the others go on in the next round of requests.

Agents that do not follow RFC 3416 (that answer only the first varbind's rows, say) are caught by
what RFC 3416 promises: the answer for subtree j is beyond the last OID read of it; an OID before
its root, or one that does not increase, where the answer's position says subtree j > 0, is not
taken: the answer is undone, and the agent walked one subtree per request from then on
(`WalkMemory.one_subtree`), where a loop is told from a confused agent as before.

tooBig asks for half the rows, then one subtree per request; another error status fails the
subtree at its error-index (the others go on).  An answer this codec cannot decode leaves the
batch's subtrees to pysnmp (`Subtree.resume`), from where they are.
"""

from __future__ import annotations

import asyncio
import operator
from dataclasses import dataclass, field

from protocols.snmp.ber_codec import ABSENT, END_OF_MIB, GETBULK, GETNEXT, Malformed, Unsure, Value
from protocols.snmp.model import (
    NO_SUCH_NAME,
    TOO_BIG,
    SnmpError,
    SnmpTarget,
    SnmpTimeout,
    SnmpValue,
    error_status_name,
    oid_tuple,
    walk_stopped,
)
from protocols.snmp.udp_reader import MAX_IN_FLIGHT, NoAnswer, UdpReader
from protocols.snmp.walk_memory import WalkMemory

_HEADS_KEPT = 16_384
_heads: dict[str, tuple[int, ...]] = {}
"""OIDs but their last number (a table column's, mostly) as numbers: the same few hundred at
every poll of a fleet; started again when full."""
_ROWS_KEPT = 16_384
_rows: dict[str, tuple[str, int]] = {}
"""Answered OIDs split as (all but the last number, the last number): a fleet answers the same
OIDs at every poll (the codec hands out the same strings), so a row costs a look-up rather than
a split and an `int`; started again when full."""


def _numbers(oid: str) -> tuple[int, ...]:
    """`oid_tuple`, through the cache of `_heads` (columns and roots repeat at every poll)."""
    found = _heads.get(oid)
    if found is None:
        if len(_heads) >= _HEADS_KEPT:
            _heads.clear()
        found = _heads[oid] = oid_tuple(oid)
    return found


def _split(oid: str) -> tuple[str, int]:
    """(all but the last number, the last number) of an answered OID, through `_rows`."""
    found = _rows.get(oid)
    if found is None:
        head, _, tail = oid.rpartition(".")
        if len(_rows) >= _ROWS_KEPT:
            _rows.clear()
        found = _rows[oid] = (head, int(tail))
    return found


MAX_VARBINDS = 96
"""Varbinds asked for in one request, at most (rows times subtrees): answers of 2-3 KB, so that a
colour MFP's supplies table (8 columns of 10 rows) comes in one.  An agent with a smaller message
limit truncates the answer (RFC 3416), and the walk goes on from there."""


@dataclass(eq=False)
class Subtree:
    """One subtree's walk: where it is, what it read, how it ended."""

    root: str
    max_rows: int
    hint: int | None = None
    """Values it had at the last complete walk."""
    values: dict[str, SnmpValue] = field(default_factory=dict)
    read: int = 0
    """Values read, absent ones too (they count towards `max_rows`)."""
    cursor: str = ""
    """The last OID read (the root at first): the next request asks for what follows it."""
    head: str | None = None
    """`cursor` but its last number: the next row of a column shares it (a cheap comparison)."""
    last: int = -1
    """`cursor`'s last number."""
    head_tuple: tuple[int, ...] = ()
    """`head` as numbers, for the comparison when a column changes."""
    done: bool = False
    """The walk is over: complete unless `failure`; not over with `resume` (pysnmp goes on)."""
    failure: SnmpError | None = None
    resume: bool = False

    def __post_init__(self) -> None:
        self.root = self.root.strip(".")
        self.prefix = self.root + "."
        self.root_tuple = _numbers(self.root)
        self.cursor = self.cursor or self.root

    def want(self, most: int, cap: int) -> int:
        """Rows to ask for: what the last walk found left, + 1, at most `cap`; `most` when
        unknown."""
        return most if self.hint is None else max(1, min(cap, self.hint - self.read + 1))

    def fail(self, failure: SnmpError) -> None:
        self.done, self.failure = True, failure

    def _state(self) -> tuple[object, ...]:
        return (self.read, self.cursor, self.head, self.last, self.head_tuple, self.done,
                self.failure, len(self.values))

    def _restore(self, state: tuple[object, ...]) -> None:
        (self.read, self.cursor, self.head, self.last, self.head_tuple,  # type: ignore
         self.done, self.failure, kept) = state
        while len(self.values) > kept:  # type: ignore[operator]
            self.values.popitem()


_FIRST = operator.itemgetter(0)
_ROOT = operator.attrgetter("root_tuple")


def _plan(subtrees: list[Subtree], most: int, cap: int,
          one: bool) -> list[tuple[list[Subtree], int]]:
    """The requests of one round: (subtrees, rows each) grouped by the rows they want."""
    batches: list[tuple[list[Subtree], int]] = []
    batch: list[Subtree] = []
    rows = 0
    for want, subtree in sorted([(s.want(most, cap), s) for s in subtrees], key=_FIRST):
        wanted = max(rows, want)
        if batch and (one or wanted * (len(batch) + 1) > MAX_VARBINDS):
            batches.append((batch, rows))
            batch, wanted = [], want
        batch.append(subtree)
        rows = wanted
    if batch:
        batches.append((batch, rows))
    return [(sorted(b, key=_ROOT), r) for b, r in batches]


class BulkWalk:
    """The walk of several subtrees of one agent (`run`)."""

    def __init__(self, reader: UdpReader, memory: WalkMemory, target: SnmpTarget,
                 max_repetitions: int) -> None:
        self.reader = reader
        self.memory = memory
        self.target = target
        self.most = max_repetitions
        self.v1 = target.credentials.version == 1
        self.where = f"{target.host}:{target.port}"

    async def run(self, subtrees: list[Subtree]) -> None:
        """Walk until every subtree is done (complete, failed or left to pysnmp)."""
        walking = [s for s in subtrees if not s.done]
        while walking:
            one = self.memory.one_subtree(self.target)
            plan = (_plan(walking, 1, 1, one) if self.v1
                    else _plan(walking, self.most, MAX_VARBINDS, one))
            if len(plan) == 1:
                await self._exchange(*plan[0])
            else:
                await self._exchange_all(plan)
            walking = [s for s in walking if not s.done]

    async def _exchange_all(self, plan: list[tuple[list[Subtree], int]]) -> None:
        """The requests of one round, by as many workers as the reader lets be in flight to one
        agent (`MAX_IN_FLIGHT`): a task per request would only wait for its turn there."""
        batches = iter(plan)

        async def worker() -> None:
            for batch, rows in batches:
                await self._exchange(batch, rows)

        await asyncio.gather(*(worker() for _ in range(min(MAX_IN_FLIGHT, len(plan)))))

    async def _exchange(self, batch: list[Subtree], rows: int) -> None:
        """One request for `batch` (again with fewer rows after tooBig) and its answer."""
        while True:
            oids = [s.cursor for s in batch]
            try:
                answer = await self.reader.request(
                    self.target, GETNEXT if self.v1 else GETBULK, 0, 0 if self.v1 else rows, oids)
            except Unsure:
                for subtree in batch:
                    subtree.done = subtree.resume = True
                return
            except NoAnswer:
                timeout = SnmpTimeout(f"{self.where}: no SNMP response within "
                                      f"{self.target.timeout:g} s")
                for subtree in batch:
                    subtree.fail(timeout)
                return
            except Malformed as exc:
                for subtree in batch:
                    subtree.fail(SnmpError(f"{self.where}: {exc}"))
                return
            status, index = answer.status, answer.index
            if not status:
                if not self._take(batch, answer.varbinds):
                    self.memory.set_one_subtree(self.target)
                return
            if status == TOO_BIG and not self.v1 and rows > 1:
                rows = max(1, rows // 2)
                continue
            if len(batch) > 1 and (status == TOO_BIG or not 0 < index <= len(batch)):
                # tooBig for a single row, or no telling which subtree is at fault: each alone
                await asyncio.gather(*(self._exchange([s], rows) for s in batch))
                return
            subtree = batch[index - 1] if len(batch) > 1 else batch[0]
            if status == NO_SUCH_NAME and self.v1:  # the end of the MIB view in v1
                subtree.done = True
            else:
                subtree.fail(SnmpError(f"{self.where}: walk of {subtree.root} failed: "
                                       f"{error_status_name(status)}"))
            return

    def _take(self, batch: list[Subtree], varbinds: list[tuple[str, Value]]) -> bool:
        """Add an answer's values to the subtrees they belong to; False (and nothing taken)
        when the answer breaks RFC 3416's promises at a position only a confused agent would."""
        count = len(batch)
        if count == 1:
            if not varbinds:  # nothing beyond: the end of the subtree
                batch[0].done = True
            else:
                self._column(batch[0], varbinds, 0, [])
            return True
        if not varbinds:  # a confused agent
            return False
        states = [s._state() for s in batch]
        beyond: list[str] = []
        """The OID that ended each subtree that ended: checked against the others."""
        for column, subtree in enumerate(batch):
            if not subtree.done and not self._column(subtree, varbinds[column::count], column,
                                                     beyond):
                return self._undo(batch, states)
        if beyond and self._skipped(batch, states, beyond):
            return self._undo(batch, states)
        return True

    def _column(self, subtree: Subtree, varbinds: list[tuple[str, Value]], column: int,
                beyond: list[str]) -> bool:
        """Take a subtree's answers (in order); False when they go back or fall before it
        at a position > 0 (see `_take`).  The name past its end goes to `beyond`."""
        prefix, values, limit = subtree.prefix, subtree.values, subtree.max_rows
        head, last, read = subtree.head, subtree.last, subtree.read
        cursor, head_tuple = subtree.cursor, subtree.head_tuple
        rows = _rows
        try:
            for oid, value in varbinds:
                name_head, number = rows.get(oid) or _split(oid)
                if name_head == head and value is not END_OF_MIB:  # the column goes on
                    increasing = number > last
                else:
                    if value is END_OF_MIB or not oid.startswith(prefix):
                        if (value is not END_OF_MIB and column
                                and _numbers(oid) < subtree.root_tuple):
                            return False
                        subtree.done = True
                        beyond.append(oid)
                        return True
                    numbers = _numbers(name_head)
                    increasing = ((*numbers, number) > (*head_tuple, last) if head
                                  else (*numbers, number) > subtree.root_tuple)
                    head_tuple = numbers
                if not increasing:
                    if column:
                        return False
                    subtree.fail(walk_stopped(self.target, subtree.root, "loop", values,
                                              went_back=(oid, cursor)))
                    return True
                if read >= limit:
                    subtree.fail(walk_stopped(self.target, subtree.root, "rows", values))
                    return True
                cursor, head, last = oid, name_head, number
                read += 1
                if value is not ABSENT:  # absent values only count
                    values[oid] = value  # type: ignore[assignment]
            return True
        finally:
            subtree.cursor, subtree.head, subtree.last, subtree.read = cursor, head, last, read
            subtree.head_tuple = head_tuple

    @staticmethod
    def _skipped(batch: list[Subtree], states: list[tuple[object, ...]],
                 beyond: list[str]) -> bool:
        """Whether the OID that ended one subtree's answers lies in another subtree where that
        one's own answers passed it over: a GETNEXT answers the next OID there is, so an agent
        that shows one its answers for that subtree skipped has not answered in RFC 3416's
        order (it answered the first subtree's rows only, or each subtree's rows in turn)."""
        for subtree, state in zip(batch, states, strict=True):
            started = None
            for oid in beyond:
                if not oid.startswith(subtree.prefix) or oid in subtree.values:
                    continue
                started = started or _numbers(state[1])  # type: ignore[arg-type]
                found = _numbers(oid)
                if found > started and (subtree.done or found < _numbers(subtree.cursor)):
                    return True
        return False

    @staticmethod
    def _undo(batch: list[Subtree], states: list[tuple[object, ...]]) -> bool:
        for subtree, state in zip(batch, states, strict=True):
            subtree._restore(state)
        return False
