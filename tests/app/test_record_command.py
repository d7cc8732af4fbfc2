"""`printgw record HOST` and its replay by `printgw-sim`, end to end with real peers: a virtual
printer of the fleet and snmpsim serving real recordings are recorded, the recording is served by
a `printgw-sim` process, and `printgw poll --json` reads the replay as it read the original.

Addresses: 127.0.0.126 (the originals) and 127.0.0.127 (the replays).
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from protocols.hosts import free_port
from protocols.ipp.client import get_printer_attributes
from protocols.ipp.model import REQUESTED_ATTRIBUTES
from protocols.ipp.parser import parse_response
from protocols.recording import Manifest, RecordingFiles
from tests.support.hostile_snmp import PRT_ALERT_ENTRY, Behaviour, hostile_agent
from tests.support.ippeveprinter import (
    CONF_DIR,
    IppEveFleet,
    ippeve_fleet_fixture,  # noqa: F401
)
from tests.support.paths import IPP_FIXTURES, SNMP_FIXTURES
from tests.support.printgw_cli import COMMAND, printgw
from tests.support.sim_helpers import run, running_fleet
from tests.support.snmpsim_agent import snmpsim

ORIGINAL, REPLAY = "127.0.0.126", "127.0.0.127"
HP_DEVICE_ID = "1.3.6.1.4.1.11.2.3.9.1.1.7.0"
MASKED_FIELDS = re.compile(
    r"identity\.(serial|mac|uuid|sys_descr|device_id)|supplies\.\d+\.cartridge_id")
"""What a masked recording may read differently: values that hold serials, MACs, UUIDs."""


@contextlib.contextmanager
def printgw_sim(profile: str | Path, ip: str) -> Iterator[tuple[int, int]]:
    """A `printgw-sim` process serving one printer of `profile` at `ip`: (SNMP, IPP) ports."""
    snmp, ipp = free_port(ip, udp=True), free_port(ip)
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--first-ip", ip, "--snmp-port", str(snmp),
         "--ipp-port", str(ipp), "--control-port", "0", "--seed", "7", "--profile",
         str(profile)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "printgw-sim:" in line, (line, proc.stderr.read() if proc.stderr else "")
        yield snmp, ipp
    finally:
        proc.terminate()
        proc.wait(10)


def poll(host: str, *options: str) -> dict[str, Any]:
    result = printgw("poll", host, "--json", *options)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def record(host: str, out: Path, *options: str) -> subprocess.CompletedProcess[str]:
    result = printgw("record", host, "--out", str(out), *options)
    assert result.returncode == 0, result.stderr
    return result


def comparable(document: dict[str, Any], host: str, port: int) -> dict[str, Any]:
    """The poll minus when and where it was read (messages name the agent's address)."""
    text = json.dumps({k: v for k, v in document.items() if k not in ("read_at", "host")})
    return json.loads(text.replace(f"{host}:{port}", "HOST:PORT").replace(host, "HOST"))


def flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        return {k: v for key, item in value.items()
                for k, v in flat(item, f"{prefix}{key}.").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value)
                for k, v in flat(item, f"{prefix}{i}.").items()}
    return {prefix.rstrip("."): value}


def differences(replayed: dict[str, Any], original: dict[str, Any]) -> dict[str, Any]:
    """Field → (replayed, original) where the two comparable polls differ."""
    after, before = flat(replayed), flat(original)
    return {key: (after.get(key), before.get(key)) for key in after.keys() | before.keys()
            if after.get(key) != before.get(key)}


def recording_text(out: Path) -> str:
    """Every file of the recording as text (the IPP answer's bytes as Latin-1), for grep."""
    files = sorted(out.parent.glob(RecordingFiles(out).name + "*"))
    return "\n".join(path.read_bytes().decode("latin-1") for path in files)


def test_virtual_printer_recorded_and_replayed_identically(tmp_path: Path) -> None:
    out = tmp_path / "mfp.snmprec"
    with printgw_sim("color-mfp", ORIGINAL) as (snmp, ipp):
        started = time.monotonic()
        result = record(ORIGINAL, out, "--port", str(snmp), "--ipp-port", str(ipp))
        took = time.monotonic() - started
        original = poll(ORIGINAL, "--port", str(snmp), "--ipp-port", str(ipp))
    files = RecordingFiles(out)
    assert f"wrote {files.ipp}" in result.stdout
    manifest = Manifest.read(files.manifest)
    assert manifest.ipp and not manifest.masked and manifest.host == ORIGINAL
    assert took < 30
    lines = out.read_text().splitlines()
    assert lines == sorted(lines, key=lambda line: tuple(map(int, line.split("|")[0].split("."))))
    assert any(line.startswith("1.3.6.1.2.1.43.10.2.1.4.1.1|65|") for line in lines)
    assert any(line.startswith("1.3.6.1.2.1.1.2.0|6|") for line in lines)

    with printgw_sim(out, REPLAY) as (snmp2, ipp2):
        replayed = poll(REPLAY, "--port", str(snmp2), "--ipp-port", str(ipp2))
    assert original["identity"]["serial"] and original["supplies"]
    assert differences(comparable(replayed, REPLAY, snmp2),
                       comparable(original, ORIGINAL, snmp)) == {}


