"""The uplink tests' store (a real SQLite file in `tmp_path`), clock and outbox."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.store import Store
from gateway.uplink.outbox import Outbox
from tests.support.outbox_entries import Clock


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.in_directory(tmp_path / "data") as opened:
        yield opened


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox(store: Store, clock: Clock) -> Outbox:
    return Outbox(store, clock=clock, rng=random.Random(5))
