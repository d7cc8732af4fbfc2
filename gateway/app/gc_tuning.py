"""The garbage collector of a gateway process, set for what it does all day: polling.

A reading allocates a few thousand short-lived containers (varbinds, attribute values, the
status and its supplies) that die by reference counting, yet CPython's default young-generation
threshold (700 allocations) runs a collection every few printers, and every tenth of those
promotes survivors towards the old generation, whose full collections walk every object of the
process (the inventory, the caches of every printer's last reading): at 1,000 colour MFPs the
collector took 7-9 % of the gateway's CPU (`bench/gateway_poll.py`, `gc.callbacks`: 0.41-0.51 s
of 5.9-6.1 s over start-up and four cycles; 0.06 s with the threshold below).  A young
generation of 10,000 objects holds a few MB of garbage cycles at most before it is collected.
"""

from __future__ import annotations

import gc

YOUNG_GENERATION = 10_000
"""Allocations (less deallocations) of container objects between young-generation collections."""


def tune_for_polling() -> None:
    """Collect the young generation every `YOUNG_GENERATION` allocations (the older generations'
    thresholds as they are).  Process-wide: `printgw run` calls it once, at start."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION, middle, old)
