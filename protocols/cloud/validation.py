"""The cloud document as validators: every answer the client reads is checked against the schema the
document gives for it, so no caller ever sees a shape the document does not allow.

jsonschema and referencing (~5 MB) are imported on the first validation: a gateway without a
cloud configured never validates anything.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from protocols.cloud import load_schema, operations
from protocols.cloud.errors import shorten

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator, FormatChecker
    from referencing import Registry

_SCHEMA_BASE = "urn:printgw:cloud-openapi"


@cache
def _document() -> dict[str, Any]:
    return load_schema()


@cache
def _registry() -> Registry:
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    return Registry().with_resource(_SCHEMA_BASE, DRAFT202012.create_resource(_document()))


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


@cache
def _formats() -> FormatChecker:
    from jsonschema import FormatChecker

    formats = FormatChecker(formats=("date", "uuid"))
    formats.checks("date-time", raises=ValueError)(_is_date_time)
    return formats


def _is_date_time(value: object) -> bool:
    """RFC 3339 `date-time`: an offset is required (`datetime.fromisoformat` alone allows none)."""
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    return True


def _pointer(*segments: str) -> str:
    return "".join("/" + s.replace("~", "~0").replace("/", "~1") for s in segments)


@cache
def _validator(pointer: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator({"$ref": f"{_SCHEMA_BASE}#{quote(pointer, safe='/~')}"},
                                registry=_registry(), format_checker=_formats())


@cache
def response_validator(operation: str, status: int) -> Draft202012Validator | None:
    """The validator of the operation's JSON answer for `status`; None when it has none."""
    method, path = operations()[operation]
    responses = _document()["paths"][path][method.lower()]["responses"]
    response = responses.get(str(status))
    if response is None or "$ref" in response:
        return None
    if "application/json" not in response.get("content", {}):
        return None
    return _validator(_pointer("paths", path, method.lower(), "responses", str(status),
                               "content", "application/json", "schema"))


@cache
def schema_validator(name: str) -> Draft202012Validator:
    return _validator(_pointer("components", "schemas", name))


def mismatch(validator: Draft202012Validator, body: Any) -> str | None:
    """Which field of `body` breaks the schema, and how; None when it is valid."""
    from jsonschema.exceptions import best_match

    error = best_match(validator.iter_errors(body))
    if error is None:
        return None
    where = "".join("/" + str(p) for p in error.absolute_path) or "the top level"
    return f"field {where}: {shorten(error.message)}"

