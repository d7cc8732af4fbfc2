"""One line per benchmark target: our figure, the baseline's of the same run, ratio, pass/MISSED.

Shared by `bench/fleet.py` and `bench/scale.py`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Line:
    target: str
    ours: str
    baseline: str
    ratio: float
    goal: str
    met: bool


def print_lines(title: str, lines: list[Line]) -> bool:
    """Print the table under `title`; True when every target was met."""
    print(f"\n== {title}")
    print(f"{'target':<40}{'ours':<62}{'baseline':<34}{'ratio':>7}  {'goal':<22}result")
    for line in lines:
        print(f"{line.target:<40}{line.ours:<62}{line.baseline:<34}{line.ratio:>7.2f}  "
              f"{line.goal:<22}{'pass' if line.met else 'MISSED'}")
    return all(line.met for line in lines)
