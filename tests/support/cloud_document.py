"""The cloud protocol document (`protocols/cloud/openapi.yaml`) as the tests read it: its
operations, JSON pointers into it, and 2020-12 validators for its schemas (with the formats
RFC 3339 `date-time` and `uri` checked) that are independent of the reference cloud's own."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from protocols.cloud import load_schema

DOC = load_schema()
BASE = "urn:printgw:cloud-openapi"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def escape(segment: str) -> str:
    """One JSON pointer segment (RFC 6901)."""
    return segment.replace("~", "~0").replace("/", "~1")


def pointer(*segments: str | int) -> str:
    return "".join("/" + escape(str(s)) for s in segments)


def at(where: str) -> Any:
    """The node of the document at the JSON pointer `where`."""
    node: Any = DOC
    for raw in where.split("/")[1:]:
        segment = raw.replace("~1", "/").replace("~0", "~")
        node = node[int(segment)] if isinstance(node, list) else node[segment]
    return node


def deref(node: Any) -> Any:
    """`node`, its `$ref`s (within the document) followed."""
    while isinstance(node, dict) and "$ref" in node:
        node = at(node["$ref"].removeprefix("#"))
    return node


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(path, method, operation object) of every operation, duplicates included."""
    for path, item in DOC["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


OPERATIONS = {op["operationId"]: (path, method, op) for path, method, op in operations()}
"""operationId → (path, method, operation object)."""


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_FORMATS = FormatChecker()


@_FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@_FORMATS.checks("uri")
def _uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme) and (bool(parts.netloc) or parts.scheme in ("urn", "about", "tag"))


REGISTRY = Registry().with_resource(BASE, DRAFT202012.create_resource(DOC))


def validator_for(where: str) -> Draft202012Validator:
    """A 2020-12 validator for the schema at pointer `where`, its $refs resolved through the
    document."""
    return Draft202012Validator({"$ref": f"{BASE}#{quote(where, safe='/~')}"},
                                registry=REGISTRY, format_checker=_FORMATS)


def schema_validator(name: str) -> Draft202012Validator:
    """A validator for the component schema `name`."""
    return validator_for(pointer("components", "schemas", name))
