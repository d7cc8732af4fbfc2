"""The gateway's cloud client (`protocols/cloud/client.py`) against a small, honest cloud on
loopback that checks every request it receives against the document (`FakeCloud`, in
`tests/support/fake_cloud.py`): each gateway operation, TLS and the plain-HTTP rule, every kind of
bad answer, the push channel."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import json
import logging
import ssl
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from protocols.cloud.client import CloudClient
from protocols.cloud.errors import (
    CloudProtocolError,
    CloudRejected,
    CloudUnavailable,
    parse_retry_after,
)
from protocols.cloud.models import (
    CommandAcknowledgement,
    EntryResult,
    PrinterChanged,
    PushHello,
    PushMessage,
    StatusCounts,
    StatusEntry,
    UnreadableChange,
    UnreadableCommand,
)
from protocols.cloud.registration import (
    Activation,
    ApplicationInformation,
    ConnectionDestinationRequest,
    EnrolmentRequest,
    PrinterRegistration,
    TransmissionDataTypesReport,
    UnavailableDataType,
)
from protocols.hosts import free_port
from protocols.version import VERSION
from tests.support.fake_cloud import (
    COMMAND_ID,
    ENROLMENT_TOKEN,
    GATEWAY_OPERATIONS,
    KNOWN_PRINTER,
    TOKEN,
    FakeCloud,
    Handler,
    now_iso,
    problem,
    serving,
)

MiB = 1024 * 1024
@pytest.fixture
async def client(fake_cloud: FakeCloud) -> AsyncIterator[CloudClient]:
    async with CloudClient(fake_cloud.url, token=TOKEN, timeout=5.0) as c:
        yield c


def registration(serial: str) -> PrinterRegistration:
    return PrinterRegistration(
        serial=serial, product_name="HP Color LaserJet MFP M479fdw", manufacturer="HP",
        shipping_destination="JP", time_zone="Asia/Tokyo", device_type="mfp", uuid=None,
        mac="3c:52:82:0a:1b:2c", firmware="002.2208A", sys_object_id="1.3.6.1.4.1.11.2.3.9.1")


def enrolment(name: str, *, hostname: str | None = None) -> EnrolmentRequest:
    return EnrolmentRequest(ENROLMENT_TOKEN, name, software_version=VERSION,
                            hostname=hostname)


def status_entry(printer_id: str, *, entry_id: str | None = None,
                 supplies: int = 1) -> StatusEntry:
    return StatusEntry(
        entry_id=entry_id or str(uuid.uuid4()), printer_id=printer_id,
        read_at="2025-07-01T10:15:02Z", event="periodic",
        data={"supplies.level": [
            {"index": f"1.{i + 1}", "level_percent": 40, "level_state": "known",
             "raw_level": 4000, "max_capacity": 10000, "unit": "impressions",
             "class": "consumed", "over_capacity": False, "low_percent": 10}
            for i in range(supplies)],
            "counters.total": {"total": 152334}})


# -- every operation -------------------------------------------------------------------------------

async def test_the_bootstrap_calls_carry_no_token(fake_cloud: FakeCloud) -> None:
    async with CloudClient(fake_cloud.url, timeout=5.0) as bootstrap:
        destination = await bootstrap.resolve_connection_destination(
            ConnectionDestinationRequest("jp", country="JP", gateway_version="0.1.0"))
        assert destination.base_url == fake_cloud.url
        regional = bootstrap.with_base_url(destination.base_url)
        async with regional:
            key = "enrol-0001-0f8fad5b"
            credential = await regional.enrol(
                enrolment("tokyo-office-gw1", hostname="printgw-01.office.lan"),
                idempotency_key=key)
            assert credential.token == TOKEN
            assert TOKEN not in repr(credential)
            again = await regional.enrol(enrolment("tokyo-office-gw1"), idempotency_key=key)
            assert again == credential, "a retry with the same key gets the same credential"
            with pytest.raises(CloudRejected) as spent:
                await regional.enrol(enrolment("tokyo-office-gw1"))
            assert spent.value.status == 401 and spent.value.code == "enrolment-token-invalid"
            gateway = regional.with_token(credential.token)
            async with gateway:
                assert (await gateway.get_applications(KNOWN_PRINTER)).printer_id == \
                    KNOWN_PRINTER
    assert [s.operation for s in fake_cloud.seen] == [
        "resolveConnectionDestination", "enrolGateway", "enrolGateway", "enrolGateway",
        "getApplicationInformation"]
    assert all("Authorization" not in s.headers for s in fake_cloud.seen[:4])
    assert fake_cloud.seen[1].headers["Idempotency-Key"] == key
    assert all(s.headers["User-Agent"].startswith("printgw/") for s in fake_cloud.seen)


async def test_the_sequence_per_device(fake_cloud: FakeCloud, client: CloudClient) -> None:
    """S0603 to S0611, the upload, the polling fall-back and command acknowledgements, each
    request checked against the document by the fake cloud."""
    first = await client.register_printer(registration("SER-0001"))
    assert first.created is True
    printer = first.printer_id
    second = await client.register_printer(registration("SER-0001"))
    assert second == replace(first, created=False)

    applications = await client.get_applications(printer)
    application = applications.applications[0]
    assert application.application_id is not None
    results = await client.notify_activation(printer, [
        Activation(application.service_id, application.application_id),
        Activation("remote-monitoring", "nope", action="activate")])
    assert [r.result for r in results.results] == ["activated", "refused"]
    refusal = results.results[1].reason
    assert refusal is not None and refusal.code == "application-unknown"

    control = await client.get_control_information(printer)
    assert control.added == ("supplies.level", "supplies.model")
    reported = await client.report_transmission_data_types(printer, TransmissionDataTypesReport(
        ("supplies.level",), based_on_revision=control.revision,
        unavailable=(UnavailableDataType("supplies.model", "No part numbers."),)))
    assert reported.current_data_types == ("supplies.level",)

    entry = status_entry(printer)
    answer = await client.upload_statuses([entry], "batch-key-0001")
    assert answer.results == (EntryResult(entry.entry_id, "accepted",
                                          ignored_data_types=("counters.total",)),)

    page = await client.poll_changes(None, limit=2)
    assert [c.cursor for c in page.changes] == ["c_01", "c_02"] and page.has_more
    rest = await client.poll_changes(page.next_cursor, wait=1)
    assert [type(c) for c in rest.changes] == [PrinterChanged]
    assert rest.changes[0].to_json()["type"] == "control-info-changed"

    pending = await client.list_pending_commands(printer_id=KNOWN_PRINTER)
    assert [c.command.command_id for c in pending] == [COMMAND_ID]
    received = await client.acknowledge_command(COMMAND_ID, CommandAcknowledgement(
        printer_id=KNOWN_PRINTER, stage="received", at=now_iso()))
    assert received.state == "received"
    done = await client.acknowledge_command(COMMAND_ID, CommandAcknowledgement(
        printer_id=KNOWN_PRINTER, stage="completed", result="done", at=now_iso(),
        contract_state={"supported": True, "mode": "contract-non-billing",
                        "printing_prohibited": False, "panel_message": None}))
    assert done.state == "done"
    assert await client.list_pending_commands() == ()

    operations = {s.operation for s in fake_cloud.seen}
    assert operations == set(GATEWAY_OPERATIONS) - {
        "resolveConnectionDestination", "enrolGateway", "openPushChannel"}
    assert all(s.headers["Authorization"] == f"Bearer {TOKEN}" for s in fake_cloud.seen)


async def test_a_rejected_request_names_the_operation_and_the_fields(
        fake_cloud: FakeCloud, client: CloudClient) -> None:
    with pytest.raises(CloudRejected) as unknown:
        await client.get_control_information(str(uuid.uuid4()))
    assert unknown.value.status == 404 and unknown.value.code == "not-found"
    assert str(unknown.value).startswith("getDeviceControlInformation: the cloud refused")

    async def invalid(request: web.Request) -> web.Response:
        return problem(422, "validation-failed", "2 fields are invalid.", errors=[
            {"pointer": "/time_zone", "detail": "Not an IANA time zone: Tokyo."},
            {"pointer": "/colour", "detail": "Unknown field."}])
    fake_cloud.overrides["registerPrinter"] = invalid
    with pytest.raises(CloudRejected) as rejected:
        await client.register_printer(registration("SER-0002"))
    error = rejected.value
    assert error.status == 422 and error.code == "validation-failed"
    assert error.problem is not None and len(error.problem["errors"]) == 2
    assert str(error) == ("registerPrinter: the cloud refused the request: HTTP 422 "
                          "validation-failed: 2 fields are invalid. (/time_zone: Not an IANA "
                          "time zone: Tokyo.; /colour: Unknown field.)")

    with pytest.raises(CloudRejected) as expired:
        await client.poll_changes("c_gone")
    assert expired.value.status == 410 and expired.value.code == "cursor-expired"


# -- the upload body -------------------------------------------------------------------------------

async def test_uploads_are_deterministic_and_large_ones_gzipped(
        fake_cloud: FakeCloud, client: CloudClient) -> None:
    small = status_entry(KNOWN_PRINTER)
    await client.upload_statuses([small], "small-batch-0001")
    assert "Content-Encoding" not in fake_cloud.seen[-1].headers
    assert fake_cloud.seen[-1].raw == json.dumps({"statuses": [small.to_json()]},
                                            sort_keys=True, separators=(",", ":")).encode()

    entries = [status_entry(KNOWN_PRINTER, supplies=4) for _ in range(20)]
    first = await client.upload_statuses(entries, "large-batch-0001")
    sent = fake_cloud.seen[-1]
    assert sent.headers["Content-Encoding"] == "gzip"
    assert len(sent.raw) < len(sent.body) / 4
    assert first.counts == StatusCounts(accepted=20, duplicate=0, rejected=0)

    shuffled = [replace(e, data=dict(reversed(list(e.data.items())))) for e in entries]
    replay = await client.upload_statuses(shuffled, "large-batch-0001")
    assert fake_cloud.seen[-1].raw == sent.raw, "a retry is the same request, byte for byte"
    assert replay == first, "... so the cloud answers it from the stored response"

    again = await client.upload_statuses(entries, "large-batch-0002")
    assert again.counts == StatusCounts(accepted=0, duplicate=20, rejected=0)

    unicode_entry = status_entry(KNOWN_PRINTER)
    unicode_entry.data["supplies.level"][0]["unit"] = "枚"
    await client.upload_statuses([unicode_entry], "unicode-batch-01")
    assert "枚".encode() in fake_cloud.seen[-1].body


# -- secure by default -----------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["http://api.printgw.example", "http://192.0.2.10:8480",
                                 "http://[2001:db8::1]/", "http://127.0.0.1.nip.io",
                                 "ftp://127.0.0.1", "api.printgw.example", "https://"])
def test_plain_http_is_refused_beyond_loopback(url: str) -> None:
    with pytest.raises(ValueError, match=r"https://|no host"):
        CloudClient(url)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8480", "http://127.3.2.1", "http://[::1]:80",
                                 "http://localhost:8480/", "https://api.printgw.example"])
def test_loopback_http_and_https_are_accepted(url: str) -> None:
    assert CloudClient(url).base_url == url.rstrip("/")


async def test_the_regional_and_push_urls_obey_the_same_rule(client: CloudClient) -> None:
    with pytest.raises(ValueError, match="plain http://"):
        client.with_base_url("http://jp.api.printgw.example")
    with pytest.raises(ValueError, match="plain ws://"):
        await anext(client.push(None, url="ws://jp.api.printgw.example/v1/push"))


def _certificate(tmp: Path) -> tuple[ssl.SSLContext, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it: (server context, CA file)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "printgw test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_file = tmp / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain = tmp / "server.pem"
    chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(chain)
    return context, ca_file


async def test_tls_verifies_the_certificate_unless_told_otherwise(tmp_path: Path) -> None:
    server_context, ca_file = _certificate(tmp_path)
    fake = FakeCloud()
    async with serving(fake.app, server_context) as port:
        url = f"https://127.0.0.1:{port}"
        async with CloudClient(url, token=TOKEN, timeout=5.0) as strict:
            with pytest.raises(CloudUnavailable,
                               match=r"certificate of 127\.0\.0\.1:.* not trusted"):
                await strict.get_applications(KNOWN_PRINTER)
        async with CloudClient(url, token=TOKEN, ca_file=str(ca_file), timeout=5.0) as trusted:
            assert (await trusted.get_applications(KNOWN_PRINTER)).revision == 4
            async with contextlib.aclosing(trusted.push(None)) as messages:
                assert isinstance(await anext(messages), PushHello)
        async with CloudClient(url, token=TOKEN, verify_tls=False, timeout=5.0) as lax:
            assert (await lax.get_applications(KNOWN_PRINTER)).revision == 4
    assert not fake.invalid
    with pytest.raises(ValueError, match="cannot use the CA file"):
        CloudClient(url, ca_file=str(tmp_path / "missing.pem"))


async def test_the_token_never_shows(fake_cloud: FakeCloud,
                                     caplog: pytest.LogCaptureFixture) -> None:
    """Not in `repr`, not in any error (nor its cause), not in the log: whatever went wrong."""
    caplog.set_level(logging.DEBUG)

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.json_response({})

    errors: list[BaseException] = []
    async with CloudClient(fake_cloud.url, token=TOKEN, timeout=0.5) as c:
        assert TOKEN not in repr(c) and TOKEN not in repr(c.with_token(TOKEN))
        with pytest.raises(CloudRejected) as not_found:
            await c.get_control_information(str(uuid.uuid4()))
        errors.append(not_found.value)
        fake_cloud.overrides["getApplicationInformation"] = _text("{not json")
        with pytest.raises(CloudProtocolError) as garbage:
            await c.get_applications(KNOWN_PRINTER)
        errors.append(garbage.value)
        fake_cloud.overrides["getApplicationInformation"] = slow
        with pytest.raises(CloudUnavailable) as timed_out:
            await c.get_applications(KNOWN_PRINTER)
        errors.append(timed_out.value)
        fake_cloud.push_then = _reset
        with pytest.raises(CloudUnavailable) as dropped:
            await _collect(c.push(None), [])
        errors.append(dropped.value)
    async with CloudClient(f"http://127.0.0.1:{free_port()}", token=TOKEN) as c:
        with pytest.raises(CloudUnavailable) as refused:
            await c.get_applications(KNOWN_PRINTER)
        errors.append(refused.value)
    wrong = "pgwg_a-wrong-token-never-to-be-seen-01"
    async with CloudClient(fake_cloud.url, token=wrong) as c:
        with pytest.raises(CloudRejected) as unauthenticated:
            await c.get_applications(KNOWN_PRINTER)
        errors.append(unauthenticated.value)
        with pytest.raises(CloudRejected) as push_unauthenticated:
            await anext(c.push(None))
        errors.append(push_unauthenticated.value)
    fake_cloud.invalid.clear()  # the wrong token was the point
    for secret in (TOKEN, wrong):
        for error in errors:
            for exc in (error, error.__cause__, error.__context__):
                assert secret not in str(exc) and secret not in repr(exc)
            assert secret not in str(vars(error))
        assert secret not in caplog.text


# -- bad answers -----------------------------------------------------------------------------------

def _json(body: Any, status: int = 200, **headers: str) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        return web.json_response(body, status=status, headers=headers)
    return handle


def _text(text: str, status: int = 200, content_type: str = "application/json",
          **headers: str) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        return web.Response(text=text, status=status, content_type=content_type,
                            headers=headers)
    return handle


def _problem(status: int, name: str, detail: str, **headers: str) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        return problem(status, name, detail, headers=headers)
    return handle


GOOD_APPLICATIONS = {"printer_id": KNOWN_PRINTER, "revision": 1, "applications": []}
HTML_502 = "<html><body><h1>502 Bad Gateway</h1>nginx</body></html>"

BAD_ANSWERS: dict[str, tuple[Handler, type[Exception], str]] = {
    "not JSON": (_text("{not json"), CloudProtocolError,
                 "getApplicationInformation: the answer is not JSON: Expecting property name"),
    "NaN": (_text('{"printer_id": NaN}'), CloudProtocolError, "NaN is not JSON"),
    "wrong content type": (_text("{}", content_type="text/plain"), CloudProtocolError,
                           "the answer is 'text/plain', not application/json"),
    "a list": (_json([1, 2]), CloudProtocolError, "field the top level: .* is not of type "
                                                  "'object'"),
    "wrong type": (_json({**GOOD_APPLICATIONS, "revision": "4"}), CloudProtocolError,
                   "the answer does not match the document: field /revision: '4' is not of "
                   "type 'integer'"),
    "missing field": (_json({"printer_id": KNOWN_PRINTER, "revision": 1}), CloudProtocolError,
                      "field the top level: 'applications' is a required property"),
    "bad uuid": (_json({**GOOD_APPLICATIONS, "printer_id": "printer-1"}), CloudProtocolError,
                 "field /printer_id: 'printer-1' is not a 'uuid'"),
    "bad nested value": (_json({**GOOD_APPLICATIONS, "applications": [{"service_id": "x"}]}),
                         CloudProtocolError, "field /applications/0: 'service_outline' is a "
                                             "required property"),
    "unexpected status": (_json(GOOD_APPLICATIONS, status=201), CloudProtocolError,
                          "unexpected answer HTTP 201 Created"),
    "no content": (_text("", status=204), CloudProtocolError, "unexpected answer HTTP 204"),
    "html 502": (_text(HTML_502, status=502, content_type="text/html"), CloudUnavailable,
                 r"the cloud is unavailable: HTTP 502 Bad Gateway \(text/html, no problem "
                 r"details\)$"),
    "500 problem": (_problem(500, "server-error", "Boom."), CloudUnavailable,
                    "HTTP 500 server-error: Boom."),
    "html 404": (_text("<h1>Not here</h1>", status=404, content_type="text/html"),
                 CloudRejected, "refused the request: HTTP 404 Not Found"),
}


@pytest.mark.parametrize("case", sorted(BAD_ANSWERS))
async def test_a_bad_answer_is_the_right_error(fake_cloud: FakeCloud, client: CloudClient,
                                               case: str) -> None:
    handler, error, message = BAD_ANSWERS[case]
    fake_cloud.overrides["getApplicationInformation"] = handler
    started = time.monotonic()
    with pytest.raises(error, match=message) as raised:
        await client.get_applications(KNOWN_PRINTER)
    assert time.monotonic() - started < 2.0
    assert str(raised.value).startswith("getApplicationInformation: ")
    assert "\n" not in str(raised.value)


async def test_formats_in_answers_are_checked(fake_cloud: FakeCloud, client: CloudClient) -> None:
    async def no_offset(request: web.Request) -> web.Response:
        status = fake_cloud._command_status()
        return web.json_response({"commands": [{**status, "issued_at": "2025-07-01T12:00:01"}]})
    fake_cloud.overrides["listPendingCommands"] = no_offset
    # One open command breaking the document costs only itself (issue 19): it is read as an
    # `UnreadableCommand` naming the field, to be refused.
    (unreadable,) = await client.list_pending_commands()
    assert isinstance(unreadable, UnreadableCommand)
    assert unreadable.code == "malformed-command"
    assert "field /issued_at: '2025-07-01T12:00:01' is not a 'date-time'" in unreadable.detail


async def test_fields_the_document_does_not_know_are_ignored(
        fake_cloud: FakeCloud, client: CloudClient) -> None:
    fake_cloud.overrides["getApplicationInformation"] = _json({**GOOD_APPLICATIONS, "new": [1]})
    answer = await client.get_applications(KNOWN_PRINTER)
    assert answer == ApplicationInformation.from_json(GOOD_APPLICATIONS)


async def test_a_redirect_is_not_followed(fake_cloud: FakeCloud, client: CloudClient) -> None:
    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{fake_cloud.url}/v1/printers/{KNOWN_PRINTER}/control-information")
    fake_cloud.overrides["getApplicationInformation"] = redirect
    with pytest.raises(CloudProtocolError, match="unexpected answer HTTP 302 Found"):
        await client.get_applications(KNOWN_PRINTER)
    assert [s.operation for s in fake_cloud.seen] == ["getApplicationInformation"]


@pytest.mark.parametrize(("status", "header", "expected"), [
    (503, "30", 30.0), (429, "0", 0.0), (503, None, None), (429, "soon", None)])
async def test_retry_after_is_read(fake_cloud: FakeCloud, client: CloudClient, status: int,
                                   header: str | None, expected: float | None) -> None:
    headers = {"Retry-After": header} if header is not None else {}
    fake_cloud.overrides["uploadStatuses"] = _problem(
        status, "unavailable" if status == 503 else "rate-limited", "Later.", **headers)
    with pytest.raises(CloudUnavailable) as raised:
        await client.upload_statuses([status_entry(KNOWN_PRINTER)], "retry-after-01")
    assert raised.value.retry_after == expected and raised.value.status == status
    if expected is not None:
        assert str(raised.value).endswith(f"(retry after {expected:g} s)")


def test_retry_after_as_an_http_date() -> None:
    now = dt.datetime(2025, 7, 1, 12, 0, tzinfo=dt.UTC)
    later = format_datetime(now + dt.timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(later, now) == 90.0
    assert parse_retry_after(format_datetime(now - dt.timedelta(hours=1), usegmt=True),
                             now) == 0.0
    assert parse_retry_after(" 12 ") == 12.0
    assert parse_retry_after("-5") is None
    assert parse_retry_after("²") is None
    assert parse_retry_after("Tue, 99 Foo 2025") is None


async def test_a_huge_answer_is_not_read(fake_cloud: FakeCloud) -> None:
    """50 MiB streamed without a length: the client stops at its 8 MiB limit and hangs up."""
    written = 0
    finished = asyncio.Event()

    async def huge(request: web.Request) -> web.StreamResponse:
        nonlocal written
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        chunk = b"[" + b" " * (MiB - 1)
        try:
            for _ in range(50):
                await response.write(chunk)
                written += len(chunk)
        except ConnectionError:
            pass
        finally:
            finished.set()
        return response
    fake_cloud.overrides["getApplicationInformation"] = huge
    started = time.monotonic()
    async with CloudClient(fake_cloud.url, token=TOKEN, timeout=20) as c:
        with pytest.raises(CloudProtocolError, match=f"larger than {8 * MiB} bytes"):
            await c.get_applications(KNOWN_PRINTER)
        assert time.monotonic() - started < 5.0
        await asyncio.wait_for(finished.wait(), 10)
        assert written < 40 * MiB, "the client hung up instead of reading on"
        assert await c.list_pending_commands(), "the client still works"


async def test_a_declared_huge_answer_is_refused_before_reading(
        fake_cloud: FakeCloud, client: CloudClient) -> None:
    async def declared(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json",
                                               "Content-Length": str(50 * MiB)})
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            await response.write(b"{" * 1024)
            await asyncio.sleep(5)
        return response
    fake_cloud.overrides["getApplicationInformation"] = declared
    started = time.monotonic()
    with pytest.raises(CloudProtocolError, match="larger than 8388608 bytes"):
        await client.get_applications(KNOWN_PRINTER)
    assert time.monotonic() - started < 2.0


async def test_a_slow_cloud_times_out(fake_cloud: FakeCloud) -> None:
    async def no_answer(request: web.Request) -> web.Response:
        await asyncio.sleep(10)
        return web.json_response(GOOD_APPLICATIONS)

    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            for byte in json.dumps(GOOD_APPLICATIONS).encode():
                await response.write(bytes([byte]))
                await asyncio.sleep(0.2)
        return response

    async with CloudClient(fake_cloud.url, token=TOKEN, timeout=0.5) as c:
        for handler in (no_answer, trickle):
            fake_cloud.overrides["getApplicationInformation"] = handler
            started = time.monotonic()
            with pytest.raises(CloudUnavailable, match=r"no answer from 127\.0\.0\.1:\d+ "
                                                       r"within 0\.5 s"):
                await c.get_applications(KNOWN_PRINTER)
            assert time.monotonic() - started < 2.0


async def test_a_dropped_connection_is_unavailable(fake_cloud: FakeCloud,
                                                   client: CloudClient) -> None:
    async def mid_body(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json",
                                               "Content-Length": "1000"})
        await response.prepare(request)
        await response.write(b'{"printer_id": "' + b"x" * 100)
        assert request.transport is not None
        request.transport.abort()
        return response

    async def before_answer(request: web.Request) -> web.Response:
        assert request.transport is not None
        request.transport.abort()
        return web.Response()

    fake_cloud.overrides["getApplicationInformation"] = mid_body
    with pytest.raises(CloudUnavailable, match=r"the answer from 127\.0\.0\.1:.* broke off"):
        await client.get_applications(KNOWN_PRINTER)
    fake_cloud.overrides["getApplicationInformation"] = before_answer
    with pytest.raises(CloudUnavailable, match="closed the connection without answering"):
        await client.get_applications(KNOWN_PRINTER)


async def test_no_cloud_at_all_is_unavailable() -> None:
    port = free_port()
    async with CloudClient(f"http://127.0.0.1:{port}", timeout=5.0) as c:
        with pytest.raises(CloudUnavailable, match=f"cannot connect to 127.0.0.1:{port}"):
            await c.resolve_connection_destination(ConnectionDestinationRequest("jp"))
    async with CloudClient("https://printgw-test.invalid", timeout=5.0) as c:
        with pytest.raises(CloudUnavailable, match=r"printgw-test\.invalid"):
            await c.resolve_connection_destination(ConnectionDestinationRequest("jp"))


async def test_a_closed_client_says_so(fake_cloud: FakeCloud) -> None:
    c = CloudClient(fake_cloud.url, token=TOKEN)
    await c.close()
    with pytest.raises(RuntimeError, match="closed"):
        await c.get_applications(KNOWN_PRINTER)


# -- the push channel ------------------------------------------------------------------------------

async def _collect(messages: AsyncIterator[PushMessage], into: list[dict[str, Any]]) -> None:
    """Each message as the JSON it came as (the typed message's `to_json()`)."""
    async for message in messages:
        into.append(message.to_json())


async def test_push_replays_after_the_cursor_then_reports_the_drop(
        fake_cloud: FakeCloud, client: CloudClient) -> None:
    received: list[dict[str, Any]] = []
    with pytest.raises(CloudUnavailable, match="openPushChannel: the channel closed: the cloud "
                                               "is going away"):
        async with contextlib.aclosing(client.push("c_01")) as messages:
            await _collect(messages, received)
    assert [m["type"] for m in received] == ["hello", "command", "control-info-changed"]
    assert received[0]["cursor"] == "c_01"
    assert received[1]["command"]["command_id"] == COMMAND_ID
    seen = fake_cloud.seen[-1]
    assert seen.operation == "openPushChannel" and seen.query == {"cursor": "c_01"}
    assert seen.headers["Sec-WebSocket-Protocol"] == "printgw.v1"


async def test_push_outlives_the_request_timeout(fake_cloud: FakeCloud) -> None:
    """The request time limit is for HTTP calls: a quiet, healthy channel stays open."""
    async def quiet(ws: web.WebSocketResponse) -> None:
        await asyncio.sleep(1.5)
        await ws.send_json({"type": "control-info-changed", "cursor": "c_04",
                            "occurred_at": now_iso(), "printer_id": KNOWN_PRINTER,
                            "revision": 10})
        await ws.close()
    fake_cloud.push_then = quiet
    received: list[dict[str, Any]] = []
    async with CloudClient(fake_cloud.url, token=TOKEN, timeout=0.5) as c:
        with pytest.raises(CloudUnavailable, match="closed by the cloud"):
            async with contextlib.aclosing(c.push("c_03", heartbeat=0.4)) as messages:
                await _collect(messages, received)
    assert [m["type"] for m in received] == ["hello", "control-info-changed"]


async def test_push_notices_a_dead_link(fake_cloud: FakeCloud, client: CloudClient) -> None:
    """The cloud stops answering (no pong): the channel is declared dead after 1.5 heartbeats."""
    release = asyncio.Event()

    async def frozen(ws: web.WebSocketResponse) -> None:
        await release.wait()
    fake_cloud.push_then = frozen
    fake_cloud.push_reads = False  # the client's pings go unanswered
    received: list[dict[str, Any]] = []
    started = time.monotonic()
    try:
        with pytest.raises(CloudUnavailable, match=r"went silent|connection was lost"):
            async with contextlib.aclosing(client.push("c_03", heartbeat=0.4)) as messages:
                await asyncio.wait_for(_collect(messages, received), 10)
    finally:
        release.set()
    assert 0.4 <= time.monotonic() - started < 3.0
    assert [m["type"] for m in received] == ["hello"]


async def _reset(ws: web.WebSocketResponse) -> None:
    await asyncio.sleep(0.1)
    assert ws._req is not None and ws._req.transport is not None
    ws._req.transport.abort()


async def test_push_notices_a_reset_connection(fake_cloud: FakeCloud, client: CloudClient) -> None:
    fake_cloud.push_then = _reset
    with pytest.raises(CloudUnavailable, match="the connection was lost"):
        async with contextlib.aclosing(client.push("c_03")) as messages:
            await asyncio.wait_for(_collect(messages, []), 10)


@pytest.mark.parametrize(("code", "error", "expected"), [
    (4410, CloudRejected, "cursor-expired"), (1008, CloudRejected, "policy-violation"),
    (1011, CloudUnavailable, "internal error of the cloud")])
async def test_push_close_codes(fake_cloud: FakeCloud, client: CloudClient, code: int,
                                error: type[Exception], expected: str) -> None:
    async def close(ws: web.WebSocketResponse) -> None:
        await ws.close(code=code)
    fake_cloud.push_then = close
    with pytest.raises(error) as raised:
        async with contextlib.aclosing(client.push(None)) as messages:
            await _collect(messages, [])
    if isinstance(raised.value, CloudRejected):
        assert raised.value.code == expected
    else:
        assert expected in str(raised.value)


async def test_push_refused_at_the_handshake(fake_cloud: FakeCloud, client: CloudClient) -> None:
    with pytest.raises(CloudRejected) as expired:
        await anext(client.push("c_unknown"))
    assert expired.value.status == 410 and expired.value.code == "cursor-expired"
    fake_cloud.overrides["openPushChannel"] = _problem(503, "unavailable", "Later.",
                                                  **{"Retry-After": "12"})
    with pytest.raises(CloudUnavailable) as unavailable:
        await anext(client.push(None))
    assert unavailable.value.retry_after == 12.0
    async with CloudClient(fake_cloud.url, token="pgwg_wrong-token-000000000000") as wrong:
        with pytest.raises(CloudRejected) as unauthenticated:
            await anext(wrong.push(None))
    assert unauthenticated.value.status == 401
    fake_cloud.invalid.clear()  # the wrong token was the point
    fake_cloud.overrides["openPushChannel"] = _json(GOOD_APPLICATIONS)
    with pytest.raises(CloudProtocolError, match="not a WebSocket handshake"):
        await anext(client.push(None))


async def test_push_checks_each_message(fake_cloud: FakeCloud, client: CloudClient) -> None:
    async def garbage(ws: web.WebSocketResponse) -> None:
        # A change that breaks the document costs only itself (issue 19); a broken hello ends
        # the channel.
        await ws.send_json({"type": "command", "cursor": "c_09", "occurred_at": now_iso()})
        await ws.send_json({"type": "hello", "cursor": 5})
        await asyncio.sleep(1)

    async def binary(ws: web.WebSocketResponse) -> None:
        await ws.send_bytes(b"\x00\x01")
        await asyncio.sleep(1)

    async def collect(messages: AsyncIterator[PushMessage], into: list[PushMessage]) -> None:
        async for item in messages:
            into.append(item)

    for behaviour, message, kinds in (
            (garbage, "a push message does not match the document",
             [PushHello, UnreadableChange]),
            (binary, "a binary frame", [PushHello])):
        fake_cloud.push_then = behaviour
        received: list[PushMessage] = []
        with pytest.raises(CloudProtocolError, match=message):
            async with contextlib.aclosing(client.push("c_03")) as messages:
                await asyncio.wait_for(collect(messages, received), 10)
        assert [type(m) for m in received] == kinds
        if behaviour is garbage:
            unreadable = received[1]
            assert isinstance(unreadable, UnreadableChange) and unreadable.cursor == "c_09"
            assert unreadable.command is not None and not unreadable.command.acknowledgeable


async def test_push_without_the_subprotocol_is_refused(fake_cloud: FakeCloud,
                                                       client: CloudClient) -> None:
    async def other(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"type": "hello", "cursor": None, "heartbeat_seconds": 30,
                            "server_time": now_iso()})
        await ws.close()
        return ws
    fake_cloud.overrides["openPushChannel"] = other
    with pytest.raises(CloudProtocolError, match=r"did not agree to the printgw\.v1 subprotocol"):
        await anext(client.push(None))
