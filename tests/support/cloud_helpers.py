"""Helpers for tests that need the reference cloud: a running `CloudServer`, an HTTP client that
checks every answer against the document, the operator, an enrolled gateway.

Use the fixtures with `pytest_plugins = ("tests.support.cloud_helpers",)` in the test module:

- `cloud`: a `CloudServer` on a temporary SQLite file (on both SQLite and PostgreSQL for a test
  marked `BOTH_BACKENDS`), operator token `OPERATOR_TOKEN`;
- `http`: an `aiohttp.ClientSession`;
- `operator`: an `Operator` calling that cloud;
- `gateway`: a `Gateway` enrolled there (its bearer token in `gateway.token`).

Every call goes through `Api.call(operation_id, …)`, which asserts that the status code is one
the document gives for that operation, the content type is the documented one, and the body
validates against the documented response schema.

Its assertions carry their own messages: PYTEST_DONT_REWRITE (it is imported by the test
modules before pytest loads it as their plugin).
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cloud.schema import DOCUMENT, component, validator
from cloud.server import CloudServer
from protocols.cloud import operations
from protocols.cloud.transport import operation_request

pytest_plugins = ("tests.support.postgres",)

OPERATOR_TOKEN = "pgwo_reference-cloud-test-operator"

OPERATIONS: dict[str, tuple[str, str, str]] = {
    operation_id: (method, path, f"/paths/{path.replace('/', '~1')}/{method.lower()}")
    for operation_id, (method, path) in operations().items()}
PUSH_MESSAGE = component("PushMessage")


def sqlite_url(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{directory / 'cloud.db'}"


def self_signed_certificate(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate for `host` (an IP address) and its key, as PEM files in `directory`; the
    certificate is its own CA (`ssl.create_default_context(cafile=cert)` trusts it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ip_address(host))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cloud.crt", directory / "cloud.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@contextlib.asynccontextmanager
async def running_cloud(database_url: str, **kwargs: Any) -> AsyncIterator[CloudServer]:
    """The reference cloud on 127.0.0.1 (a free port), operator token `OPERATOR_TOKEN`."""
    async with CloudServer(database_url=database_url, operator_tokens=[OPERATOR_TOKEN],
                           **kwargs) as server:
        yield server


@dataclass
class Answer:
    status: int
    body: Any
    headers: Mapping[str, str]


def _response(pointer: str, status: int) -> tuple[str, dict[str, Any]]:
    """The documented response of the operation at `pointer` for `status` (pointer, object)."""
    operation = _at(pointer)
    for code in (str(status), f"{status // 100}XX"):
        if code in operation["responses"]:
            where = f"{pointer}/responses/{code}"
            response = operation["responses"][code]
            while "$ref" in response:
                where = response["$ref"].removeprefix("#")
                response = _at(where)
            return where, response
    raise AssertionError(f"{status} is not a documented answer of {pointer}")


def _at(pointer: str) -> Any:
    node: Any = DOCUMENT
    for part in pointer.split("/")[1:]:
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def check_answer(operation_id: str, status: int, content_type: str, body: Any) -> None:
    """Assert that the answer is one the document gives for the operation."""
    where, response = _response(OPERATIONS[operation_id][2], status)
    content = response.get("content", {})
    assert content_type in content, (operation_id, status, content_type, list(content))
    schema = validator(f"{where}/content/{content_type.replace('/', '~1')}/schema")
    errors = [f"{e.json_path}: {e.message}" for e in schema.iter_errors(body)]
    assert not errors, (operation_id, status, errors, body)


class Api:
    """Calls the cloud by operation ID with one bearer token; every answer is checked."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str, token: str | None) -> None:
        self.http, self.base_url, self.token = http, base_url, token

    async def call(self, operation_id: str, *, path: Mapping[str, str] | None = None,
                   json_body: Any = None, data: bytes | None = None,
                   headers: Mapping[str, str] | None = None,
                   params: Mapping[str, str | int] | None = None) -> Answer:
        async with operation_request(self.http, self.base_url, operation_id, token=self.token,
                                     path=path, query=params, json_body=json_body, body=data,
                                     headers=headers) as response:
            raw = await response.read()
            body = json.loads(raw) if raw else None
            check_answer(operation_id, response.status, response.content_type, body)
            return Answer(response.status, body, response.headers)

    async def ok(self, operation_id: str, **kwargs: Any) -> Any:
        """The body of a 2xx answer (asserting it is one)."""
        answer = await self.call(operation_id, **kwargs)
        assert answer.status < 300, (operation_id, answer.status, answer.body)
        return answer.body


