"""`printgw`'s logs: text or JSON lines on stderr, with every known secret redacted.

Secrets are kept out of log messages by the code that writes them; `Redactor` is the second line
of defence: a filter on the handler that replaces every known secret value (SNMP communities and
v3 keys, the enrolment token, the proxy password, the cloud's bearer token once known) with
`***` in the message, its arguments, the exception text and the record's fields, whichever logger
wrote it (libraries included).

JSON lines hold `time` (RFC 3339, UTC), `level`, `logger`, `message`, the fields given with
`extra=` (e.g. `device_id`, `outcome`, `next_in`), and `exception` when there is one.  Text lines
are `TIME LEVEL LOGGER: MESSAGE key=value…`.

Under systemd (`$JOURNAL_STREAM` names the stream stderr is), every line starts with its
sd-daemon priority (`<3>` error, `<4>` warning, `<6>` info, `<7>` debug), so that
`journalctl -p warning` selects by level, and text lines carry no time of their own: journald
stamps each line.  A record of several lines (a traceback) has the prefix on each.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TextIO, get_args
from urllib.parse import urlsplit

from pydantic import SecretStr

from gateway.settings.schema import Config, LoggingSettings
from protocols.cloud.times import rfc3339

FORMATS: tuple[str, ...] = get_args(LoggingSettings.model_fields["format"].annotation)
LEVELS: tuple[str, ...] = get_args(LoggingSettings.model_fields["level"].annotation)
MASK = "***"
MIN_SECRET_LENGTH = 4
"""Shorter values are not redacted: they would mask ordinary words, and guessing them is easy."""
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JOURNAL_TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"
"""journald stamps each line: no second time."""
_RECORD_ATTRIBUTES = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "taskName"}


@dataclass(frozen=True)
class LogOverrides:
    """What the command line says (`--log-format`, `--log-level`): wins over `[logging]`."""

    format: str | None = None
    level: str | None = None


class Redactor(logging.Filter):
    """Replaces known secret values in every record that passes (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def protect(self, values: Iterable[str]) -> None:
        """Add secret values (kept for the life of the process: an old secret stays secret)."""
        new = {v for v in values if len(v) >= MIN_SECRET_LENGTH} - self._secrets
        if new:
            self._secrets |= new
            ordered = sorted(self._secrets, key=len, reverse=True)  # longest first
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def redact(self, text: str) -> str:
        return text if self._pattern is None else self._pattern.sub(MASK, text)

    def filter(self, record: logging.LogRecord) -> bool:
        if self._pattern is None:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # arguments that do not fit the format: shown as is
            message = f"{record.msg} {record.args}"
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for key, value in fields(record).items():
            setattr(record, key, self._redact_value(value))
        return True

    def _redact_value(self, value: Any) -> Any:
        """A field's value with secrets redacted, lists and tables kept as such."""
        if isinstance(value, bool | int | float | None):
            return value
        if isinstance(value, list | tuple):
            return [self._redact_value(v) for v in value]
        if isinstance(value, dict):
            return {k: self._redact_value(v) for k, v in value.items()}
        return self.redact(str(value))


def fields(record: logging.LogRecord) -> dict[str, Any]:
    """What the record carries besides the standard attributes (`extra=`)."""
    return {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRIBUTES}


class TextFormatter(logging.Formatter):
    def __init__(self, fmt: str = TEXT_FORMAT) -> None:
        super().__init__(fmt)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        extra = " ".join(f"{k}={v}" for k, v in fields(record).items())
        return f"{line} {extra}" if extra else line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": rfc3339(record.created, "milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in fields(record).items():
            document.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            document["exception"] = record.exc_text
        if record.stack_info:
            document["stack"] = record.stack_info
        return json.dumps(document, ensure_ascii=False, default=str)


class JournalFormatter(logging.Formatter):
    """Another formatter's lines, each with the record's sd-daemon priority prefix (`<4>`)."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{priority(record.levelno)}>"
        return "\n".join(prefix + line for line in self.inner.format(record).splitlines())


def priority(level: int) -> int:
    """The syslog priority of a logging level: 2 critical, 3 error, 4 warning, 6 info, 7 debug."""
    if level >= logging.CRITICAL:
        return 2
    if level >= logging.ERROR:
        return 3
    if level >= logging.WARNING:
        return 4
    return 6 if level >= logging.INFO else 7


def writes_to_journal(stream: TextIO) -> bool:
    """Whether `stream` is the journal stream systemd connected (`$JOURNAL_STREAM` is
    `DEVICE:INODE` of it; a stderr redirected elsewhere by the service keeps the variable but
    is another file)."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):  # no file behind it (a test's StringIO)
        return False
    return expected == f"{info.st_dev}:{info.st_ino}"


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The one handler `configure` installs (and finds again on a reload)."""


redactor = Redactor()


def configure(config: Config, overrides: LogOverrides = LogOverrides(),
              stream: TextIO | None = None) -> None:
    """Set up (or, on a reload, change) the root logger: format and level from `[logging]` with
    the command line's overrides on top, and the config's secrets redacted."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, _Handler)), None)
    if handler is None:
        handler = _Handler(stream or sys.stderr)
        handler.addFilter(redactor)
        root.addHandler(handler)
    fmt = overrides.format or config.logging.format
    journal = writes_to_journal(handler.stream)
    formatter: logging.Formatter = (
        JsonFormatter() if fmt == "json"
        else TextFormatter(JOURNAL_TEXT_FORMAT if journal else TEXT_FORMAT))
    handler.setFormatter(JournalFormatter(formatter) if journal else formatter)
    root.setLevel((overrides.level or config.logging.level).upper())
    redactor.protect(config_secrets(config))


def protect(*values: str | None) -> None:
    """More secret values to redact (the bearer token once the gateway has one)."""
    redactor.protect(v for v in values if v)


def config_secrets(config: Config) -> list[str]:
    """Every secret value the config holds."""
    secrets: list[SecretStr | None] = [*config.snmp.communities, config.cloud.enrolment_token,
                                       config.contract.write_community]
    for user in config.snmp.v3_users.values():
        secrets += [user.auth_key, user.priv_key]
    for scope in [*config.discovery.subnets, *config.discovery.static]:
        secrets += scope.communities or []
    values = [s.get_secret_value() for s in secrets if s is not None]
    if config.cloud.proxy:
        values.append(urlsplit(config.cloud.proxy).password or "")
    return [v for v in values if v]
