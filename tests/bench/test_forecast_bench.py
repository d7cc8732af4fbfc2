"""`bench/forecast.py` at its smallest: it runs, scores every usage pattern, prints its table."""

from __future__ import annotations

import statistics

from bench.forecast import SCENARIOS, report, run


def test_forecast_bench_scores_every_pattern_and_prints_its_table() -> None:
    scores = run(printers=1, horizons=[3, 14])
    late = scores[14]
    assert late.forecast >= len(SCENARIOS)  # at least a forecast per printer after two weeks
    assert late.no_level >= 2  # the colour MFPs' "some remaining" waste boxes: no number
    assert statistics.median(late.relative) < 0.5
    table = report(scores, 1.0, 1)
    assert "| 3 days |" in table and "| 14 days |" in table and "p90 days off" in table
