"""The cloud operator's commands: `printgw-cloud operator-token|token|service …`.

They are the operator's first steps without curl. `token` and `service` talk to a running
cloud over its published operator API (`protocols/cloud/openapi.yaml`, through the one request
builder `protocols.cloud.transport`), with an operator token read the way `serve` reads it (the
`--operator-token-file` or `PRINTGW_CLOUD_OPERATOR_TOKEN`), so whatever the cloud checks (the
schema, known regions, the data type catalogue) is checked for them too. `operator-token`
writes the token file `serve` reads; it needs no running cloud.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from protocols.cloud.errors import CloudError
from protocols.cloud.transport import (
    DEFAULT_MAX_RESPONSE_BYTES,
    checked_url,
    operation_request,
    read_answer,
    ssl_context,
)

URL_ENV = "PRINTGW_CLOUD_URL"
DEFAULT_URL = "http://127.0.0.1:8480"
OPERATOR_PREFIX = "pgwo_"
_FIELDS = ("service_outline", "provider", "data_types", "compatible_cartridge_models",
           "activation_by_first_upload", "kind", "provider_endpoint", "required_functions",
           "order_threshold_percent")


class OperatorError(Exception):
    """A mistake of the operator's (exit 2) or an answer of the cloud's (exit 1), one line."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Connection:
    """Where the cloud is and how the operator proves who they are."""

    url: str
    token: str
    ca_file: str | None


def add_commands(commands: argparse._SubParsersAction, tokens_help: str) -> None:
    """The operator's sub-commands, beside `serve`."""
    minted = commands.add_parser("operator-token", help="operator tokens (the file serve reads)")
    minted_actions = minted.add_subparsers(dest="action", required=True)
    create = minted_actions.add_parser(
        "create", help="add a new random operator token to FILE (created with mode 0600); "
                       "restart the cloud to use it")
    create.add_argument("file", type=Path, metavar="FILE")

    token = commands.add_parser("token", help="gateway enrolment tokens")
    token_actions = token.add_subparsers(dest="action", required=True)
    create = token_actions.add_parser(
        "create", help="issue a one-time enrolment token; it is printed once, on stdout")
    create.add_argument("--region", required=True,
                        help="the gateway's installation region (e.g. jp, eu-west)")
    create.add_argument("--label", default=None, help="what the token is for (e.g. the site)")
    create.add_argument("--expires", type=_duration, default=None, metavar="DURATION",
                        help="valid for this long: 90s, 30m, 12h or 7d (default: the cloud's, "
                             "a day; 60 s to 30 days)")
    _connection_options(create, tokens_help)

    service = commands.add_parser("service", help="support service definitions")
    service_actions = service.add_subparsers(dest="action", required=True)
    put = service_actions.add_parser(
        "put", help="create or replace a service, from a JSON file (a ServiceDefinition, may "
                    "name its service_id) and/or the options (which win)")
    put.add_argument("file", type=Path, nargs="?", metavar="FILE.json",
                     help="a ServiceDefinition of the cloud's API document, as JSON")
    put.add_argument("--id", dest="service_id", metavar="ID",
                     help="the service ID (or service_id in FILE)")
    put.add_argument("--outline", dest="service_outline", metavar="TEXT",
                     help="what the service does")
    put.add_argument("--provider", metavar="NAME", help="who provides it")
    put.add_argument("--data-types", type=_words, metavar="LIST",
                     help="the data types it needs, comma-separated "
                          "(e.g. supplies.level,counters.total)")
    put.add_argument("--cartridge-models", dest="compatible_cartridge_models", type=_words,
                     metavar="LIST",
                     help="compatible cartridge models, comma-separated (default: any)")
    put.add_argument("--kind", help="one provider per kind per printer (e.g. supplies-delivery)")
    put.add_argument("--provider-endpoint", metavar="URL", help="the provider's webhook URL")
    put.add_argument("--required-functions", type=_words, metavar="LIST",
                     help="device functions FIG. 10 requires: contract,color,scan,fax")
    put.add_argument("--order-threshold", dest="order_threshold_percent", type=int,
                     metavar="PERCENT", help="order consumables at or below this level")
    put.add_argument("--activation-by-first-upload", action=argparse.BooleanOptionalAction,
                     default=None, help="FIG. 9: activated by the first upload, no notice")
    listed = service_actions.add_parser("list", help="the service catalogue")
    for parser in (put, listed):
        parser.add_argument("--json", action="store_true", help="print the cloud's JSON")
        _connection_options(parser, tokens_help)


def _connection_options(parser: argparse.ArgumentParser, tokens_help: str) -> None:
    parser.add_argument("--url", default=os.environ.get(URL_ENV, DEFAULT_URL),
                        help=f"the cloud's base URL (default ${URL_ENV} or {DEFAULT_URL})")
    parser.add_argument("--operator-token-file", type=Path, default=None, metavar="FILE",
                        help=tokens_help)
    parser.add_argument("--ca-file", default=None, metavar="FILE",
                        help="CA certificate(s) the cloud's TLS certificate is checked against")


