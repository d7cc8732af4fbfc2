"""The reference cloud's compiled schema checks (`cloud/acceptor.py`) agree with jsonschema.

`cloud.schema.Validator.accepts` is a fast yes/no compiled from the document; jsonschema stays the
reference (and still explains every rejection).  For every schema of the document (components and
request/response bodies), instances generated from the schema and mutated copies of them must be
judged the same way by both.
"""

from __future__ import annotations

import copy
import random
import string
from collections.abc import Iterator
from typing import Any

import pytest

from cloud.schema import DOCUMENT, at, validator

SCALARS: list[Any] = [
    None, True, False, 0, 1, -1, 1.0, 1.5, 100, 101, "", "a", "x" * 70, "1.3", "ipp.2",
    "2025-07-01T12:00:00Z", "2025-07-01", "3e74e0ca-1082-40f5-8a08-7898c5353598", "not a uuid",
    [], {}, "known", "active", "completed", "received", "refused", "done", "failed", "identity",
    "supplies.level", "monitoring", 2**70, -0.0, 1e300]
STRINGS_BY_FORMAT = {
    "date-time": ["2025-07-01T12:00:00Z", "2025-07-01T12:00:00.5+09:00", "2025-13-01T00:00:00Z",
                  "2025-07-01 12:00:00"],
    "date": ["2025-07-01", "2025-02-30", "20250701"],
    "uuid": ["3e74e0ca-1082-40f5-8a08-7898c5353598", "3E74E0CA-1082-40F5-8A08-7898C5353598",
             "xyz"],
}
PATTERNED = ["1.3", "ipp.7", "pgw-abc", "jp", "eu-west", "monitoring", "a_b", "A", "1.",
             "0123456789"]


def resolve(node: Any) -> Any:
    while isinstance(node, dict) and set(node) - {"description"} == {"$ref"}:
        node = at(node["$ref"][1:])
    return node


class Generator:
    """Instances that roughly follow a schema (often valid, sometimes not)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def scalar(self) -> Any:
        return copy.deepcopy(self.rng.choice(SCALARS))

    def instance(self, node: Any, depth: int = 0) -> Any:
        node = resolve(node)
        rng = self.rng
        if depth > 8 or rng.random() < 0.03 or not isinstance(node, dict):
            return self.scalar()
        if "$ref" in node and rng.random() < 0.7:
            return self.instance(at(node["$ref"][1:]), depth + 1)
        for key in ("oneOf", "anyOf"):
            if key in node:
                return self.instance(rng.choice(node[key]), depth + 1)
        if "allOf" in node and rng.random() < 0.5:
            out: dict[str, Any] = {}
            for part in [*node["allOf"], {k: v for k, v in node.items() if k != "allOf"}]:
                value = self.instance(part, depth + 1)
                if isinstance(value, dict):
                    out.update(value)
            return out
        if "enum" in node:
            return copy.deepcopy(rng.choice(node["enum"]))
        if "const" in node:
            return copy.deepcopy(node["const"])
        kind = node.get("type")
        if isinstance(kind, list):
            kind = rng.choice(kind)
        if kind is None:
            kind = "object" if "properties" in node or "required" in node else (
                "array" if "items" in node else rng.choice(["string", "integer", "object"]))
        return self._typed(node, kind, depth)

    def _typed(self, node: dict[str, Any], kind: str, depth: int) -> Any:
        rng = self.rng
        if kind == "null":
            return None
        if kind == "boolean":
            return rng.random() < 0.5
        if kind in ("integer", "number"):
            low = node.get("minimum", -5)
            value = rng.randint(int(low), int(node.get("maximum", low + 1000)))
            return float(value) if rng.random() < 0.1 else value
        if kind == "string":
            if node.get("format") in STRINGS_BY_FORMAT:
                return rng.choice(STRINGS_BY_FORMAT[node["format"]])
            if "pattern" in node:
                return rng.choice(PATTERNED)
            size = rng.randint(node.get("minLength", 0), min(node.get("maxLength", 20), 40))
            return "".join(rng.choice(string.ascii_letters) for _ in range(size))
        if kind == "array":
            size = rng.randint(node.get("minItems", 0), min(node.get("maxItems", 4), 4))
            items = [self.instance(node.get("items", True), depth + 1) for _ in range(size)]
            if node.get("uniqueItems") and rng.random() < 0.7:
                items = [x for i, x in enumerate(items) if x not in items[:i]]
            return items
        out = {}
        for key, sub in node.get("properties", {}).items():
            if key in node.get("required", []) or rng.random() < 0.5:
                out[key] = self.instance(sub, depth + 1)
        if "propertyNames" in node and not node.get("properties"):
            names = resolve(node["propertyNames"]).get("enum", ["k"])
            for key in rng.sample(names, min(len(names), 3)):
                out[key] = self.instance(True, depth + 1)
        if rng.random() < 0.05:
            out["extra"] = 1
        return out

    def mutated(self, value: Any) -> Any:
        value = copy.deepcopy(value)
        paths = list(_paths(value))
        path = self.rng.choice(paths)
        if not path:
            return self.scalar()
        parent = value
        for key in path[:-1]:
            parent = parent[key]
        choice = self.rng.random()
        if choice < 0.75 and isinstance(parent, dict) and choice >= 0.5:
            del parent[path[-1]]
        elif choice >= 0.5 and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[path[-1]]))
        else:
            parent[path[-1]] = self.scalar()
        return value


def _paths(value: Any, path: tuple = ()) -> Iterator[tuple]:
    yield path
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from _paths(sub, (*path, key))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            yield from _paths(sub, (*path, index))


def _body_schemas(node: Any, pointer: str) -> Iterator[str]:
    if isinstance(node, dict):
        for key, sub in node.items():
            here = f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}"
            if key == "schema" and isinstance(sub, dict):
                yield here
            else:
                yield from _body_schemas(sub, here)
    elif isinstance(node, list):
        for index, sub in enumerate(node):
            yield from _body_schemas(sub, f"{pointer}/{index}")


POINTERS = [f"/components/schemas/{name}" for name in DOCUMENT["components"]["schemas"]]
POINTERS += list(_body_schemas(DOCUMENT["paths"], "/paths"))


@pytest.mark.parametrize("seed", [1, 2])
def test_compiled_checks_agree_with_jsonschema_on_every_schema(seed: int) -> None:
    generator = Generator(seed)
    disagreements = []
    judged = {True: 0, False: 0}
    for pointer in POINTERS:
        checks = validator(pointer)
        schema = at(pointer)
        for _ in range(25):
            instance = generator.instance(schema)
            for candidate in [instance, *(generator.mutated(instance) for _ in range(3))]:
                expected = checks.jsonschema.is_valid(candidate)
                judged[expected] += 1
                if checks.accepts(candidate) != expected:
                    disagreements.append((pointer, expected, candidate))
    assert not disagreements, disagreements[:5]
    assert min(judged.values()) > 1000, judged  # both valid and invalid instances were judged
