"""The metrics-only listener (issue 18): a gateway polling a virtual printer, scraped over HTTP
with a bearer token (401 without, 200 with) and over TLS; `printgw check-config` refuses a
listener off loopback with neither.  Addresses: 127.0.132.21 (the printer), 127.0.133.100-102
(the listeners).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.app.daemon import Gateway
from gateway.app.reload import apply
from gateway.settings.live import LiveConfig
from gateway.settings.loading import parse_config
from protocols.hosts import free_port
from tests.support.cloud_helpers import self_signed_certificate
from tests.support.printgw_cli import printgw
from tests.support.sim_helpers import running_fleet

TOKEN = "0123456789abcdef0123456789abcdef"


def token_file(tmp_path: Path, token: str = TOKEN, mode: int = 0o600) -> Path:
    path = tmp_path / "metrics-token"
    path.write_text(token + "\n")
    path.chmod(mode)
    return path


@contextlib.asynccontextmanager
async def gateway_serving(tmp_path: Path, metrics: dict[str, Any]) -> AsyncIterator[None]:
    """A daemon (in process) reading one virtual printer, its status page off, with `[metrics]`;
    until its first reading is in the store."""
    async with running_fleet("127.0.132.21", 1, profiles=["color-mfp"]) as fleet:
        printer = fleet.printers[0]
        config = parse_config({
            "gateway": {"data_dir": str(tmp_path / "gateway")},
            "snmp": {"port": printer.snmp_port, "timeout": "1s"},
            "ipp": {"port": printer.ipp_port},
            "discovery": {"mdns": False, "static": [{"host": printer.ip}]},
            "poll": {"interval": "1h"}, "status_page": {"enabled": False}, "metrics": metrics})
        async with Gateway(config) as gateway:
            stop = asyncio.Event()
            run = asyncio.create_task(gateway.run(stop))
            try:
                for _ in range(300):
                    if gateway.store.conn.execute(
                            "SELECT COUNT(*) FROM device_readings").fetchone()[0]:
                        break
                    await asyncio.sleep(0.1)
                yield
            finally:
                stop.set()
                await run


def device_serials(text: str) -> set[str]:
    return {sample.labels["serial"] for family in text_string_to_metric_families(text)
            for sample in family.samples if sample.name == "printgw_device_info"}


async def test_bearer_token(tmp_path: Path) -> None:
    port = free_port("127.0.133.100")
    url = f"http://127.0.133.100:{port}/metrics"
    metrics = {"listen": f"127.0.133.100:{port}",
               "bearer_token_file": str(token_file(tmp_path))}
    async with gateway_serving(tmp_path, metrics), aiohttp.ClientSession() as http:
        async with http.get(url) as response:
            assert response.status == 401
            assert response.headers["WWW-Authenticate"].startswith("Bearer ")
        async with http.get(url, headers={"Authorization": "Bearer wrong-token"}) as response:
            assert response.status == 401
        async with http.get(f"http://127.0.133.100:{port}/", headers={
                "Authorization": f"Bearer {TOKEN}"}) as response:
            assert response.status == 404  # only /metrics
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        async with http.get(url, headers=bearer) as response:
            assert response.status == 200
            assert response.content_type == "text/plain"
            assert len(device_serials(await response.text())) == 1
        # As Prometheus asks: OpenMetrics, gzip.
        async with http.get(url, headers={
                **bearer, "Accept-Encoding": "gzip",
                "Accept": "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"},
                ) as response:
            assert response.status == 200
            assert response.content_type == "application/openmetrics-text"
            assert response.headers["Content-Encoding"] == "gzip"
            assert (await response.text()).endswith("# EOF\n")


async def test_tls(tmp_path: Path) -> None:
    host = "127.0.133.101"
    cert, key = self_signed_certificate(tmp_path, host)
    key.chmod(0o600)
    port = free_port(host)
    metrics = {"listen": f"{host}:{port}", "tls_certificate_file": str(cert),
               "tls_key_file": str(key)}
    async with gateway_serving(tmp_path, metrics), aiohttp.ClientSession() as http:
        trusted = ssl.create_default_context(cafile=str(cert))
        async with http.get(f"https://{host}:{port}/metrics", ssl=trusted) as response:
            assert response.status == 200
            assert len(device_serials(await response.text())) == 1
        with pytest.raises(aiohttp.ClientError):  # no plain HTTP beside it
            async with http.get(f"http://{host}:{port}/metrics") as response:
                await response.read()
        with pytest.raises(aiohttp.ClientConnectorCertificateError):  # a real certificate
            async with http.get(f"https://{host}:{port}/metrics") as response:
                await response.read()


async def test_open_on_loopback_answers_loopback_names_only(tmp_path: Path) -> None:
    port = free_port("127.0.133.102")
    url = f"http://127.0.133.102:{port}/metrics"
    async with gateway_serving(tmp_path, {"listen": f"127.0.133.102:{port}"}), \
            aiohttp.ClientSession() as http:
        async with http.get(url) as response:
            assert response.status == 200
        async with http.get(url, headers={"Host": f"metrics.example.com:{port}"}) as response:
            assert response.status == 421  # DNS rebinding


# -- check-config ----------------------------------------------------------------------------------

def check(tmp_path: Path, metrics: str) -> tuple[int, str]:
    config = tmp_path / "gateway.toml"
    config.write_text(f'[gateway]\ndata_dir = "{tmp_path / "data"}"\n\n[metrics]\n{metrics}\n')
    result = printgw("check-config", str(config))
    return result.returncode, result.stderr


def test_check_config_refuses_an_unprotected_listener_off_loopback(tmp_path: Path) -> None:
    rc, err = check(tmp_path, 'listen = "0.0.0.0:9631"')
    assert rc == 2
    assert "metrics.listen: 0.0.0.0:9631 is not a loopback address" in err
    assert "bearer_token_file" in err and "tls_certificate_file" in err
    assert check(tmp_path, 'listen = "127.0.0.1:9631"') == (0, "")
    assert check(tmp_path, 'listen = "[::1]:9631"') == (0, "")


def test_check_config_takes_a_token_or_tls(tmp_path: Path) -> None:
    path = token_file(tmp_path)
    assert check(tmp_path, f'listen = "0.0.0.0:9631"\nbearer_token_file = "{path}"') == (0, "")
    cert, key = self_signed_certificate(tmp_path, "127.0.0.1")
    key.chmod(0o600)
    tls = f'tls_certificate_file = "{cert}"\ntls_key_file = "{key}"'
    assert check(tmp_path, f'listen = "[::]:9631"\n{tls}') == (0, "")


@pytest.mark.parametrize(("metrics", "message"), [
    ('listen = "9631"', "write the address and the port"),
    ('listen = "::1:9631"', "write an IPv6 address in brackets"),
    ('listen = "0.0.0.0:9631"\nbearer_token = "short"', "fewer than 16 characters"),
    ('bearer_token = "0123456789abcdef0123"', "set listen"),
    ('listen = "0.0.0.0:9631"\ntls_certificate_file = "CERT"', "go together"),
])
def test_check_config_names_each_mistake(tmp_path: Path, metrics: str, message: str) -> None:
    cert, _key = self_signed_certificate(tmp_path, "127.0.0.1")
    rc, err = check(tmp_path, metrics.replace("CERT", str(cert)))
    assert rc == 2
    assert message in err
    assert "short" not in err  # a secret is never shown


def test_check_config_refuses_secrets_others_may_read(tmp_path: Path) -> None:
    path = token_file(tmp_path, mode=0o644)
    rc, err = check(tmp_path, f'listen = "0.0.0.0:9631"\nbearer_token_file = "{path}"')
    assert rc == 2 and f"chmod 600 {path}" in err
    cert, key = self_signed_certificate(tmp_path, "127.0.0.1")
    key.chmod(0o640)
    rc, err = check(tmp_path, f'listen = "0.0.0.0:9631"\ntls_certificate_file = "{cert}"\n'
                              f'tls_key_file = "{key}"')
    assert rc == 2 and f"chmod 600 {key}" in err
    key.chmod(0o600)
    rc, err = check(tmp_path, f'listen = "0.0.0.0:9631"\ntls_certificate_file = "{key}"\n'
                              f'tls_key_file = "{key}"')
    assert rc == 2 and "cannot serve TLS" in err


def test_a_reload_keeps_the_listener_as_it_started(caplog: pytest.LogCaptureFixture) -> None:
    """The listener is set up at the start: a changed `[metrics]` waits for a restart."""
    caplog.set_level(logging.INFO, logger="gateway.app.reload")
    live = LiveConfig(parse_config({"metrics": {"listen": "127.0.0.1:9631"}}))
    kept = apply(live, parse_config({"metrics": {"listen": "127.0.0.1:9632"},
                                     "poll": {"interval": "10m"}}))
    assert kept.metrics.listen == "127.0.0.1:9631" and kept.poll.interval == 600
    assert "needs a restart (kept as before until then): metrics.listen" in caplog.text
