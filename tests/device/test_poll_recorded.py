"""`printgw poll --json` against snmpsim serving real printers' recordings meets what an
independent reader got from each (`shared/fixtures/snmp/NAME.expected.json`)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from protocols.hosts import free_port
from tests.support.paths import SNMP_FIXTURES
from tests.support.printgw_cli import printgw

EXPECTED = sorted(SNMP_FIXTURES.glob("*.expected.json"))


def poll_json(host: str, port: int, community: str) -> dict:
    result = printgw("poll", host, "--port", str(port), "--community", community, "--no-ipp",
                     "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def check_supply(got: dict, expected: dict) -> list[str]:
    where = f"supply {expected['index']}"
    errors = []
    if got["description"] != expected["description"]:
        errors.append(f"{where}: description {got['description']!r} != {expected['description']!r}")
    if got["kind"] != expected["kind"]:
        errors.append(f"{where}: kind {got['kind']!r} != {expected['kind']!r}")
    level = expected["level"]
    if level is None:
        return errors
    if "percent" in level:
        percent = got["level_percent"]
        if got["level_state"] != "known" or percent is None \
                or abs(percent - level["percent"]) > level["tolerance"]:
            errors.append(f"{where}: level {percent!r} ({got['level_state']}) != {level}")
    elif "state" in level:
        if got["level_state"] != level["state"] or got["level_percent"] is not None:
            errors.append(f"{where}: level state {got['level_state']!r} / "
                          f"{got['level_percent']!r} != {level['state']!r}")
    elif "any_of" in level:
        answers = {got["level_percent"]} if got["level_percent"] is not None else set()
        answers.add(got["level_state"])
        if not answers & set(level["any_of"]):
            errors.append(f"{where}: level {got['level_percent']!r}/{got['level_state']!r} "
                          f"is none of {level['any_of']}")
    if got["raw_level"] != expected["raw_level"]:
        errors.append(f"{where}: raw level {got['raw_level']} != {expected['raw_level']}")
    if got["max_capacity"] != expected["raw_max_capacity"]:
        errors.append(f"{where}: max capacity {got['max_capacity']} != "
                      f"{expected['raw_max_capacity']}")
    return errors


def check_identity(identity: dict, expected: dict) -> list[str]:
    """The vendor's own model name, nothing glued on; the IEEE 1284 device ID where one is kept."""
    errors = []
    model = identity["model"] or ""
    if "model_any" in expected and not any(name in model for name in expected["model_any"]):
        errors.append(f"model {model!r} names none of {expected['model_any']}")
    if "model_max_len" in expected and len(model) > expected["model_max_len"]:
        errors.append(f"model {model!r} longer than {expected['model_max_len']}")
    if expected.get("device_id_required") and not identity["device_id"]:
        errors.append(f"no device ID (kept at {expected['_device_id_oid']})")
    return errors


def check_counters(status: dict, expected: dict) -> list[str]:
    """Colour/mono counters read from the vendor object the fixture names."""
    errors = []
    for key, field in (("page_count_color", "color"), ("page_count_mono", "mono")):
        if key in expected and status["counters"][field] != expected[key]:
            errors.append(f"counters.{field} {status['counters'][field]!r} != {expected[key]} "
                          f"({expected['_source'][key]})")
        if key in expected and not status["sources"].get(f"counters.{field}"):
            errors.append(f"counters.{field} has no source")
    return errors


@pytest.mark.parametrize("expected_file", EXPECTED, ids=lambda p: p.name.split(".")[0])
def test_poll_meets_expected(recorded_printers: tuple[str, int], expected_file: Path) -> None:
    expected = json.loads(expected_file.read_text())
    host, port = recorded_printers
    status = poll_json(host, port, expected["device"])

    errors = []
    identity = status["identity"]
    if expected["serial"] is not None and identity["serial"] != expected["serial"]:
        errors.append(f"serial {identity['serial']!r} != {expected['serial']!r}")
    if expected["model_token"] is not None and expected["model_token"] not in (identity["model"]
                                                                              or ""):
        errors.append(f"model {identity['model']!r} lacks {expected['model_token']!r}")
    if expected["page_count_total"] is not None \
            and status["counters"]["total"] != expected["page_count_total"]:
        errors.append(f"total {status['counters']['total']} != {expected['page_count_total']}")
    assert identity["manufacturer"], "no manufacturer"
    errors.extend(check_identity(identity, expected))
    errors.extend(check_counters(status, expected.get("counters") or {}))

    supplies = {supply["index"]: supply for supply in status["supplies"]}
    for supply in expected["supplies"]:
        if supply["index"] not in supplies:
            errors.append(f"supply {supply['index']} missing (got {sorted(supplies)})")
            continue
        errors.extend(check_supply(supplies[supply["index"]], supply))
        if "color" in supply and supplies[supply["index"]]["color"] != supply["color"]:
            errors.append(f"supply {supply['index']} {supply['description']!r}: colour "
                          f"{supplies[supply['index']]['color']!r} != {supply['color']!r}")
    for supply in status["supplies"]:
        assert supply["level_state"] in ("known", "some-remaining", "unknown", "unrestricted")
        if supply["level_percent"] is not None:
            assert 0 <= supply["level_percent"] <= 100
        assert supply["class"] in ("consumed", "filled")
    assert status["reachable"] == {"snmp": True}
    assert not errors, "\n".join(errors)


def test_unanswered_host_fails_clearly_within_timeout() -> None:
    port = free_port(tcp=False, udp=True)
    started = time.monotonic()
    result = printgw("poll", "127.0.0.1", "--port", str(port), "--ipp-port", str(port),
                     "--timeout", "1", "--retries", "0", "--json")
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "does not answer" in lines[0], result.stderr
    assert elapsed < 1 + 4, f"took {elapsed:.1f} s with a 1 s timeout"  # + interpreter start-up


def test_snmp_answers_while_ipp_is_down(recorded_printers: tuple[str, int]) -> None:
    """One protocol failing costs nothing of what the other read."""
    host, port = recorded_printers
    result = printgw("poll", host, "--port", str(port), "--community", "canonprinter_lbp",
                     "--ipp-port", str(free_port(tcp=False, udp=True)), "--timeout", "1", "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["reachable"] == {"snmp": True, "ipp": False}
    assert status["identity"]["serial"] == "MKRA012345"
    assert any(p["source"] == "ipp" for p in status["problems"])


def test_text_report_shows_supplies(recorded_printers: tuple[str, int]) -> None:
    host, port = recorded_printers
    result = printgw("poll", host, "--port", str(port), "--community", "ricoh_mpc3002",
                     "--no-ipp")
    assert result.returncode == 0, result.stderr
    for text in ("W492KB03439", "Black Toner", "Waste Toner", "40 %", "271,871"):
        assert text in result.stdout
