"""Reading a config file: TOML, then validation into `Config`, with one message per mistake
(naming the key, the bad value unless secret, and the fix); and what changed between two configs."""

from __future__ import annotations

import difflib
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ValidationError,
)

from gateway.settings.schema import Config
from gateway.settings.values import mask_url_credentials


class ConfigError(Exception):
    """The config file cannot be used; `problems` lists every mistake found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s):\n{lines}")



def parse_config(data: dict[str, Any], source: str = "config") -> Config:
    """Validate a config document; raise `ConfigError` naming every mistake."""
    problems = _undefined_v3_users(data)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(error) for error in exc.errors()] + problems
    if problems:
        raise ConfigError(source, problems)
    return config


def _undefined_v3_users(data: Any) -> list[str]:
    """Every reference to an `[snmp.v3_users.NAME]` table that is not defined, read from the
    document itself (whatever else is wrong in it)."""
    def table(parent: Any, key: str) -> dict[str, Any]:
        value = parent.get(key) if isinstance(parent, dict) else None
        return value if isinstance(value, dict) else {}

    known = set(table(table(data, "snmp"), "v3_users"))
    references: list[tuple[str, Any]] = []
    discovery = table(data, "discovery")
    for kind in ("subnets", "static"):
        rows = discovery.get(kind)
        for i, row in enumerate(rows if isinstance(rows, list) else []):
            names = row.get("v3_users") if isinstance(row, dict) else None
            references += [(f"discovery.{kind}[{i}].v3_users", name)
                           for name in (names if isinstance(names, list) else [])]
    references.append(("contract.v3_user", table(data, "contract").get("v3_user")))
    return [f"{where}: names {name!r}, which is not defined; add a [snmp.v3_users.{name}] table "
            "or remove the name" for where, name in references
            if isinstance(name, str) and name not in known]


_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def read_toml(path: Path | str) -> dict[str, Any]:
    """The file's TOML as a dict, unvalidated; `ConfigError` when unreadable or not TOML."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read the file: {exc.strerror}"]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [_toml_problem(str(exc))]) from None


def _toml_problem(message: str) -> str:
    """`line N, column M: not valid TOML: what` and how TOML is written.  (The line itself is not
    shown: it may hold a secret.)"""
    found = _TOML_POSITION.search(message)
    where = f"line {found.group(1)}, column {found.group(2)}: " if found else ""
    what = message[:found.start()] if found else message
    return (f"{where}not valid TOML: {what}; write tables as [name], values as key = value, "
            'text in "quotes" (https://toml.io)')


def load_config(path: Path | str) -> Config:
    """Read and validate a config file; raise `ConfigError` naming every mistake."""
    return parse_config(read_toml(path), str(path))


_FIXES = {
    "bool_parsing": "write true or false", "bool_type": "write true or false",
    "int_parsing": "write a whole number", "int_type": "write a whole number",
    "int_from_float": "write a whole number", "float_parsing": "write a number",
    "float_type": "write a number", "string_type": 'write text in "quotes"',
    "list_type": "write a list in [brackets]", "dict_type": "write a table",
    "model_type": "write a table ([section] or { key = value })", "missing": "add this key",
}
"""How to fix what pydantic's own messages only describe."""


def _describe(error: Any) -> str:
    loc = error["loc"]
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
    where = where.lstrip(".") or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown key{_did_you_mean(loc)}"
    if error["type"] in _FIXES:
        message = f"{message}; {_FIXES[error['type']]}"
    value = error.get("input")
    if isinstance(value, dict) or error["type"] == "missing" or _is_secret_path(loc) \
            or repr(value) in message:  # the message names it already
        return f"{where}: {message}"
    shown = {True: "true", False: "false"}.get(value) if isinstance(value, bool) else repr(value)
    return f"{where}: {message} (got {mask_url_credentials(shown)})"


def _did_you_mean(loc: tuple[Any, ...]) -> str:
    model: Any = Config
    skip_key = False
    for part in loc[:-1]:
        if isinstance(part, int) or skip_key:  # a list index, or the NAME of a dict of tables
            skip_key = False
            continue
        field = model.model_fields.get(part) if isinstance(model, type) else None
        if field is None:
            return ""
        skip_key = getattr(field.annotation, "__origin__", None) is dict
        model = _model_of(field.annotation)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return ""
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
    known = ", ".join(model.model_fields)
    return (f"; did you mean {close[0]!r}?" if close
            else f"; remove it, or use one of the known keys: {known}")


def _model_of(annotation: Any) -> Any:
    """The model class inside `list[Model]`, `dict[str, Model]`, `Model | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _is_secret_path(loc: tuple[Any, ...]) -> bool:
    return any(part in ("communities", "auth_key", "priv_key", "enrolment_token", "proxy",
                        "write_community")
               for part in loc)



def changed_keys(old: BaseModel, new: BaseModel, prefix: str = "") -> list[str]:
    """The dotted keys whose values differ between two configs (or sections), down to the keys of
    the sections; a list or a table of tables (`discovery.static`, `snmp.v3_users`) is one key.
    Names only: the values may be secrets."""
    changed = []
    for name in type(old).model_fields:
        before, after = getattr(old, name), getattr(new, name)
        if before == after:
            continue
        if isinstance(before, BaseModel) and type(before) is type(after):
            changed += changed_keys(before, after, f"{prefix}{name}.")
        else:
            changed.append(f"{prefix}{name}")
    return changed