class Operator(Api):
    def __init__(self, http: aiohttp.ClientSession, base_url: str,
                 token: str = OPERATOR_TOKEN) -> None:
        super().__init__(http, base_url, token)

    async def enrolment_token(self, region: str = "jp") -> str:
        body = await self.ok("createEnrolmentToken", json_body={"region": region})
        return str(body["enrolment_token"])

    async def put_service(self, service_id: str, data_types: list[str], *,
                          models: list[str] | None = None, first_upload: bool = False) -> Any:
        return await self.ok("putService", path={"service_id": service_id}, json_body={
            "service_outline": f"The {service_id} service", "provider": "Example Provider",
            "data_types": data_types, "compatible_cartridge_models": models or [],
            "activation_by_first_upload": first_upload})

    async def contract(self, printer_id: str, service_id: str,
                       application_id: str | None = None) -> Any:
        body: dict[str, str] = {"service_id": service_id}
        if application_id is not None:
            body["application_id"] = application_id
        return await self.ok("createApplication", path={"printer_id": printer_id}, json_body=body)

    async def application_action(self, action: str, printer_id: str, service_id: str) -> Any:
        return await self.ok(f"{action}Application",
                             path={"printer_id": printer_id, "service_id": service_id})


class Gateway(Api):
    gateway_id: str

    @classmethod
    async def enrol(cls, http: aiohttp.ClientSession, base_url: str, operator: Operator,
                    name: str = "test-gateway") -> Gateway:
        token = await operator.enrolment_token()
        credential = await Api(http, base_url, None).ok("enrolGateway", json_body={
            "enrolment_token": token, "name": name, "software_version": "0.1.0"})
        gateway = cls(http, base_url, credential["token"])
        gateway.gateway_id = credential["gateway_id"]
        return gateway

    async def register(self, serial: str | None = None, manufacturer: str = "HP", *,
                       contract_supported: bool | None = True) -> str:
        """A printer registered (`contract_supported`: whether it has the contract function,
        as a gateway reports it; None: not said)."""
        registration = {
            "serial": serial or f"SN{secrets.token_hex(4).upper()}",
            "product_name": "HP Color LaserJet MFP M479fdw", "manufacturer": manufacturer,
            "shipping_destination": "JP", "time_zone": "Asia/Tokyo", "device_type": "mfp"}
        if contract_supported is not None:
            registration["contract_supported"] = contract_supported
        body = await self.ok("registerPrinter", json_body=registration)
        return str(body["printer_id"])

    async def activate(self, printer_id: str, service_id: str, application_id: str,
                       action: str = "activate") -> Any:
        return await self.ok("notifyActivation", path={"printer_id": printer_id}, json_body={
            "activations": [{"service_id": service_id, "application_id": application_id,
                             "action": action}]})

    async def upload(self, entries: list[dict[str, Any]], key: str | None = None) -> Any:
        return await self.ok("uploadStatuses", json_body={"statuses": entries},
                             headers={"Idempotency-Key": key or secrets.token_hex(16)})

    async def push(self, cursor: str | None = None) -> aiohttp.ClientWebSocketResponse:
        """The push channel (the caller closes it)."""
        url = self.base_url.replace("http", "ws", 1) + "/v1/push"
        return await self.http.ws_connect(
            url, protocols=("printgw.v1",), params={"cursor": cursor} if cursor else None,
            headers={"Authorization": f"Bearer {self.token}"}, heartbeat=None)


async def next_push(ws: aiohttp.ClientWebSocketResponse, within: float = 1.0) -> dict[str, Any]:
    """The next push message (a `PushMessage`, checked), within `within` seconds."""
    message = await ws.receive_json(timeout=within)
    errors = [f"{e.json_path}: {e.message}" for e in PUSH_MESSAGE.iter_errors(message)]
    assert not errors, (errors, message)
    return message


BOTH_BACKENDS = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
"""Runs a test on SQLite and on PostgreSQL (the `cloud` fixture uses `database_url`)."""


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A temporary SQLite file; a fresh PostgreSQL database under `BOTH_BACKENDS`."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return sqlite_url(tmp_path)


@pytest.fixture
async def cloud(database_url: str) -> AsyncIterator[CloudServer]:
    async with running_cloud(database_url) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


@pytest.fixture
def operator(http: aiohttp.ClientSession, cloud: CloudServer) -> Operator:
    return Operator(http, cloud.url)


@pytest.fixture
async def gateway(http: aiohttp.ClientSession, cloud: CloudServer, operator: Operator) -> Gateway:
    return await Gateway.enrol(http, cloud.url, operator)
