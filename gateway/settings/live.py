"""The config in force inside the daemon, and the one path a reload takes.

Each component is given the section it needs as a function (`live.section(lambda c: c.poll)`)
and calls it where it uses a setting, so a reload (`swap`) reaches every component at once and a
new component cannot be missed.  A component that must act on a change (spread its schedule
again, forget cached credentials, resize a batch) subscribes with `on_change`, naming the
sections or keys it cares about.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from gateway.settings.schema import Config

T = TypeVar("T")
Reaction = Callable[[Config], None]


class LiveConfig:
    def __init__(self, config: Config) -> None:
        self._config = config
        self._reactions: list[tuple[tuple[str, ...], Reaction]] = []

    def __call__(self) -> Config:
        return self._config

    def section(self, pick: Callable[[Config], T]) -> Callable[[], T]:
        """A function giving the part of the config `pick` selects, as it is in force now."""
        return lambda: pick(self._config)

    def on_change(self, keys: tuple[str, ...], reaction: Reaction) -> None:
        """Call `reaction(new config)` after a swap that changed a key under any of `keys`
        (`"poll"` a section, `"cloud.batch_size"` one key; none: any change)."""
        self._reactions.append((keys, reaction))

    def swap(self, new: Config, changed: list[str]) -> None:
        """Put `new` in force; `changed` names the keys that differ (`changed_keys`)."""
        self._config = new
        for keys, reaction in self._reactions:
            if not keys or any(key == k or key.startswith(f"{k}.")
                               for key in changed for k in keys):
                reaction(new)
