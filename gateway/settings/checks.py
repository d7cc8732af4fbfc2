"""What a config file alone cannot tell, checked on the machine by `printgw check-config` and at
the start of `printgw run`:

- `data_dir_problems`: the data directory is a directory (or can be created) that the user
  running the gateway may write in, with a database it may write — a mistake (`check-config` and
  `run` exit with 2: restarting cannot fix it, so systemd does not try);
- `exposed_secrets_warning`: a config file that group or others may read and that holds secrets
  written in it — a warning (the keys are named, never their values), with the fix: `chmod 600`
  or moving each secret to its `KEY_file` / `{ env = "NAME" }`.
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from gateway.settings.schema import Config

WELL_KNOWN_SECRETS = frozenset({"public"})
"""Values that are no secret, whoever reads them: the default SNMP community (the example config
writes it), so a world-readable file holding only it gets no warning."""


def _user() -> str:
    """The user this process runs as, for messages: `name (uid N)`."""
    uid = os.geteuid()
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def data_dir_of(data: dict[str, Any]) -> Path | None:
    """`[gateway] data_dir` as a config document (unvalidated TOML) gives it, or its default;
    None when it is not text (validation names that mistake)."""
    gateway = data.get("gateway")
    value = gateway.get("data_dir") if isinstance(gateway, dict) else None
    if value is None:
        return Config.model_fields["gateway"].default.data_dir
    return Path(value) if isinstance(value, str) and value.strip() else None


def data_dir_problems(data_dir: Path, database: str | None = None) -> list[str]:
    """Why `data_dir` (`[gateway] data_dir`) cannot hold the gateway's database (the file named
    `database` in it, when given) for the user running this process, each naming the key and
    the fix; [] when it can.  Nothing is created or changed."""
    directory = Path(data_dir)
    key = "gateway.data_dir"
    user = _user()
    if directory.exists():
        if not directory.is_dir():
            return [f"{key}: {directory} is not a directory; give the path of a directory (it is "
                    "created when missing), or move the file away"]
        if not os.access(directory, os.W_OK | os.X_OK):
            return [f"{key}: {directory} is not writable by {user}, who runs the gateway; "
                    f"run: chown {user.split()[0]} {directory} (or choose another directory)"]
        file = directory / database if database else None
        if file is not None and file.exists() and not (
                file.is_file() and os.access(file, os.R_OK | os.W_OK)):
            return [f"{key}: the database {file} is not a file {user} may read and write; "
                    f"run: chown {user.split()[0]} {file}"]
        return []
    ancestor = directory.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return [f"{key}: {directory} cannot be created: {ancestor} is not a directory; give "
                "another path"]
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return [f"{key}: {directory} does not exist and {user}, who runs the gateway, may not "
                f"create it in {ancestor}; create it (mkdir -m 700 {directory}, then chown it to "
                "the gateway's user; under systemd, StateDirectory= creates /var/lib/printgw) or "
                "choose another directory"]
    return []


def inline_secrets(data: dict[str, Any]) -> list[str]:
    """The keys of a config document (unvalidated TOML) whose secrets are written in the file
    itself rather than taken from `{ env = … }`, `{ file = … }` or a `KEY_file` (well-known
    values such as the community "public" aside)."""
    return _inline(Config, data, "")


def _inline(model: type[BaseModel], data: Any, where: str) -> list[str]:
    if not isinstance(data, dict):
        return []
    found: list[str] = []
    for name, value in data.items():
        field = model.model_fields.get(name)
        if field is None or name.endswith("_file"):  # a KEY_file holds a path, not the secret
            continue
        key = f"{where}{name}"
        inner = _model_of(field.annotation)
        if _holds_secret(field.annotation):
            values = value if isinstance(value, list) else [value]
            if any(isinstance(v, str) and v.strip() not in WELL_KNOWN_SECRETS for v in values):
                found.append(key)
        elif name == "proxy" and isinstance(value, str) and "@" in value:
            found.append(key)  # refused by validation too
        elif inner is not None:
            if getattr(field.annotation, "__origin__", None) is dict and isinstance(value, dict):
                for table, row in value.items():
                    found += _inline(inner, row, f"{key}.{table}.")
            elif isinstance(value, list):
                for i, row in enumerate(value):
                    found += _inline(inner, row, f"{key}[{i}].")
            else:
                found += _inline(inner, value, f"{key}.")
    return found


def _holds_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    return any(_holds_secret(arg) for arg in getattr(annotation, "__args__", ()))


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for arg in getattr(annotation, "__args__", ())
                 if (m := _model_of(arg)) is not None), None)


def exposed_secrets_warning(path: Path | str, data: dict[str, Any]) -> str | None:
    """A warning when the config file at `path` may be read by group or others and holds secrets
    written in it (`data`: its TOML); it names the keys, never their values.  None otherwise."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None
    if not mode & 0o044:
        return None
    keys = inline_secrets(data)
    if not keys:
        return None
    return (f"{path} may be read by group or others (mode {mode:o}) and holds secrets written in "
            f"it: {', '.join(keys)}; run: chmod 600 {path} (if the gateway's user owns it), or "
            "take each from a file only the gateway can read (KEY_file = \"/path\", e.g. "
            "\"$CREDENTIALS_DIRECTORY/NAME\" under systemd) or from the environment "
            "(KEY = { env = \"NAME\" })")
