"""`printgw-cloud serve`: run the reference cloud until interrupted (also `python -m cloud`).

Plain HTTP only on loopback: on any other address `--tls-cert` and `--tls-key` are required.
The operator's commands beside it (`operator-token`, `token`, `service`) are in
`cloud.operator_cli`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import signal
import ssl
import sys
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from yarl import URL

from cloud import db_cli, operator_cli, workers
from cloud.db import DEFAULT_URL
from cloud.server import CloudServer
from cloud.webhooks import endpoint, read_secret
from protocols.hosts import is_loopback_host
from protocols.version import VERSION

TOKEN_ENV = "PRINTGW_CLOUD_OPERATOR_TOKEN"
MIN_TOKEN_LENGTH = 16
TOKENS_HELP = (f"file with operator bearer tokens, one per line (or set {TOKEN_ENV}); "
               "printgw-cloud operator-token create FILE makes one")
_REGION = re.compile(r"^[a-z]{2}(-[a-z0-9]+)*$")


def _http_url(text: str) -> str:
    url = URL(text)
    if url.scheme not in ("http", "https") or not url.host:
        raise argparse.ArgumentTypeError(f"not an http(s) URL: {text!r}")
    return text.rstrip("/")


def _percent(text: str) -> int:
    if not text.isdigit() or int(text) > 100:
        raise argparse.ArgumentTypeError(f"expected a percentage 0-100, got {text!r}")
    return int(text)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected seconds (0 or more), got {text!r}")
    return value


def _region(text: str) -> tuple[str, str]:
    name, sep, url = text.partition("=")
    if not sep or not _REGION.match(name):
        raise argparse.ArgumentTypeError(f"expected NAME=URL with a lower-case region name such "
                                         f"as jp or eu-west, got {text!r}")
    return name, _http_url(url)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="printgw-cloud",
                                 description="The printgw reference cloud (information "
                                             "management server).")
    ap.add_argument("--version", action="version", version=f"%(prog)s {VERSION}")
    commands = ap.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server until interrupted")
    serve.add_argument("--database", default=DEFAULT_URL,
                       help="SQLAlchemy URL: sqlite+aiosqlite:///FILE (default "
                            f"{DEFAULT_URL}) or postgresql+asyncpg://USER:PASSWORD@HOST/DB")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8480)
    serve.add_argument("--public-url", type=_http_url, default=None,
                       help="base URL gateways reach this server at (default: as each request "
                            "names it)")
    serve.add_argument("--region", type=_region, action="append", default=[],
                       metavar="NAME=URL",
                       help="regional base URL answered by resolveConnectionDestination "
                            "(repeatable; default: every region answers this server's URL)")
    serve.add_argument("--operator-token-file", type=Path, default=None, help=TOKENS_HELP)
    serve.add_argument("--order-webhook", type=_http_url, default=None, metavar="URL",
                       help="order service the contract cartridge orders (S110) are POSTed to "
                            "(default: none; orders stay pending)")
    serve.add_argument("--member-webhook", type=_http_url, default=None, metavar="URL",
                       help="member site the member notices are POSTed to (default: none; "
                            "notices stay pending)")
    serve.add_argument("--webhook-secret-file", type=Path, default=None, metavar="FILE",
                       help="secret the webhooks (orders, member notices) are signed with "
                            "(Printgw-Signature, docs/webhooks.md); required for webhooks "
                            "outside loopback")
    serve.add_argument("--contract-threshold", type=_percent, default=0, metavar="PERCENT",
                       help="a contract's default threshold: remaining percent at or below "
                            "which its contract cartridge counts as run out during a change of "
                            "contract machine (a contract request may name its own; default 0: "
                            "empty)")
    serve.add_argument("--contract-max-attempts", type=_positive, default=5, metavar="N",
                       help="a contract process's command failing for a passing reason is "
                            "issued at most N times, then the process ends failed (default 5)")
    serve.add_argument("--contract-stall-after", type=_seconds, default=86400.0,
                       metavar="SECONDS",
                       help="a contract process waiting this long for the same thing is shown "
                            "stalled to the operator (default 86400: a day)")
    serve.add_argument("--contract-notice-lead", type=_seconds, default=3 * 86400.0,
                       metavar="SECONDS",
                       help="S206: the old printer's dated termination notice comes this long "
                            "before its withdrawal (default 259200: three days)")
    # Timers of the background work (`cloud.jobs`), shortened by tests; not for operators.
    serve.add_argument("--housekeeping-seconds", type=_seconds, default=3600.0,
                       help=argparse.SUPPRESS)
    serve.add_argument("--contract-poll-seconds", type=_seconds, default=5.0,
                       help=argparse.SUPPRESS)
    serve.add_argument("--tls-cert", type=Path, default=None, help="PEM certificate (chain)")
    serve.add_argument("--tls-key", type=Path, default=None, help="PEM private key")
    serve.add_argument("--workers", type=_positive, default=1, metavar="N",
                       help="worker processes serving the port (default 1: this process "
                            "alone); above 1 needs PostgreSQL (docs/cloud-scale-out.md)")
    serve.add_argument("--listen-fd", type=int, default=None, help=argparse.SUPPRESS)
    serve.add_argument("--upgrade-database", action="store_true",
                       help="migrate an older database's schema at start (back it up first); "
                            "without it such a database is refused (printgw-cloud db upgrade)")
    serve.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    operator_cli.add_commands(commands, TOKENS_HELP)
    db_cli.add_commands(commands)
    args = ap.parse_args(argv)
    if args.command != "serve":
        return args
    if (args.tls_cert is None) != (args.tls_key is None):
        ap.error("--tls-cert and --tls-key go together")
    if args.tls_cert is None and not is_loopback_host(args.host):
        ap.error(f"refusing plain HTTP on {args.host}: outside loopback the cloud needs TLS "
                 "(--tls-cert FILE --tls-key FILE)")
    try:
        args.operator_tokens = operator_tokens(args.operator_token_file)
        args.webhook_secret = webhook_secret(args)
    except (OSError, ValueError) as exc:
        ap.error(str(exc))
    return args


def operator_tokens(path: Path | None) -> list[str]:
    """Tokens from the file (one per line; blank lines and `#` comments ignored) and the
    environment; at least one, each at least 16 characters."""
    tokens = []
    if path is not None:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                tokens.append(line.strip())
    if os.environ.get(TOKEN_ENV, "").strip():
        tokens.append(os.environ[TOKEN_ENV].strip())
    if not tokens:
        raise ValueError(f"no operator token: give --operator-token-file FILE or set {TOKEN_ENV}")
    if any(len(token) < MIN_TOKEN_LENGTH for token in tokens):
        raise ValueError(f"operator tokens must have at least {MIN_TOKEN_LENGTH} characters")
    return tokens


def webhook_secret(args: argparse.Namespace) -> bytes | None:
    """The secret of --webhook-secret-file; ValueError when a webhook would go unsigned outside
    loopback (`cloud.webhooks.endpoint`)."""
    secret = read_secret(args.webhook_secret_file) if args.webhook_secret_file else None
    for url in (args.order_webhook, args.member_webhook):
        endpoint(url, secret)
    return secret


async def serve(args: argparse.Namespace) -> None:
    context = None
    if args.tls_cert is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sock = workers.inherited_socket(args.listen_fd)
    server = CloudServer(database_url=args.database, host=args.host, port=args.port,
                         operator_tokens=args.operator_tokens,
                         regions=dict(args.region) if args.region else None,
                         public_url=args.public_url, ssl_context=context,
                         order_webhook=args.order_webhook,
                         member_webhook=args.member_webhook,
                         webhook_secret=args.webhook_secret,
                         contract_threshold_percent=args.contract_threshold,
                         contract_max_attempts=args.contract_max_attempts,
                         contract_stall_after_seconds=args.contract_stall_after,
                         contract_notice_lead_seconds=args.contract_notice_lead,
                         contract_poll_seconds=args.contract_poll_seconds,
                         housekeeping_seconds=args.housekeeping_seconds, sock=sock,
                         upgrade_schema=args.upgrade_database)
    if sock is not None:
        workers.become_worker(server.app, stop)
    async with server:
        print(f"{workers.LISTENING}{server.url}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "db":
        return db_cli.run(args)
    if args.command != "serve":
        return operator_cli.run(args, operator_tokens)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.workers > 1 and args.listen_fd is None:
            return asyncio.run(workers.supervise(args, sys.argv[1:] if argv is None else argv))
        asyncio.run(serve(args))
    except workers.WorkersRefused as exc:
        print(f"printgw-cloud: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError, SQLAlchemyError) as exc:
        print(f"printgw-cloud: {exc}", file=sys.stderr)
        return 1
    return 0
