"""Days of printing in a moment (`simulator.history`, the control API's `history` request): the
hourly samples follow the printer's own consumption model, a sleeping printer reads no level at
night, a `-3` receptacle stays a state, and `empty_after` tells when a supply really runs out."""

from __future__ import annotations

import itertools
import random
import time

import aiohttp

from protocols.hosts import free_port
from simulator.control_api import start_control_api
from simulator.history import HOUR, empty_after, run_history
from simulator.profiles import get_profile
from tests.support.sim_helpers import running_fleet

START = 1_772_409_600.0  # 2026-03-02 00:00 UTC, a Monday


async def test_history_request_moves_the_printer_on_and_answers_its_readings() -> None:
    async with running_fleet("127.0.125.1", 1, profiles=["color-mfp"]) as fleet:
        port = free_port()
        runner = await start_control_api(fleet, "127.0.0.1", port)
        api = f"http://127.0.0.1:{port}/printers/0/history"
        state = fleet.printers[0].state
        before = state.total_pages
        try:
            async with aiohttp.ClientSession() as http:
                async with http.post(api, json={"days": 3, "usage": "office",
                                                "daily_pages": 100}) as r:
                    assert r.status == 200
                    body = await r.json()
                async with http.post(api, json={"days": 0}) as r:
                    assert r.status == 400 and "days" in (await r.json())["error"]
        finally:
            await runner.cleanup()
    samples = body["samples"]
    assert len(samples) == 72
    assert all(b["at"] - a["at"] == HOUR for a, b in itertools.pairwise(samples))
    assert samples[-1]["at"] <= time.time()
    assert samples[-1]["pages"] == state.total_pages == body["printer"]["counters"]["total"]
    assert state.total_pages > before
    waste = next(f"1.{s.index}" for s in state.supplies if s.kind == "wasteToner")
    assert {s["levels"][waste] for s in samples} == {-3}  # "some remaining": never a number
    black = [s["levels"]["1.1"] for s in samples]
    assert black == sorted(black, reverse=True) and black[0] >= black[-1]


def test_a_sleeping_printer_reads_no_level_at_night_and_the_truth_is_when_it_empties() -> None:
    state = get_profile("mono-laser").make_state(0, random.Random(1))
    state.set_level("black", 50)
    rng = random.Random(2)
    samples = run_history(state, "sleeping", 48, START, rng, daily_pages=100)
    night = [s for s in samples if not 7 <= time.gmtime(s.at - HOUR).tm_hour < 19]
    assert night and all(s.levels["1.1"] == -2 for s in night)
    assert all(s.levels["1.1"] >= 0 for s in samples if s not in night)
    truth = empty_after(state, "sleeping", samples[-1].at, rng, daily_pages=100)
    # 50 % of a 3,000-page toner less two days of use, at 100 pages a day
    assert 11 * 86400 <= truth["1.1"] <= 14 * 86400
    assert state.supply("black").level > 0  # the truth ran on a copy
