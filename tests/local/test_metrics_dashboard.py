"""The Grafana dashboard `config/grafana-printgw.json` (issue 18): every PromQL expression of it
(panels and template variables) parses, and every metric it names is in a real scrape of the real
`printgw run` polling virtual printers with a cloud link.  Addresses: 127.0.132.11-127.0.132.13.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import promql_parser
import pytest
from prometheus_client.parser import text_string_to_metric_families

from protocols.hosts import free_port
from tests.support.uplink_harness import uplink_setup

DASHBOARD = Path(__file__).resolve().parents[2] / "config" / "grafana-printgw.json"
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1d"}
"""Grafana's own variables that stand for durations, as Grafana would fill them in."""
LABEL_VALUES = re.compile(r"^label_values\((.+),\s*\w+\)$")


def expressions(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every panel target and every query variable."""
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r} {target['refId']}", target["expr"]
    for variable in dashboard["templating"]["list"]:
        query = variable["query"]["query"] if isinstance(variable["query"], dict) \
            else variable["query"]
        match = LABEL_VALUES.match(query)
        assert match, f"variable {variable['name']}: not label_values(selector, label)"
        yield f"variable {variable['name']}", match.group(1)


def metric_names(expression: str) -> set[str]:
    """The metric names an expression selects (each selector must name one)."""
    for variable, value in GRAFANA_VARIABLES.items():
        expression = expression.replace(variable, value)
    names: list[str | None] = []
    promql_parser.walk(promql_parser.parse(expression), lambda node: names.append(
        node.name) if isinstance(node, promql_parser.VectorSelector) else None)
    assert None not in names, f"a selector without a metric name in {expression}"
    return {name for name in names if name is not None}


def exposed(text: str) -> set[str]:
    """Every name a query could select in a scrape: samples, and families without samples yet
    (a counter as `NAME_total`)."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(f"{family.name}_total" if family.type == "counter" else family.name)
        names |= {sample.name for sample in family.samples}
    return names


def test_the_dashboard_is_an_importable_grafana_dashboard() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"]
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}"
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
    titles = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    for topic in ("state", "low", "pages per day", "supply levels", "outbox", "cloud"):
        assert topic in titles, topic


@pytest.mark.slow
async def test_every_query_names_only_metrics_a_running_gateway_exposes(tmp_path: Path) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    wanted = {where: metric_names(expression) for where, expression in expressions(dashboard)}
    assert len(wanted) >= 20
    async with uplink_setup(tmp_path, "127.0.132.11",
                            ["color-mfp", "inkjet", "contract-laser"]) as h:
        port = free_port()
        h.write_config(poll={"interval": "2s"}, status_page={"port": port})
        await h.start_daemon()

        async def scrape() -> set[str] | None:
            try:
                async with h.http.get(f"http://127.0.0.1:{port}/metrics") as response:
                    names = exposed(await response.text())
            except aiohttp.ClientError:
                return None
            ready = {"printgw_supply_level_percent", "printgw_cloud_connected"}
            return names if ready <= names else None
        names = await h.wait_for(scrape, 60, "the printers read and the cloud link up")
    missing = {where: sorted(metrics - names) for where, metrics in wanted.items()
               if metrics - names}
    assert missing == {}
