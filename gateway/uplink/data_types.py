"""The device-status data types: what of a reading the cloud gets, and what a device cannot give.

`project()` cuts a `DeviceStatus` (its `to_json()` document) into the cloud document's
`DeviceStatusData`: one key per requested data type, each value shaped as its schema
(`IdentityValue`, a list of `SupplyLevel`, …, `ContractState`) with every key present and null
where the device did not tell.
The field names of each value are read from the document (`protocols/cloud/openapi.yaml`), which
names them as `to_json()` does; only where each value comes from is written here.

`available()` says which data types a device cannot provide, and why, for the `unavailable` list
of the S0611 report (`reportTransmissionDataTypes`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gateway.device.model import DeviceStatus
from protocols.cloud import DATA_TYPES, load_schema

_SECTION = {
    "identity": "identity",
    "counters.total": "counters",
    "counters.color": "counters",
    "counters.function": "counters",
    "counters.media": "counters",
    "counters.contract": "counters",
    "state": "state",
    "contract": "contract",
}
"""Data types whose value is one object, and the `to_json()` section it is cut from."""
_PER_SUPPLY = frozenset(t for t in DATA_TYPES if t.startswith("supplies."))
_LISTS = {"alerts": ("state", "alerts"), **{t: ("supplies",) for t in _PER_SUPPLY}}
"""Data types whose value is a list of objects, and where the list is in `to_json()`."""
_LISTS["supplies.forecast"] = ("forecasts",)  # computed per supply: `DeviceStatus.forecasts`


def _value_fields() -> dict[str, tuple[str, ...]]:
    """Each data type's value keys, from `DeviceStatusData` in the cloud document."""
    schemas = load_schema()["components"]["schemas"]

    def resolve(schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
        return schema

    fields = {}
    for data_type, schema in schemas["DeviceStatusData"]["properties"].items():
        schema = resolve(schema)
        if schema.get("type") == "array":
            schema = resolve(schema["items"])
        fields[data_type] = tuple(schema["properties"])  # optional keys too (`sources`)
    return fields


FIELDS: dict[str, tuple[str, ...]] = _value_fields()
"""Data type → the keys of its value (of each list item for the per-supply types and alerts)."""


def project(status: DeviceStatus, data_types: Iterable[str]) -> dict[str, Any]:
    """The `DeviceStatusData` of a reading for the requested data types (catalogue order).

    Raises ValueError for a name that is not a data type of the catalogue.
    """
    wanted = set(data_types)
    unknown = wanted - set(DATA_TYPES)
    if unknown:
        raise ValueError(f"not data types of the catalogue: {', '.join(sorted(unknown))}")
    document = status.to_json()
    document["state"]["reachable"] = document["reachable"]  # `StateValue` says who answered
    return {data_type: _value(document, data_type) for data_type in DATA_TYPES
            if data_type in wanted}


def _value(document: dict[str, Any], data_type: str) -> Any:
    fields = FIELDS[data_type]
    if data_type in _LISTS:
        items: Any = document
        for key in _LISTS[data_type]:
            items = items[key]
        return [_pick(item, fields) for item in items]
    if data_type in _COUNTER_GROUPS:
        return _with_sources(_pick(document["counters"], fields), document["sources"])
    return _pick(document[_SECTION[data_type]], fields)


def _pick(source: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {key: source.get(key) for key in fields}


# -- counters (issue 17, docs/meters.md) -------------------------------------------------------

def _with_sources(value: dict[str, Any], sources: dict[str, str]) -> dict[str, Any]:
    """A `counters.*` value with its `sources`: where each counter that has a value came from
    (`DeviceStatus.sources["counters.NAME"]`; a withheld counter has none)."""
    counts = [name for name, count in value.items() if name != "sources" and count is not None]
    value["sources"] = {name: sources[f"counters.{name}"] for name in counts
                        if f"counters.{name}" in sources}
    return value


_COUNTER_GROUPS = {
    "counters.total": ("total",), "counters.color": ("color", "mono", "two_color"),
    "counters.function": ("print", "copy", "fax", "scan"),
    "counters.media": ("large", "small", "duplex"),
    "counters.contract": ("contract", "cartridge_replacements")}
_COUNTER_WHAT = {
    "counters.total": "total impression counter",
    "counters.color": "colour, monochrome or two-colour page counters",
    "counters.function": "print, copy, fax or scan counters",
    "counters.media": "large-media, small-media or duplex counters"}


def _counters_available(status: DeviceStatus) -> dict[str, str | None]:
    """Why each meter type cannot be given: the device reports none of its counters (or the
    protocols that would did not answer this time).  A counter withheld as implausible
    (`gateway.uplink.plausibility`) is still reported by the device: its source is kept."""
    answered = any(status.reachable.values())
    reasons: dict[str, str | None] = {}
    for data_type, what in _COUNTER_WHAT.items():
        names = _COUNTER_GROUPS[data_type]
        if any(getattr(status.counters, name) is not None or f"counters.{name}" in status.sources
               for name in names):
            reasons[data_type] = None
        elif not answered and status.reachable:
            reasons[data_type] = f"the device did not answer: no {what} read this time"
        else:
            reasons[data_type] = f"the device reports no {what}"
    return reasons


def available(status: DeviceStatus) -> dict[str, str | None]:
    """For every data type, None when this device provides it, else why it cannot (one line).

    Judged on one reading: a type whose source did not answer this time (SNMP down) says so, and
    may be available at the next synchronisation.
    """
    snmp = status.reachable.get("snmp")
    supplies = status.supplies
    if status.contract.supported:
        no_contract_mib = None
    elif snmp:
        no_contract_mib = ("the device does not implement the contract MIB "
                           "(PRINTGW-CONTRACT-MIB): contract unsupported")
    elif snmp is None:
        no_contract_mib = "the contract MIB is read over SNMP, which is not used for this device"
    else:
        no_contract_mib = "the contract MIB is read over SNMP, which did not answer"
    no_supplies = None if supplies else "the device reports no supplies"
    reasons: dict[str, str | None] = {data_type: None for data_type in DATA_TYPES}
    reasons.update({
        "supplies.level": no_supplies,
        "supplies.kind": no_supplies,
        "supplies.color": no_supplies,
        "supplies.model": no_supplies or (
            None if any(s.part_number for s in supplies)
            else "the device reports no part numbers for its supplies"),
        "supplies.forecast": no_supplies,
        "supplies.cartridge": no_supplies or no_contract_mib or (
            None if any(s.cartridge_type or s.cartridge_id for s in supplies)
            else "the device reports no cartridge type or ID for its supplies"),
        **_counters_available(status),
        "counters.contract": no_contract_mib,
        "contract": no_contract_mib,
    })
    return reasons