def test_masked_recording_reads_the_same_but_its_secrets(tmp_path: Path) -> None:
    out = tmp_path / "masked.snmprec"
    with printgw_sim("color-mfp", ORIGINAL) as (snmp, ipp):
        record(ORIGINAL, out, "--mask", "--port", str(snmp), "--ipp-port", str(ipp))
        original = poll(ORIGINAL, "--port", str(snmp), "--ipp-port", str(ipp))
    with printgw_sim(out, REPLAY) as (snmp2, ipp2):
        replayed = poll(REPLAY, "--port", str(snmp2), "--ipp-port", str(ipp2))

    before = flat(comparable(original, ORIGINAL, snmp))
    after = flat(comparable(replayed, REPLAY, snmp2))
    assert before.keys() == after.keys()
    changed = {key for key in before if before[key] != after[key]}
    assert {"identity.serial", "identity.mac", "identity.uuid"} <= changed
    for key in changed:
        assert MASKED_FIELDS.fullmatch(key), key
        assert len(str(after[key])) == len(str(before[key])), key  # a serial is still a serial
    identity = original["identity"]
    mac = identity["mac"]
    text = recording_text(out)
    secrets = [identity["serial"], identity["uuid"], ORIGINAL, mac.replace(":", ""),
               mac.replace(":", "").upper(), mac, mac.upper()]
    assert [secret for secret in secrets if secret in text] == []
    assert bytes.fromhex(mac.replace(":", "")) not in out.read_bytes()
    assert Manifest.read(RecordingFiles(out).manifest).host is None


@pytest.mark.parametrize("name", ["jetdirect_m880", "brother", "ricoh_mpc3002"])
def test_real_recording_recorded_from_snmpsim_and_replayed_identically(
        recorded_printers: tuple[str, int], tmp_path: Path, name: str) -> None:
    host, port = recorded_printers
    out = tmp_path / f"{name}.snmprec"
    record(host, out, "--port", str(port), "--community", name, "--no-ipp")
    original = poll(host, "--port", str(port), "--community", name, "--no-ipp")
    with printgw_sim(out, REPLAY) as (snmp, _ipp):
        replayed = poll(REPLAY, "--port", str(snmp), "--no-ipp")
    assert original["supplies"]
    assert differences(comparable(replayed, REPLAY, snmp), comparable(original, host, port)) == {}


def test_masked_real_recording_holds_no_serial_mac_or_address(
        recorded_printers: tuple[str, int], tmp_path: Path) -> None:
    host, port = recorded_printers
    out = tmp_path / "brother.snmprec"
    record(host, out, "--port", str(port), "--community", "brother", "--no-ipp", "--mask")
    original = poll(host, "--port", str(port), "--community", "brother", "--no-ipp")
    with printgw_sim(out, REPLAY) as (snmp, _ipp):
        replayed = poll(REPLAY, "--port", str(snmp), "--no-ipp")
    serial = json.loads((SNMP_FIXTURES / "brother.expected.json").read_text())["serial"]
    assert serial and original["identity"]["serial"] == serial
    assert replayed["identity"]["serial"] != serial
    assert len(replayed["identity"]["serial"]) == len(serial)
    before = flat(comparable(original, host, port))
    after = flat(comparable(replayed, REPLAY, snmp))
    assert {k for k in before if before[k] != after.get(k)} <= {
        k for k in before if MASKED_FIELDS.fullmatch(k)}
    mac = original["identity"]["mac"].replace(":", "")
    text = recording_text(out)
    assert serial not in text and mac.lower() not in text.lower()
    assert bytes.fromhex(mac) not in out.read_bytes()


def _split(source: Path, context_part: tuple[str, ...]) -> tuple[str, str]:
    """A recording's lines split in two: the default context's and those of `context_part`."""
    default, context = [], []
    for line in source.read_text().splitlines(keepends=True):
        oid = line.split("|", 1)[0]
        (context if oid.startswith(context_part) else default).append(line)
    return "".join(default), "".join(context)


