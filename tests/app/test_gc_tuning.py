"""`printgw run` collects the young generation less often (`gateway.app.gc_tuning`)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from gateway.app.gc_tuning import YOUNG_GENERATION, tune_for_polling


@pytest.fixture
def collections() -> Iterator[list[int]]:
    """The generations collected while the test runs; the thresholds restored after it."""
    before = gc.get_threshold()
    seen: list[int] = []

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(note)
    yield seen
    gc.callbacks.remove(note)
    gc.set_threshold(*before)


def _garbage_cycles(count: int) -> None:
    for _ in range(count):
        item: list[object] = []
        item.append(item)


def test_the_young_generation_is_collected_less_often(collections: list[int]) -> None:
    gc.set_threshold(700, 10, 10)
    tune_for_polling()
    assert gc.get_threshold() == (YOUNG_GENERATION, 10, 10)
    gc.collect()
    collections.clear()
    _garbage_cycles(YOUNG_GENERATION // 2)
    assert collections == []  # with the default threshold: 7 collections by now
    _garbage_cycles(YOUNG_GENERATION)
    assert collections and collections[0] == 0  # garbage cycles are still collected
