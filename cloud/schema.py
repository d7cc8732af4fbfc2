"""Requests checked against the published document (`protocols/cloud/openapi.yaml`).

Bodies are read with a size limit (gzip allowed), parsed (400 when not JSON) and validated
against the document's component schemas: compiled (`cloud.acceptor`) to tell valid from invalid
fast, and walked with `jsonschema` (`$ref`s resolved through `referencing`) only to say what is
wrong; violations become a 422 Problem with one JSON pointer per field.  Query parameters and
headers are checked against the schemas the document gives them (400 naming the parameter or
header).
"""

from __future__ import annotations

import json
import math
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any
from urllib.parse import quote

from aiohttp import web
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from cloud import times
from cloud.acceptor import Check, Compiler
from cloud.problems import Problem, malformed
from protocols.cloud import load_schema

DOCUMENT = load_schema()
BASE_URI = "urn:printgw:cloud-openapi"
_REGISTRY = Registry().with_resource(BASE_URI, DRAFT202012.create_resource(DOCUMENT))

MAX_BODY = 4 * 1024 * 1024
"""Request bodies: 4 MiB of JSON after decompression (the document's limit for status batches)."""

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
FORMATS = FormatChecker(())


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if isinstance(value, str):
        times.parse(value)
    return True


@FORMATS.checks("date", raises=ValueError)
def _date(value: object) -> bool:
    if isinstance(value, str):
        if not _DATE.match(value):
            raise ValueError(f"not a date: {value!r}")
        date.fromisoformat(value)
    return True


@FORMATS.checks("uuid")
def _uuid(value: object) -> bool:
    return not isinstance(value, str) or bool(_UUID.match(value))


def is_uuid(value: str) -> bool:
    return bool(_UUID.match(value))


def ref(pointer: str) -> dict[str, str]:
    """A `$ref` to the schema at `pointer` in the document, for schemas built here."""
    return {"$ref": f"{BASE_URI}#{quote(pointer, safe='/~')}"}


_COMPILER = Compiler(DOCUMENT, BASE_URI, _REGISTRY, FORMATS)


@dataclass(frozen=True)
class Validator:
    """A schema two ways: `accepts` says fast whether an instance is valid; `jsonschema` walks
    the schema to say what is wrong with one that is not."""

    jsonschema: Draft202012Validator
    accepts: Check

    def iter_errors(self, instance: Any) -> Iterator[ValidationError]:
        return self.jsonschema.iter_errors(instance)


def validator_of(schema: dict[str, Any]) -> Validator:
    """A validator for `schema`, whose `ref()`s resolve into the document."""
    return Validator(Draft202012Validator(schema, registry=_REGISTRY, format_checker=FORMATS),
                     _COMPILER.compile(schema))


@cache
def validator(pointer: str) -> Validator:
    """A validator for the schema at `pointer` in the document (e.g. `/components/schemas/X`)."""
    return validator_of(ref(pointer))


def component(name: str) -> Validator:
    return validator(f"/components/schemas/{name}")


# -- validation errors as per-field items ----------------------------------------------------------