def test_context_recorded_and_replayed(tmp_path: Path) -> None:
    """An HP device that keeps the device ID and the supplies in the `Jetdirect` context only:
    the recording has a file for the context, and the replay serves it."""
    served = tmp_path / "served"
    served.mkdir()
    default, context = _split(SNMP_FIXTURES / "jetdirect_m880.snmprec",
                              (HP_DEVICE_ID, "1.3.6.1.2.1.43.11."))
    (served / "hpctx.snmprec").write_text(default)
    (served / "hpctx@Jetdirect.snmprec").write_text(default + context)
    out = tmp_path / "recorded" / "hp.snmprec"
    out.parent.mkdir()
    with snmpsim(sorted(served.glob("*.snmprec")), tmp_path / "snmpsim", host=ORIGINAL) as (
            host, port):
        result = record(host, out, "--port", str(port), "--community", "hpctx", "--no-ipp")
        original = poll(host, "--port", str(port), "--community", "hpctx", "--no-ipp")
    files = RecordingFiles(out)
    assert f"wrote {files.context('Jetdirect')}" in result.stdout
    assert Manifest.read(files.manifest).contexts == ["Jetdirect"]
    assert HP_DEVICE_ID not in out.read_text()
    assert HP_DEVICE_ID in files.context("Jetdirect").read_text()
    assert original["identity"]["device_id"] and original["supplies"]

    with printgw_sim(out, REPLAY) as (snmp, _ipp):
        replayed = poll(REPLAY, "--port", str(snmp), "--no-ipp")
    assert differences(comparable(replayed, REPLAY, snmp), comparable(original, host, port)) == {}


@pytest.mark.parametrize("mask", [False, True], ids=["plain", "masked"])
def test_ipp_answer_of_a_real_ipp_server_recorded_and_replayed(
        ippeve_fleet: IppEveFleet, tmp_path: Path, mask: bool) -> None:
    """CUPS's ippeveprinter sends `printer-serial-number` only when it is asked for by name:
    the recording asks for `all` and for printgw's attributes by name."""
    printer = ippeve_fleet.start(f"hp{int(mask)}", CONF_DIR / "hp-m404.conf")
    out = tmp_path / "hp.snmprec"
    options = ("--no-snmp", "--ipp-port", str(printer.port))
    record("127.0.0.1", out, *options, *(["--mask"] if mask else []))
    original = poll("127.0.0.1", *options)
    with printgw_sim(out, REPLAY) as (_snmp, ipp):
        replayed = poll(REPLAY, "--no-snmp", "--ipp-port", str(ipp))
    serial = original["identity"]["serial"]
    assert serial
    changed = differences(comparable(replayed, REPLAY, ipp),
                          comparable(original, "127.0.0.1", printer.port))
    if not mask:
        assert changed == {}
        return
    assert "identity.serial" in changed
    assert all(MASKED_FIELDS.fullmatch(key) for key in changed), changed
    text = recording_text(out)
    assert serial not in text and "127.0.0.1" not in text
    assert original["identity"]["uuid"] not in text


def test_a_silent_device_is_one_line_and_exit_1(tmp_path: Path) -> None:
    port = free_port(ORIGINAL, udp=True)
    started = time.monotonic()
    result = printgw("record", ORIGINAL, "--port", str(port), "--timeout", "0.5",
                     "--retries", "0", "--no-ipp", "--out", str(tmp_path / "x.snmprec"))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "cannot record 127.0.0.126" in result.stderr
    assert time.monotonic() - started < 15
    assert list(tmp_path.iterdir()) == []


async def test_an_endless_table_is_cut_and_the_recording_ends_by_its_deadline(
        tmp_path: Path) -> None:
    out = tmp_path / "hostile.snmprec"
    async with hostile_agent(ORIGINAL, behaviour=Behaviour(endless=PRT_ALERT_ENTRY)) as agent:
        started = time.monotonic()
        rc, _stdout, stderr = await run(
            *COMMAND, "record", ORIGINAL, "--port", str(agent.port), "--no-ipp",
            "--deadline", "8", "--out", str(out), limit=60)
        took = time.monotonic() - started
    assert rc == 0, stderr
    assert took < 20
    problems = Manifest.read(RecordingFiles(out).manifest).problems
    assert any(f"walk of {PRT_ALERT_ENTRY}" in problem for problem in problems), problems
    assert f"{PRT_ALERT_ENTRY}." not in out.read_text()
    assert "HOSTILE-0001" in out.read_text()


@pytest.mark.parametrize("capture", ["brother-mfcj5320dw", "epsonxp6000", "hp6830",
                                     "kyocera-ecosys-m2540dn-001"])
async def test_real_ipp_answers_are_replayed_byte_for_byte(tmp_path: Path, capture: str) -> None:
    """Real printers' answers (`shared/fixtures/ipp/real`), as a recording's IPP part: the
    replay gives the reader every attribute it asks for, decoded as from the capture."""
    answer = (IPP_FIXTURES / "real" / f"get-printer-attributes-{capture}.bin").read_bytes()
    files = RecordingFiles(tmp_path / "ipp.snmprec")
    files.snmprec.write_text("")
    files.ipp.write_bytes(answer)
    Manifest("test", "2026-01-01T00:00:00+00:00", masked=False, ipp=True).write(files.manifest)
    _status, _version, recorded, _problems = parse_response(answer)
    async with running_fleet(REPLAY, profiles=[str(files.snmprec)]) as fleet:
        printer = fleet.printers[0]
        reading = await get_printer_attributes(printer.ipp_uri, timeout=10)
    assert reading.attributes == {name: value for name, value in recorded.items()
                                  if name in REQUESTED_ATTRIBUTES}