def _duration(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = text[:-1], text[-1:]
    if unit.isdigit():
        number, unit = text, "s"
    if not number.isdigit() or unit not in units:
        raise argparse.ArgumentTypeError(f"expected a duration such as 90s, 30m, 12h or 7d, "
                                         f"got {text!r}")
    return int(number) * units[unit]


def _words(text: str) -> list[str]:
    return [word.strip() for word in text.split(",") if word.strip()]


def run(args: argparse.Namespace, tokens: Callable[[Path | None], list[str]]) -> int:
    """Run an operator command; `tokens` reads the operator tokens as `serve` does (ValueError
    or OSError when there is none) and the first is sent."""
    try:
        if args.command == "operator-token":
            return create_operator_token(args.file)
        try:
            token = tokens(args.operator_token_file)[0]
        except OSError as exc:
            raise OperatorError(f"cannot read the operator token file: {exc}", 2) from exc
        url = checked_url(args.url.rstrip("/"), secure="https", plain="http")
        connection = Connection(url, token, args.ca_file)
        return asyncio.run(_COMMANDS[args.command, args.action](connection, args))
    except ValueError as exc:
        print(f"printgw-cloud: {exc}", file=sys.stderr)
        return 2
    except OperatorError as exc:
        print(f"printgw-cloud: {exc}", file=sys.stderr)
        return exc.status


def create_operator_token(path: Path) -> int:
    """A new token appended to `path` (created 0600; an existing file keeps its mode, with a
    warning when others may read it)."""
    token = OPERATOR_PREFIX + secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as file:
            file.write(token + "\n")
            mode = os.fstat(file.fileno()).st_mode
    except OSError as exc:
        raise OperatorError(f"cannot write {path}: {exc.strerror or exc}", 2) from exc
    if mode & 0o077:
        print(f"printgw-cloud: warning: {path} may be read by group or others (mode "
              f"{mode & 0o777:o}): chmod 600 {path}", file=sys.stderr)
    print(f"added an operator token to {path}; start the cloud with --operator-token-file "
          f"{path} (or restart it) to use it", file=sys.stderr)
    return 0


async def _call(connection: Connection, operation: str, *, path: dict[str, str] | None = None,
                body: Any = None) -> Any:
    """The checked answer of one operator operation; OperatorError for anything else."""
    tls = ssl_context(True, connection.ca_file) if connection.url.startswith("https") else None
    timeout = aiohttp.ClientTimeout(total=30)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, \
                operation_request(session, connection.url, operation, token=connection.token,
                                  path=path, json_body=body, ssl=tls) as response:
            return await read_answer(operation, response, DEFAULT_MAX_RESPONSE_BYTES)
    except CloudError as exc:
        raise OperatorError(str(exc)) from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise OperatorError(f"cannot reach the cloud at {connection.url}: "
                            f"{exc or type(exc).__name__}") from exc


async def token_create(connection: Connection, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"region": args.region}
    if args.label is not None:
        body["label"] = args.label
    if args.expires is not None:
        body["expires_in_seconds"] = args.expires
    answer = await _call(connection, "createEnrolmentToken", body=body)
    print(answer["enrolment_token"], flush=True)
    print(f"enrolment token for region {answer['region']}"
          f"{' (' + answer['label'] + ')' if answer.get('label') else ''}, valid until "
          f"{answer['expires_at']}, usable once; it is not shown again", file=sys.stderr)
    return 0


def service_definition(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """The service ID and definition from FILE and the options (options win)."""
    definition: dict[str, Any] = {}
    if args.file is not None:
        try:
            definition = json.loads(args.file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise OperatorError(f"cannot read {args.file}: {exc}", 2) from exc
        if not isinstance(definition, dict):
            raise OperatorError(f"{args.file}: expected one JSON object (a service)", 2)
    service_id = args.service_id or definition.get("service_id")
    definition = {k: v for k, v in definition.items() if k != "service_id"}
    definition.update({name: getattr(args, name) for name in _FIELDS
                       if getattr(args, name, None) is not None})
    if not service_id:
        raise OperatorError("which service? give --id ID or service_id in the file", 2)
    missing = [name for name in ("service_outline", "provider", "data_types")
               if name not in definition]
    if missing:
        raise OperatorError(f"the service needs {', '.join(missing)} (options "
                            f"{', '.join('--' + _option(m) for m in missing)})", 2)
    return str(service_id), definition


def _option(field: str) -> str:
    return {"service_outline": "outline"}.get(field, field.replace("_", "-"))


async def service_put(connection: Connection, args: argparse.Namespace) -> int:
    service_id, definition = service_definition(args)
    answer = await _call(connection, "putService", path={"service_id": service_id},
                         body=definition)
    if args.json:
        print(json.dumps(answer, indent=2))
    else:
        print(f"service {answer['service_id']}: {', '.join(answer['data_types'])}")
    return 0


async def service_list(connection: Connection, args: argparse.Namespace) -> int:
    services = (await _call(connection, "listServices"))["services"]
    if args.json:
        print(json.dumps(services, indent=2))
        return 0
    for service in services:
        models = ", ".join(service["compatible_cartridge_models"]) or "any cartridge"
        print(f"{service['service_id']}\t{service['provider']}\t"
              f"{', '.join(service['data_types'])}\t{models}\t{service['service_outline']}")
    return 0


_COMMANDS = {("token", "create"): token_create, ("service", "put"): service_put,
             ("service", "list"): service_list}
