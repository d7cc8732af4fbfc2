"""Secrets in the config: literal text, `{ env = "NAME" }`, `{ file = "/path" }` or a `KEY_file`
key beside `KEY`.  A secret file must not be readable by group or others (`chmod 600`); `$VARIABLES`
in its path are expanded, so `"$CREDENTIALS_DIRECTORY/enrolment-token"` reads a systemd credential.
Secrets are pydantic `SecretStr`s: never shown in messages or logs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    SecretStr,
)


def _secret(value: Any) -> Any:
    """A literal string, `{ env = "NAME" }` or `{ file = "/path" }`."""
    if not isinstance(value, dict):
        return value
    return secret_text(value)


def secret_text(value: dict[str, Any]) -> str:
    """The text `{ env = "NAME" }` or `{ file = "/path" }` stands for (a `ValueError` naming the
    fix otherwise)."""
    if set(value) == {"env"}:
        name = value["env"]
        if name not in os.environ:
            raise ValueError(f"environment variable {name} is not set; export it or write the "
                             "value in the file")
        return os.environ[name]
    if set(value) == {"file"}:
        return read_secret_file(value["file"])
    raise ValueError('write a secret as "text", { env = "NAME" } or { file = "/path" }')


def read_secret_file(name: Any) -> str:
    """The text of a secret file (surrounding white space removed), refused when group or others
    may read it: a secret in a file anyone on the machine can read is no secret."""
    if not isinstance(name, str):
        raise ValueError('write the path of a secret file in quotes, e.g. "/etc/printgw/secret"')
    path = Path(os.path.expandvars(name))
    try:
        with path.open() as file:
            mode = os.fstat(file.fileno()).st_mode
            if mode & 0o044:
                raise ValueError(f"the secret file {path} is readable by group or others (mode "
                                 f"{mode & 0o777:o}); run: chmod 600 {path}")
            return file.read().strip()
    except OSError as exc:
        raise ValueError(f"cannot read the secret file {path}: {exc.strerror}; check the path "
                         "and that the gateway's user may read it") from None


def _secret_lines(name: Any) -> list[str]:
    """A secret file of several values: one per line; blank lines and `#` comments skipped."""
    lines = (line.strip() for line in read_secret_file(name).splitlines())
    return [line for line in lines if line and not line.startswith("#")]


Secret = Annotated[SecretStr, BeforeValidator(_secret)]
SecretFile = Annotated[SecretStr, BeforeValidator(read_secret_file)]
"""A `KEY_file` key: the path of a file holding the secret; after validation, the secret."""
SecretListFile = Annotated[list[SecretStr], BeforeValidator(_secret_lines)]
"""A `KEY_file` key for a list of secrets: one per line of the file."""


def take_from_file(section: BaseModel, key: str) -> None:
    """`KEY_file` in place of `KEY`: the section's after-validators call this (both given is a
    mistake: which one wins would be a guess)."""
    from_file = getattr(section, f"{key}_file")
    if from_file is None:
        return
    if key in section.model_fields_set:
        raise ValueError(f"{key} and {key}_file are both set; keep one of them")
    section.__dict__[key] = from_file
