"""JSON Schemas of the document compiled into Python closures that only say *valid or not*.

`jsonschema` walks the schema anew for every instance (a validator object per subschema, each
`$ref` looked up again): about 3 ms for one status entry, most of the cloud's ingest time.  The
closures built here answer the same question in a few percent of that, so `cloud.schema` asks
them first and walks the schema with `jsonschema` only for an instance they reject, to say what
is wrong.

The answer is exact, not an approximation: every keyword is evaluated as `jsonschema`'s Draft
2020-12 validator (with the same format checker) evaluates it, because `not`, `oneOf` and `if`
turn any error into the opposite one.  Keywords that are not implemented here make their schema
object, and only it, fall back to `jsonschema`; keywords `jsonschema` does not know are ignored
by both.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from numbers import Number
from typing import Any
from urllib.parse import unquote

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry

Check = Callable[[Any], bool]

FALLBACK = frozenset({
    "$dynamicRef", "contains", "dependentRequired", "dependentSchemas", "multipleOf",
    "patternProperties", "prefixItems", "unevaluatedItems", "unevaluatedProperties",
    "$id", "$anchor", "$dynamicAnchor", "$schema"})
"""Keywords left to `jsonschema` (absent from the document but for one `unevaluatedProperties`,
in `CommandRequest`), and those that would change how `$ref`s resolve."""

_PYTHON_TYPES: dict[str, type] = {"array": list, "boolean": bool, "null": type(None),
                                  "object": dict, "string": str}


def _always(_: Any) -> bool:
    return True


def _never(_: Any) -> bool:
    return False


def _every(checks: Sequence[Check]) -> Check:
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda instance: first(instance) and second(instance)

    def every(instance: Any) -> bool:
        for check in checks:  # noqa: SIM110 (all() would build a generator per call)
            if not check(instance):
                return False
        return True

    return every


def _is_number(instance: Any) -> bool:
    kind = type(instance)
    if kind is int or kind is float:
        return True
    return isinstance(instance, Number) and not isinstance(instance, bool)


def _type(names: list[str]) -> Check:
    """Draft 2020-12 types: bool is no number, and 1.0 is an integer."""
    simple = tuple(_PYTHON_TYPES[name] for name in names if name in _PYTHON_TYPES)
    number, integer = "number" in names, "integer" in names
    if not (number or integer):
        return lambda instance: isinstance(instance, simple)

    def check(instance: Any) -> bool:
        if isinstance(instance, simple):
            return True
        if isinstance(instance, bool):
            return False
        if number:
            return isinstance(instance, Number)
        return isinstance(instance, int) or (isinstance(instance, float)
                                             and instance.is_integer())

    return check


class Compiler:
    """Compiles schemas whose `$ref`s point into `document` (as `base_uri#pointer`, or `#pointer`
    inside the document); each subschema of the document is compiled once, whoever refers to it.
    """

    def __init__(self, document: Any, base_uri: str, registry: Registry,
                 formats: FormatChecker) -> None:
        self.document = document
        self.base_uri = base_uri
        self.registry = registry
        self.formats = formats
        self._compiled: dict[str, Check] = {}

    def compile(self, schema: Any) -> Check:
        """`schema` (built in code; refers to the document with absolute `$ref`s only)."""
        return self._node(schema, None)

    # -- fallback ------------------------------------------------------------------------------

    def _jsonschema(self, schema: Any) -> Check:
        return Draft202012Validator(schema, registry=self.registry,
                                    format_checker=self.formats).is_valid

    def _fallback(self, node: Any, pointer: str | None) -> Check:
        if pointer is None:
            return self._jsonschema(node)
        return self._jsonschema({"$ref": f"{self.base_uri}#{pointer}"})

    # -- references ----------------------------------------------------------------------------

    def _target(self, ref: str, pointer: str | None) -> str:
        """The document pointer a `$ref` names."""
        if ref.startswith(self.base_uri + "#"):
            fragment = ref[len(self.base_uri) + 1:]
        elif ref.startswith("#") and pointer is not None:
            fragment = ref[1:]
        else:
            raise ValueError(f"{ref!r}: schemas built in code must refer to the document by "
                             f"its absolute URI")
        return unquote(fragment)

    def _at(self, pointer: str) -> Check:
        check = self._compiled.get(pointer)
        if check is not None:
            return check
        # A reference cycle reaches this pointer again before it is compiled: forward to it.
        cell: list[Check] = []
        self._compiled[pointer] = lambda instance: cell[0](instance)
        node: Any = self.document
        for part in pointer.split("/")[1:]:
            part = part.replace("~1", "/").replace("~0", "~")
            node = node[int(part)] if isinstance(node, list) else node[part]
        cell.append(self._node(node, pointer))
        self._compiled[pointer] = cell[0]
        return cell[0]

    def _sub(self, node: Any, pointer: str | None, *path: str | int) -> Check:
        if pointer is None:
            return self._node(node, None)
        return self._node(node, pointer + "".join(
            "/" + str(p).replace("~", "~0").replace("/", "~1") for p in path))

    # -- schema objects ------------------------------------------------------------------------

    def _node(self, node: Any, pointer: str | None) -> Check:
        if node is True:
            return _always
        if node is False:
            return _never
        if not isinstance(node, dict):
            return self._fallback(node, pointer)
        if FALLBACK.intersection(node) or any(
                name not in _PYTHON_TYPES and name not in ("number", "integer")
                for name in _as_list(node.get("type", []))):
            return self._fallback(node, pointer)
        # With one type of these, its keywords' check also refuses other types: one call less.
        only = node.get("type") if node.get("type") in ("string", "object", "array") else None
        kinds = {"string": self._string(node, only == "string"),
                 "object": self._object(node, pointer, only == "object"),
                 "array": self._array(node, pointer, only == "array")}
        checks: list[Check] = []
        if "type" in node and kinds.get(only) is None:
            checks.append(_type(_as_list(node["type"])))
        if "enum" in node:
            checks.append(self._enum(node["enum"]))
        if "const" in node:
            checks.append(self._enum([node["const"]]))
        checks += [check for check in kinds.values() if check is not None]
        conforms = None if only == "string" else self._format(node)
        if conforms is not None:
            checks.append(conforms)
        checks += self._bounds(node)
        checks += self._applicators(node, pointer)
        return _every(checks)

    def _enum(self, members: list[Any]) -> Check:
        """Strings and null compared here; other values by `jsonschema`'s equality (1 == 1.0,
        True != 1, containers member by member)."""
        strings = frozenset(m for m in members if isinstance(m, str))
        has_null = any(m is None for m in members)
        slow = self._jsonschema({"enum": members})

        def check(instance: Any) -> bool:
            if isinstance(instance, str):
                return instance in strings
            if instance is None:
                return has_null
            return slow(instance)

        return check

    def _format(self, node: dict[str, Any]) -> Check | None:
        """As `FormatChecker.check` with the checkers registered by now; None when there is no
        format or no checker for it (then it is only an annotation)."""
        if node.get("format") not in self.formats.checkers:
            return None
        function, raises = self.formats.checkers[node["format"]]

        def conforms(instance: Any) -> bool:
            try:
                return bool(function(instance))
            except raises:
                return False

        return conforms

    @staticmethod
    def _bounds(node: dict[str, Any]) -> list[Check]:
        # Written as jsonschema writes them (`instance < minimum` is the error), for NaN too.
        bounds = [(node[k], op) for k, op in (
            ("minimum", lambda x, b: not x < b), ("maximum", lambda x, b: not x > b),
            ("exclusiveMinimum", lambda x, b: not x <= b),
            ("exclusiveMaximum", lambda x, b: not x >= b)) if k in node]
        if not bounds:
            return []

        def in_bounds(instance: Any) -> bool:
            if not _is_number(instance):
                return True
            for bound, op in bounds:  # noqa: SIM110 (all() would build a generator per call)
                if not op(instance, bound):
                    return False
            return True

        return [in_bounds]

    def _string(self, node: dict[str, Any], only: bool) -> Check | None:
        """minLength, maxLength, pattern; and format when the type is only string."""
        shortest, longest = node.get("minLength", 0), node.get("maxLength")
        search = re.compile(node["pattern"]).search if "pattern" in node else None
        conforms = self._format(node) if only else None
        if not (shortest or longest is not None or search is not None or conforms is not None):
            return None

        def check(instance: Any) -> bool:
            if not isinstance(instance, str):
                return not only
            if len(instance) < shortest or (longest is not None and len(instance) > longest):
                return False
            if search is not None and search(instance) is None:
                return False
            return conforms is None or conforms(instance)

        return check

    def _object(self, node: dict[str, Any], pointer: str | None, only: bool) -> Check | None:
        keywords = ("properties", "additionalProperties", "required", "propertyNames",
                    "minProperties", "maxProperties")
        if not any(k in node for k in keywords):
            return None
        properties = {name: self._sub(sub, pointer, "properties", name)
                      for name, sub in node.get("properties", {}).items()}
        additional = node.get("additionalProperties", True)
        extra = None if additional is True else self._sub(additional, pointer,
                                                          "additionalProperties")
        names = self._sub(node["propertyNames"], pointer, "propertyNames") \
            if "propertyNames" in node else None
        required = tuple(node.get("required", ()))
        fewest, most = node.get("minProperties", 0), node.get("maxProperties")

        def check(instance: Any) -> bool:
            if not isinstance(instance, dict):
                return not only
            if len(instance) < fewest or (most is not None and len(instance) > most):
                return False
            for name in required:
                if name not in instance:
                    return False
            for name, value in instance.items():
                sub = properties.get(name, extra)
                if sub is not None and not sub(value):
                    return False
                if names is not None and not names(name):
                    return False
            return True

        return check

    def _array(self, node: dict[str, Any], pointer: str | None, only: bool) -> Check | None:
        if not any(k in node for k in ("items", "minItems", "maxItems", "uniqueItems")):
            return None
        items = self._sub(node["items"], pointer, "items") if "items" in node else None
        fewest, most = node.get("minItems", 0), node.get("maxItems")
        unique = self._jsonschema({"uniqueItems": True}) if node.get("uniqueItems") else None

        def check(instance: Any) -> bool:
            if not isinstance(instance, list):
                return not only
            if len(instance) < fewest or (most is not None and len(instance) > most):
                return False
            if items is not None:
                for value in instance:
                    if not items(value):
                        return False
            if unique is None:
                return True
            if all(isinstance(value, str) for value in instance):
                return len(set(instance)) == len(instance)
            return unique(instance)

        return check

    def _applicators(self, node: dict[str, Any], pointer: str | None) -> list[Check]:
        checks: list[Check] = []
        if "$ref" in node:
            checks.append(self._at(self._target(node["$ref"], pointer)))
        if "allOf" in node:
            checks.append(_every([self._sub(s, pointer, "allOf", i)
                                  for i, s in enumerate(node["allOf"])]))
        if "anyOf" in node:
            branches = [self._sub(s, pointer, "anyOf", i) for i, s in enumerate(node["anyOf"])]
            checks.append(lambda instance: any(b(instance) for b in branches))
        if "oneOf" in node:
            checks.append(_one_of([self._sub(s, pointer, "oneOf", i)
                                   for i, s in enumerate(node["oneOf"])]))
        if "not" in node:
            negated = self._sub(node["not"], pointer, "not")
            checks.append(lambda instance: not negated(instance))
        if "if" in node:
            condition = self._sub(node["if"], pointer, "if")
            then = self._sub(node["then"], pointer, "then") if "then" in node else _always
            otherwise = self._sub(node["else"], pointer, "else") if "else" in node else _always
            checks.append(lambda instance: then(instance) if condition(instance)
                          else otherwise(instance))
        return checks


def _one_of(branches: list[Check]) -> Check:
    def check(instance: Any) -> bool:
        found = False
        for branch in branches:
            if branch(instance):
                if found:
                    return False
                found = True
        return found

    return check


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
