"""A supply forecast (`SupplyForecast.to_json()`) in a few words, as the status page and
`printgw status` show it next to the supply's level: `≈ 23 days · 4,100 pages`, `full in ≈ 9 days`
for a receptacle, `not enough history` or `no level to forecast` (the reason in the page's
tooltip)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

NOT_ENOUGH = "not enough history"
NO_LEVEL = "no level to forecast"
"""A supply that tells no number (`-3` "some remaining", or asleep for days): no history helps."""


def forecast_words(supply: Mapping[str, Any]) -> str:
    """The forecast of a supply of the status snapshot (its `forecast` key), "" with none."""
    forecast = supply.get("forecast")
    if not forecast:
        return ""
    days = forecast["days_to_empty"]
    if days is None:
        return NO_LEVEL if (forecast["reason"] or "").startswith("level unknown") else NOT_ENOUGH
    when = "now" if days < 0.5 else f"≈ {days:.0f} day{'' if round(days) == 1 else 's'}"
    if supply.get("class") == "filled":
        return "full now" if days < 0.5 else f"full in {when}"
    pages = forecast["pages_remaining"]
    if days < 0.5:
        return "empty now"
    return when if pages is None else f"{when} · {pages:,} pages"


def forecast_title(supply: Mapping[str, Any]) -> str:
    """What the words rest on, or why there is no forecast (a tooltip)."""
    forecast = supply.get("forecast")
    if not forecast:
        return ""
    if forecast["reason"]:
        return forecast["reason"]
    return (f"{forecast['confidence']} confidence, {forecast['method']}, "
            f"{forecast['basis_points']} points over {forecast['basis_days']:.1f} days"
            + (f", empty on {forecast['empty_on']}" if forecast["empty_on"] else ""))
