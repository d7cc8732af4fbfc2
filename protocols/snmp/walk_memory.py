"""What the last readings of each agent found: the one small record kept per agent.

Per agent (address, port, context): how many values each subtree had at its last complete walk
(the next walk asks for that many rows, + 1, and may read twice as many: `SnmpClient.walk_limit`),
whether the agent answers a GETBULK of several subtrees the way RFC 3416 says (one that does
not is walked one subtree per request), and the sysObjectID it last gave (the next reading asks
for its vendor's objects in the same GET as the system group: `protocols.snmp.printer`).  The
counts are an array indexed by the subtree's number in a table shared by all agents (the gateway
walks the same few dozen subtrees everywhere): about 150 bytes per agent.  Bounded: the least
recently walked agents are forgotten beyond `AGENTS_KEPT` (their next walk asks for the default
number of rows), and subtrees beyond `ROOTS_KEPT` distinct ones are not remembered.
"""

from __future__ import annotations

from array import array
from collections import OrderedDict

from protocols.snmp.model import SnmpTarget

AGENTS_KEPT = 100_000
ROOTS_KEPT = 4_096
_UNKNOWN = 0xFFFF
_MOST = 0xFFFE

Key = tuple[str, int, str]


class _Record:
    __slots__ = ("object_id", "one_subtree", "rows")

    def __init__(self) -> None:
        self.rows = array("H")
        self.one_subtree = False
        self.object_id: str | None = None


class WalkMemory:
    def __init__(self, agents_kept: int = AGENTS_KEPT) -> None:
        self.agents_kept = agents_kept
        self._agents: OrderedDict[Key, _Record] = OrderedDict()
        self._roots: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._agents)

    @staticmethod
    def _key(target: SnmpTarget) -> Key:
        return target.host, target.port, target.credentials.context

    def _record(self, target: SnmpTarget, create: bool) -> _Record | None:
        key = self._key(target)
        record = self._agents.get(key)
        if record is None and create:
            record = self._agents[key] = _Record()
            if len(self._agents) > self.agents_kept:
                self._agents.popitem(last=False)
        elif record is not None:
            self._agents.move_to_end(key)
        return record

    def rows(self, target: SnmpTarget, root: str) -> int | None:
        """Values `root` had at the agent's last complete walk of it, if known."""
        return self.sizes(target, [root])[0]

    def sizes(self, target: SnmpTarget, roots: list[str]) -> list[int | None]:
        """`rows` of each root."""
        record = self._agents.get(self._key(target))
        if record is None:
            return [None] * len(roots)
        known, indices = record.rows, self._roots
        sizes: list[int | None] = []
        for root in roots:
            index = indices.get(root, _UNKNOWN)
            rows = known[index] if index < len(known) else _UNKNOWN
            sizes.append(None if rows == _UNKNOWN else rows)
        return sizes

    def remember(self, target: SnmpTarget, sizes: list[tuple[str, int]]) -> None:
        """Values each (root, values) had at a complete walk."""
        record = self._record(target, create=True)
        assert record is not None
        known = record.rows
        for root, rows in sizes:
            index = self._roots.get(root)
            if index is None:
                if len(self._roots) >= ROOTS_KEPT:
                    continue
                index = self._roots[root] = len(self._roots)
            if index >= len(known):
                known.extend([_UNKNOWN] * (index + 1 - len(known)))
            known[index] = min(rows, _MOST)

    def object_id(self, target: SnmpTarget) -> str | None:
        """The sysObjectID the agent gave at its last reading, if known."""
        record = self._agents.get(self._key(target))
        return record.object_id if record is not None else None

    def remember_object_id(self, target: SnmpTarget, object_id: str | None) -> None:
        record = self._record(target, create=True)
        assert record is not None
        record.object_id = object_id

    def one_subtree(self, target: SnmpTarget) -> bool:
        """Whether the agent is walked one subtree per request."""
        record = self._agents.get(self._key(target))
        return record is not None and record.one_subtree

    def set_one_subtree(self, target: SnmpTarget) -> None:
        record = self._record(target, create=True)
        assert record is not None
        record.one_subtree = True