def _pointer(path: Iterable[str | int]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _branch_is_off(errors: list[ValidationError], depth: int) -> bool:
    """A oneOf/anyOf branch that does not apply at all: it fails on the type of the value itself
    or on a discriminating constant (`kind`, `type`) rather than on the content."""
    for error in errors:
        level = len(error.absolute_path) - depth
        if (error.validator == "type" and level == 0) or (
                error.validator in ("const", "enum") and level <= 1):
            return True
    return False


def _field_errors(error: ValidationError, prefix: str) -> Iterator[dict[str, str]]:
    where = prefix + _pointer(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator in ("additionalProperties", "unevaluatedProperties") \
            and isinstance(error.instance, dict):
        known = schema.get("properties", {})
        extra = [key for key in error.instance if key not in known]
        for key in extra or [""]:
            yield {"pointer": where + _pointer([key]) if key else where,
                   "detail": "Unknown field." if key else error.message}
    elif error.validator == "required" and isinstance(error.instance, dict):
        for key in error.validator_value:
            if key not in error.instance:
                yield {"pointer": where + _pointer([key]), "detail": "Required field."}
    elif error.validator in ("oneOf", "anyOf") and error.context:
        depth = len(error.absolute_path)
        branches: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.schema_path[0], []).append(sub)
        fitting = [errs for errs in branches.values() if not _branch_is_off(errs, depth)]
        if len(fitting) == 1:
            for sub in fitting[0]:
                yield from _field_errors(sub, prefix)
        else:
            yield {"pointer": where, "detail": _short(error.message)}
    else:
        yield {"pointer": where, "detail": _short(error.message)}


def _short(message: str) -> str:
    return message if len(message) <= 300 else message[:297] + "..."


def violations(instance: Any, schema: Validator, prefix: str = "") -> list[dict[str, str]]:
    """Per-field errors of `instance` (empty when valid), pointers prefixed with `prefix`."""
    if schema.accepts(instance):
        return []
    seen: dict[str, dict[str, str]] = {}
    for error in schema.iter_errors(instance):
        for item in _field_errors(error, prefix):
            seen.setdefault(item["pointer"], item)
    return sorted(seen.values(), key=lambda item: item["pointer"])


def check(instance: Any, schema: Validator) -> None:
    """Raise the 422 Problem for `instance` when it breaks `schema`."""
    errors = violations(instance, schema)
    if errors:
        detail = errors[0]["detail"] if len(errors) == 1 else f"{len(errors)} fields are invalid."
        if len(errors) == 1 and errors[0]["pointer"]:
            detail = f"{errors[0]['pointer']}: {detail}"
        raise Problem("validation-failed", detail, errors=errors)


def _bad_text(value: Any, path: list[str | int]) -> list[str | int] | None:
    """The path of the first string (or key) PostgreSQL could not store: NUL, lone surrogates."""
    if isinstance(value, str):
        if "\x00" in value:
            return path
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path
    elif isinstance(value, dict):
        for key, child in value.items():
            found = _bad_text(key, [*path, key]) or _bad_text(child, [*path, key])
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found = _bad_text(child, [*path, i])
            if found is not None:
                return found
    return None


# -- bodies ----------------------------------------------------------------------------------------

async def read_body(request: web.Request, limit: int = MAX_BODY) -> bytes:
    """The request body, decompressed when `Content-Encoding: gzip`, at most `limit` bytes after
    decompression (413 beyond; 415 for other content codings; 400 for broken gzip)."""
    coding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if coding not in ("gzip", "identity", ""):
        raise Problem("unsupported-media-type", f"Content-Encoding {coding!r} is not supported; "
                      "send gzip or no encoding.")
    too_large = Problem("payload-too-large", f"The body exceeds {limit} bytes (after "
                        "decompression).")
    # gzip of JSON is far smaller than the JSON; a compressed body the size of the limit is
    # already too large.
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    raw = bytearray()
    async for chunk in request.content.iter_chunked(65536):
        raw += chunk
        if len(raw) > limit:
            raise too_large
    if coding != "gzip":
        return bytes(raw)
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        body = inflater.decompress(bytes(raw), limit + 1)
        if len(body) > limit or inflater.unconsumed_tail:
            raise too_large
        body += inflater.flush()
    except zlib.error as exc:
        raise malformed(f"The body is not valid gzip: {exc}.", header="Content-Encoding") from exc
    if not inflater.eof:
        raise malformed("The gzip body is truncated.", header="Content-Encoding")
    if len(body) > limit:
        raise too_large
    return body


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text} is out of range")
    return value


_UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89abcdefABCDEF])")


