"""`printgw-cloud operator-token|token|service`: the operator's first steps without curl, against
a real reference cloud process; the token minted enrols a real `printgw run`.

Loopback addresses 127.0.144.0-145.255 (the cloud on .144.1, the virtual printer on .145.1).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from tests.support.cloud_helpers import Api, self_signed_certificate, sqlite_url
from tests.support.printgw_cli import COMMAND
from tests.support.sim_helpers import run, running_fleet
from tests.support.uplink_harness import toml_document

CLOUD = (sys.executable, "-m", "cloud")
CLOUD_HOST = "127.0.144.1"


@contextlib.asynccontextmanager
async def cloud_process(tmp: Path, token_file: Path, *extra: str) -> AsyncIterator[str]:
    """`printgw-cloud serve` in a child process on a free port; its URL."""
    proc = await asyncio.create_subprocess_exec(
        *CLOUD, "serve", "--host", CLOUD_HOST, "--port", "0", "--database", sqlite_url(tmp),
        "--operator-token-file", str(token_file), *extra, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        found = re.search(r"listening on (\S+)", line)
        assert found, f"the cloud did not start: {line}{(await proc.stdout.read(4000)).decode()}"
        yield found.group(1)
    finally:
        proc.terminate()
        await proc.wait()


async def operator(url: str, token_file: Path, *args: str) -> tuple[int, str, str]:
    return await run(*CLOUD, *args, "--url", url, "--operator-token-file", str(token_file),
                     limit=60)


async def test_operator_steps_enrol_a_real_gateway(tmp_path: Path) -> None:
    token_file = tmp_path / "operator-token"
    rc, _, err = await run(*CLOUD, "operator-token", "create", str(token_file))
    assert rc == 0, err
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert re.fullmatch(r"pgwo_\S{40,}\n", token_file.read_text())

    definition = tmp_path / "monitoring.json"
    definition.write_text(json.dumps({
        "service_id": "monitoring", "service_outline": "Remote monitoring",
        "provider": "Example Provider", "data_types": ["supplies.level", "counters.total"]}))
    async with cloud_process(tmp_path, token_file) as url:
        rc, out, err = await operator(url, token_file, "service", "put", str(definition))
        assert (rc, out) == (0, "service monitoring: supplies.level, counters.total\n"), err
        rc, out, err = await operator(url, token_file, "service", "put", "--id", "toner",
                                      "--outline", "Toner delivery", "--provider", "Supplies",
                                      "--data-types", "supplies.level,supplies.model",
                                      "--cartridge-models", "W2030A,W2031A")
        assert rc == 0, err
        rc, out, err = await operator(url, token_file, "service", "list")
        assert rc == 0, err
        assert [line.split("\t")[0] for line in out.splitlines()] == ["monitoring", "toner"]
        rc, out, err = await operator(url, token_file, "service", "list", "--json")
        toner = {s["service_id"]: s for s in json.loads(out)}["toner"]
        assert toner["compatible_cartridge_models"] == ["W2030A", "W2031A"]

        rc, out, err = await operator(url, token_file, "token", "create", "--region", "jp",
                                      "--label", "Tokyo office", "--expires", "2h")
        assert rc == 0, err
        enrolment_token = out.strip()
        assert re.fullmatch(r"pgwe_\S+", enrolment_token), out  # the token alone on stdout
        assert "Tokyo office" in err and "not shown again" in err

        async with running_fleet("127.0.145.1", 1, profiles=["mono-laser"]) as fleet:
            printer = fleet.printers[0]
            config = tmp_path / "gateway.toml"
            config.write_text(toml_document({
                "gateway": {"data_dir": str(tmp_path / "gateway"), "region": "jp"},
                "snmp": {"port": printer.snmp_port, "communities": ["public"]},
                "ipp": {"port": printer.ipp_port},
                "discovery": {"mdns": False, "static": [{"host": printer.ip}]},
                "cloud": {"url": url, "enrolment_token": enrolment_token},
                "status_page": {"port": 0}}))
            config.chmod(0o600)
            rc, out, err = await run(*COMMAND, "run", "--config", str(config), "--once",
                                     limit=120)
            assert rc == 0, err
        async with aiohttp.ClientSession() as http:
            api = Api(http, url, token_file.read_text().strip())
            printers = (await api.ok("listPrinters"))["printers"]
        assert [p["registration"]["serial"] for p in printers] == [printer.state.serial]

        # the token was spent by that enrolment: a second gateway cannot use it
        async with aiohttp.ClientSession() as http:
            again = await Api(http, url, None).call("enrolGateway", json_body={
                "enrolment_token": enrolment_token, "name": "second", "software_version": "0"})
        assert again.status == 401, again.body


async def test_operator_mistakes_are_one_line(tmp_path: Path) -> None:
    token_file = tmp_path / "operator-token"
    token_file.write_text("pgwo_this-is-the-operators-token\n")
    token_file.chmod(0o600)
    wrong = tmp_path / "wrong-token"
    wrong.write_text("pgwo_this-is-not-the-operators-token\n")
    async with cloud_process(tmp_path, token_file) as url:
        rc, _, err = await operator(url, wrong, "service", "list")
        assert rc == 1 and "HTTP 401" in err and len(err.splitlines()) == 1, err
        rc, _, err = await operator(url, token_file, "service", "put", "--id", "x",
                                    "--outline", "X", "--provider", "P",
                                    "--data-types", "no.such.type")
        assert rc == 1 and "422" in err and "no.such.type" in err, err
        rc, _, err = await operator(url, token_file, "service", "put", "--id", "x")
        assert rc == 2 and "--outline, --provider, --data-types" in err, err
        rc, _, err = await operator(url, token_file, "token", "create", "--region", "jp",
                                    "--expires", "soon")
        assert rc == 2 and "90s, 30m, 12h or 7d" in err, err
    rc, _, err = await run(*CLOUD, "service", "list", "--url", url)
    assert rc == 2 and "no operator token" in err, err
    rc, _, err = await run(*CLOUD, "service", "list", "--url", "http://192.0.2.1:8480",
                           "--operator-token-file", str(token_file))
    assert rc == 2 and "refusing plain http://" in err, err
    rc, _, err = await operator(url, token_file, "service", "list")  # the cloud has stopped
    assert rc == 1 and "cannot reach the cloud" in err, err
    rc, _, err = await operator(url, tmp_path / "missing", "service", "list")
    assert rc == 2 and "cannot read the operator token file" in err, err
    wrong.chmod(0o644)
    rc, _, err = await run(*CLOUD, "operator-token", "create", str(wrong))
    assert rc == 0 and "chmod 600" in err and len(wrong.read_text().splitlines()) == 2, err


async def test_a_tls_cloud_is_checked_against_the_ca_file(tmp_path: Path) -> None:
    token_file = tmp_path / "operator-token"
    rc, _, err = await run(*CLOUD, "operator-token", "create", str(token_file))
    assert rc == 0, err
    cert, key = self_signed_certificate(tmp_path, CLOUD_HOST)
    async with cloud_process(tmp_path, token_file, "--tls-cert", str(cert),
                             "--tls-key", str(key)) as url:
        assert url.startswith("https://")
        rc, out, err = await operator(url, token_file, "token", "create", "--region", "jp",
                                      "--ca-file", str(cert))
        assert rc == 0 and out.startswith("pgwe_"), err
        rc, out, err = await operator(url, token_file, "token", "create", "--region", "jp")
        assert rc == 1 and "certificate" in err.lower() and not out, err
