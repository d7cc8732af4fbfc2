"""The gateway ↔ cloud protocol, written down: `openapi.yaml` beside this file (OpenAPI 3.1).

It is the one source of truth for the gateway's uplink and the reference cloud; both are tested
against it.  `DATA_TYPES` (the device-status data type catalogue) is read from it, not repeated.
"""

from __future__ import annotations

import copy
from functools import cache
from importlib import resources
from typing import Any

import yaml

SCHEMA_FILE = "openapi.yaml"


@cache
def _document() -> dict[str, Any]:
    text = resources.files(__name__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    document = yaml.load(text, Loader=loader)
    if not isinstance(document, dict):
        raise ValueError(f"{SCHEMA_FILE}: not a mapping")
    return document


def load_schema() -> dict[str, Any]:
    """The OpenAPI document as JSON-compatible data (a fresh copy: callers may change it)."""
    return copy.deepcopy(_document())


_METHODS = ("get", "put", "post", "delete", "patch")


@cache
def operations() -> dict[str, tuple[str, str]]:
    """Every operation of the document by its `operationId`: (HTTP method, path template)."""
    return {operation["operationId"]: (method.upper(), path)
            for path, item in _document()["paths"].items()
            for method, operation in item.items() if method in _METHODS}


DATA_TYPES: tuple[str, ...] = tuple(_document()["components"]["schemas"]["DataType"]["enum"])
"""The device-status data type catalogue (`components.schemas.DataType`), in document order."""

COMMAND_KINDS: tuple[str, ...] = tuple(_document()["components"]["schemas"]["CommandKind"]["enum"])
"""The command kinds this version knows (`components.schemas.CommandKind`); a newer cloud may send
others, which the gateway refuses one by one (`protocols.cloud.changes`)."""