def _may_hold_unstorable_text(body: bytes) -> bool:
    """Whether the JSON text `body` may give a string `_bad_text` refuses: only through a
    `\\u0000` or `\\uD800`-`\\uDFFF` escape (a raw NUL is no JSON), or when `body` is not strict
    UTF-8 (`json.loads` lets encoded surrogates through, and reads UTF-16 and UTF-32 too).
    Looking at the text is far faster than walking the parsed value."""
    if json.detect_encoding(body) != "utf-8" or _UNSTORABLE_ESCAPE.search(body):
        return True
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def parse_json(body: bytes) -> Any:
    """The body as JSON: 400 when it is not, 422 when it holds text no database can store."""
    if not body:
        raise Problem("malformed-request", "The body is empty; a JSON object is expected.")
    try:
        value = json.loads(body, parse_constant=_no_constant, parse_float=_finite)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise Problem("malformed-request", f"The body is not JSON: {exc}.") from exc
    bad = _bad_text(value, []) if _may_hold_unstorable_text(body) else None
    if bad is not None:
        pointer = _pointer(bad)
        raise Problem("validation-failed", f"{pointer or '/'}: NUL characters and unpaired "
                      "surrogates are not allowed.",
                      errors=[{"pointer": pointer, "detail": "Not storable text."}])
    return value


async def json_body(request: web.Request, schema_name: str) -> Any:
    """Read, parse and validate a request body against `components.schemas.<schema_name>`."""
    value = parse_json(await read_body(request))
    check(value, component(schema_name))
    return value


# -- parameters and headers ------------------------------------------------------------------------

@cache
def _query_parameters(operation_id: str) -> tuple[tuple[str, str, bool], ...]:
    """(name, pointer to its schema, required) of the operation's query parameters."""
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or operation.get("operationId") != operation_id:
                continue
            found = []
            for i, parameter in enumerate(operation.get("parameters", [])):
                pointer = f"/paths/{_pointer([path])[1:]}/{method}/parameters/{i}"
                if "$ref" in parameter:
                    pointer = parameter["$ref"].removeprefix("#")
                    parameter = at(pointer)
                if parameter["in"] == "query":
                    found.append((parameter["name"], pointer + "/schema",
                                  bool(parameter.get("required"))))
            return tuple(found)
    raise KeyError(operation_id)


def at(pointer: str) -> Any:
    """The node of the document at a JSON pointer."""
    node: Any = DOCUMENT
    for part in pointer.split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _schema_at(pointer: str) -> dict[str, Any]:
    node = at(pointer)
    while "$ref" in node:
        node = at(node["$ref"].removeprefix("#"))
    return node


def query(request: web.Request, operation_id: str) -> dict[str, Any]:
    """The operation's query parameters, checked against their schemas, defaults filled in."""
    values: dict[str, Any] = {}
    for name, pointer, required in _query_parameters(operation_id):
        schema = _schema_at(pointer)
        raw = request.query.getall(name, [])
        if len(raw) > 1:
            raise malformed(f"Parameter {name} is given more than once.", parameter=name)
        if not raw:
            if required:
                raise malformed(f"Parameter {name} is required.", parameter=name)
            if "default" in schema:
                values[name] = schema["default"]
            continue
        value: Any = raw[0]
        if schema.get("type") == "integer":
            if not re.fullmatch(r"[+-]?[0-9]{1,18}", value):
                raise malformed(f"Parameter {name}: not an integer: {value!r}.", parameter=name)
            value = int(value)
        errors = violations(value, validator(pointer))
        if errors or _bad_text(value, []) is not None:
            detail = errors[0]["detail"] if errors else "Not storable text."
            raise malformed(f"Parameter {name}: {detail}", parameter=name)
        values[name] = value
    return values


def idempotency_key(request: web.Request, *, required: bool) -> str | None:
    """The `Idempotency-Key` header, checked (400 when missing where required, or malformed)."""
    value = request.headers.get("Idempotency-Key")
    if value is None:
        if required:
            raise malformed("The Idempotency-Key header is required.", header="Idempotency-Key")
        return None
    if violations(value, component("IdempotencyKeyValue")):
        raise malformed("The Idempotency-Key header must be 8-255 visible ASCII characters.",
                        header="Idempotency-Key")
    return value
