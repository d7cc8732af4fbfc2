"""The cloud protocol document (`protocols/cloud/openapi.yaml`): valid OpenAPI 3.1, one operation
per step of SPEC §6, the data type catalogue, examples that obey their schemas, problem details on
every error answer."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from openapi_spec_validator import validate as validate_openapi
from openapi_spec_validator.validation import OpenAPIV31SpecValidator

from gateway.device.model import Alert, Contract, Counters, DeviceStatus, Identity, State, Supply
from gateway.device.supply_forecast import SupplyForecast
from protocols.cloud import DATA_TYPES, load_schema
from tests.support.cloud_document import (
    DOC,
    OPERATIONS,
    at,
    deref,
    operations,
    pointer,
    schema_validator,
    validator_for,
)

STEPS = {
    "S0601-S0602 connection destination": ["resolveConnectionDestination"],
    "gateway enrolment": ["enrolGateway"],
    "S0603-S0604 device registration": ["registerPrinter"],
    "S0605-S0606 application information": ["getApplicationInformation"],
    "S0607-S0608 activation notice and result": ["notifyActivation"],
    "S0609-S0610 device control information": ["getDeviceControlInformation"],
    "S0611 control information result": ["reportTransmissionDataTypes"],
    "status upload in batches": ["uploadStatuses"],
    "FIG. 8 push channel": ["openPushChannel"],
    "polling fall-back": ["pollChanges", "listPendingCommands"],
    "§7 command acknowledgements": ["acknowledgeCommand"],
    "operator: enrolment token": ["createEnrolmentToken"],
    "operator: contracts": ["createApplication", "suspendApplication", "resumeApplication",
                            "cancelApplication", "putService", "listServices"],
    "operator: what a device sent, activation states": ["listReceivedStatuses", "getPrinter",
                                                         "listPrinters"],
    "operator: contract-mode commands": ["createCommand", "getCommand"],
}

CATALOGUE = ("identity", "supplies.level", "supplies.kind", "supplies.color", "supplies.model",
             "supplies.cartridge", "supplies.forecast", "counters.total", "counters.color",
             "counters.function", "counters.media",  # issue 17: meters
             "counters.contract", "state", "alerts", "contract")


# -- helpers ---------------------------------------------------------------------------------------

_NOT_SCHEMAS = {"examples", "example", "enum", "const", "default", "discriminator",
                "x-enum-descriptions", "x-problem-types"}


def _examples() -> Iterator[tuple[str, str, Any]]:
    """(where, schema pointer, instance) for every example in the document."""

    def in_schema(node: Any, where: str) -> Iterator[tuple[str, str, Any]]:
        if isinstance(node, dict):
            for i, example in enumerate(node.get("examples", []) if isinstance(
                    node.get("examples"), list) else []):
                yield f"{where}/examples/{i}", where, example
            for key, child in node.items():
                if key not in _NOT_SCHEMAS:
                    yield from in_schema(child, where + pointer(key))
        elif isinstance(node, list):
            for i, child in enumerate(node):
                yield from in_schema(child, where + pointer(i))

    def walk(node: Any, where: str) -> Iterator[tuple[str, str, Any]]:
        if isinstance(node, list):
            for i, child in enumerate(node):
                yield from walk(child, where + pointer(i))
            return
        if not isinstance(node, dict):
            return
        if "schema" in node and isinstance(node["schema"], dict):
            schema = where + "/schema"
            if "example" in node:
                yield where + "/example", schema, node["example"]
            for name, example in (node.get("examples") or {}).items():
                yield f"{where}/examples/{name}", schema, deref(example)["value"]
            yield from in_schema(node["schema"], schema)
        for key, child in node.items():
            if key == "schema" or (key == "examples" and "schema" in node):
                continue
            if where == "/components" and key == "schemas":
                yield from in_schema(child, "/components/schemas")
            else:
                yield from walk(child, where + pointer(key))

    yield from walk(DOC, "")


EXAMPLES = list(_examples())


# -- the document ----------------------------------------------------------------------------------

def test_the_document_is_valid_openapi_3_1() -> None:
    assert DOC["openapi"].startswith("3.1.")
    validate_openapi(DOC, cls=OpenAPIV31SpecValidator)


def test_the_document_is_plain_json_data() -> None:
    """YAML must not have turned a date into a `date`, a response code into an int, `NO` into
    False behind our back: the loaded document survives a JSON round trip unchanged."""
    assert json.loads(json.dumps(DOC)) == DOC

    def keys(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, child in node.items():
                assert isinstance(key, str), f"{where}: key {key!r} is not a string"
                keys(child, f"{where}/{key}")
        elif isinstance(node, list):
            for i, child in enumerate(node):
                keys(child, f"{where}/{i}")

    keys(DOC, "")


def test_load_schema_returns_a_copy() -> None:
    first = load_schema()
    first["paths"].clear()
    assert load_schema()["paths"]


def test_every_step_of_spec_6_has_an_operation() -> None:
    ids = [op["operationId"] for _, _, op in operations()]
    assert len(ids) == len(set(ids)), "operationIds must be unique"
    missing = {step: [i for i in wanted if i not in ids] for step, wanted in STEPS.items()}
    assert not {step: m for step, m in missing.items() if m}
    assert all(path.startswith("/v1/") for path in DOC["paths"])


def test_operator_operations_and_only_they_use_the_operator_scheme() -> None:
    default = DOC["security"]
    for operation_id, (_, _, op) in OPERATIONS.items():
        security = op.get("security", default)
        if "operator" in op["tags"]:
            assert security == [{"operatorBearer": []}], operation_id
        elif operation_id in ("resolveConnectionDestination", "enrolGateway"):
            assert security == [], operation_id
        else:
            assert security == [{"gatewayBearer": []}], operation_id


# -- the data type catalogue -----------------------------------------------------------------------

def test_the_data_type_catalogue() -> None:
    assert DATA_TYPES == CATALOGUE
    data_type = DOC["components"]["schemas"]["DataType"]
    assert tuple(data_type["enum"]) == DATA_TYPES
    assert set(data_type["x-enum-descriptions"]) == set(DATA_TYPES)
    assert all(len(text) > 20 for text in data_type["x-enum-descriptions"].values())
    data = DOC["components"]["schemas"]["DeviceStatusData"]
    assert set(data["properties"]) == set(DATA_TYPES), "one value schema per data type"


def _value_fields(data_type: str) -> set[str]:
    schema = deref(DOC["components"]["schemas"]["DeviceStatusData"]["properties"][data_type])
    if schema.get("type") == "array":
        schema = deref(schema["items"])
    return set(schema["properties"])


def test_value_field_names_are_those_of_device_status_to_json() -> None:
    status = DeviceStatus(host="192.0.2.1", supplies=[Supply(index="1.1")],
                          state=State(alerts=[Alert(index="1")]))
    document = status.to_json()
    supply = document["supplies"][0]
    assert _value_fields("identity") == set(document["identity"]) == {
        f.name for f in dataclasses.fields(Identity)}
    for data_type in ("supplies.level", "supplies.kind", "supplies.color", "supplies.model"):
        assert _value_fields(data_type) <= set(supply), data_type
    cartridge = _value_fields("supplies.cartridge") - {"index"}
    if any(key.startswith("cartridge") for key in supply):
        assert cartridge <= set(supply), "the model's cartridge fields must be named as here"
    counters = {f.name for f in dataclasses.fields(Counters)}
    meters = [t for t in DATA_TYPES if t.startswith("counters.")]
    for data_type in meters:  # each counter and the `sources` of those (issue 17)
        assert _value_fields(data_type) - {"sources"} <= counters, data_type
    assert set().union(*(_value_fields(t) for t in meters)) - {"sources"} == counters, \
        "every counter belongs to a data type"
    assert _value_fields("state") - {"reachable"} | {"alerts"} == set(document["state"])
    assert _value_fields("alerts") == set(document["state"]["alerts"][0])
    assert _value_fields("contract") == {f.name for f in dataclasses.fields(Contract)}


def test_a_full_device_status_projects_onto_the_value_schemas() -> None:
    """Each data type's value, cut out of `to_json()`, is valid as it is."""
    status = DeviceStatus(
        host="192.0.2.1",
        identity=Identity(serial="CNB7K12345", manufacturer="HP", model="M479fdw"),
        supplies=[Supply(index="1.1", kind="toner", color="black", part_number="W2030A",
                         level_percent=40, level_state="known", raw_level=4000,
                         max_capacity=10000, unit="impressions", supply_class="consumed")],
        counters=Counters(total=1200, color=400, mono=800),
        state=State(printer_state="idle", alerts=[Alert(index="1", severity="warning")]),
        contract=Contract(supported=True, mode="non-contract", printing_prohibited=False))
    status.reachable = {"snmp": True, "ipp": False}
    doc = status.to_json()

    def pick(source: dict[str, Any], data_type: str) -> dict[str, Any]:
        return {key: source[key] for key in _value_fields(data_type) - {"sources"}}

    data = {
        "identity": doc["identity"],
        "counters.total": pick(doc["counters"], "counters.total"),
        "counters.color": pick(doc["counters"], "counters.color"),
        "counters.contract": pick(doc["counters"], "counters.contract"),
        "state": {**{k: doc["state"][k] for k in _value_fields("state") - {"reachable"}},
                  "reachable": doc["reachable"]},
        "alerts": doc["state"]["alerts"],
        "contract": doc["contract"],
    }
    for data_type in ("supplies.level", "supplies.kind", "supplies.color", "supplies.model"):
        data[data_type] = [pick(s, data_type) for s in doc["supplies"]]
    data["supplies.cartridge"] = [{"index": "1.1", "cartridge_type": "contract",
                                   "cartridge_id": "C-1", "cartridge_new": False}]
    forecasts = [SupplyForecast("1.1", 23.4, 4100, date(2026, 3, 1), "high", "per-page", 120,
                                9.5), SupplyForecast("1.2", reason="no consumption yet")]
    data["supplies.forecast"] = [f.to_json() for f in forecasts]
    assert _value_fields("supplies.forecast") == set(data["supplies.forecast"][0])
    for data_type in ("counters.function", "counters.media"):  # issue 17
        data[data_type] = {**pick(doc["counters"], data_type), "sources": {}}
    data["counters.color"]["sources"] = {"color": "snmp:Sharp:1.3.6.1.4.1.2385.1.1.19.2.1.3.5.4.63"}
    errors = list(schema_validator("DeviceStatusData").iter_errors(data))
    assert not errors, [f"{e.json_path}: {e.message}" for e in errors]


# -- examples --------------------------------------------------------------------------------------

def test_the_main_requests_and_responses_have_examples() -> None:
    with_request_example = {
        op["operationId"] for _, _, op in operations()
        if any("examples" in media or "example" in media
               for media in op.get("requestBody", {}).get("content", {}).values())}
    bodies = {op["operationId"] for _, _, op in operations() if "requestBody" in op}
    assert bodies <= with_request_example
    assert len(EXAMPLES) >= 50


@pytest.mark.parametrize(("where", "schema", "example"), EXAMPLES,
                         ids=[where for where, _, _ in EXAMPLES])
def test_every_example_obeys_its_schema(where: str, schema: str, example: Any) -> None:
    errors = list(validator_for(schema).iter_errors(example))
    assert not errors, [f"{e.json_path}: {e.message}" for e in errors]


def test_the_validation_is_not_vacuous() -> None:
    """What the schemas must refuse, they refuse (so the example test means something)."""
    batch = deref(OPERATIONS["uploadStatuses"][2]["requestBody"]["content"][
        "application/json"]["examples"]["two-entries"])["value"]
    entries = schema_validator("StatusBatch")
    assert entries.is_valid(batch)
    bad = json.loads(json.dumps(batch))
    bad["statuses"][0]["data"]["supplies.level"][0]["level_percent"] = 150
    assert not entries.is_valid(bad)
    bad = json.loads(json.dumps(batch))
    bad["statuses"][0]["data"]["toner"] = []
    assert not entries.is_valid(bad), "unknown data type"
    bad = json.loads(json.dumps(batch))
    bad["statuses"][0]["colour"] = "black"
    assert not entries.is_valid(bad), "requests are closed"
    bad = json.loads(json.dumps(batch))
    bad["statuses"][0]["read_at"] = "yesterday"
    assert not entries.is_valid(bad), "formats are checked"
    bad = json.loads(json.dumps(batch))
    bad["statuses"][0]["data"]["supplies.color"][0].pop("color")
    assert not entries.is_valid(bad), "value objects carry every key"

    ack = schema_validator("CommandAcknowledgement")
    printer = "9b2e4c71-0f3d-4a8e-b6c5-1d7a2e9f4b30"
    moment = "2025-07-01T12:00:05Z"
    assert not ack.is_valid({"printer_id": printer, "stage": "completed", "at": moment})
    assert not ack.is_valid({"printer_id": printer, "stage": "completed", "result": "failed",
                             "at": moment, "contract_state": {"supported": False, "mode": None,
                                                          "printing_prohibited": None,
                                                          "panel_message": None}})
    assert not ack.is_valid({"printer_id": printer, "stage": "received", "result": "done",
                             "at": moment})

    command = schema_validator("CommandRequest")
    assert command.is_valid({"kind": "withdrawal"})
    assert not command.is_valid({"kind": "panel-message"}), "a panel message needs its text"
    assert not command.is_valid({"kind": "withdrawal", "parameters": {"mode": "x"}})
    assert not command.is_valid({"kind": "billing-start", "priority": 1})

    application = schema_validator("Application")
    cancelled = deref(OPERATIONS["getApplicationInformation"][2]["responses"]["200"]["content"][
        "application/json"]["examples"]["two-services"])["value"]["applications"][1]
    assert cancelled["application_id"] is None and application.is_valid(cancelled)
    assert not application.is_valid({**cancelled, "application_id": ""})


# -- errors ----------------------------------------------------------------------------------------

PROBLEM = {"$ref": "#/components/schemas/Problem"}


@pytest.mark.parametrize("operation_id", sorted(OPERATIONS))
def test_every_error_answer_is_a_problem_document(operation_id: str) -> None:
    path, method, op = OPERATIONS[operation_id]
    responses = op["responses"]
    for code, response in responses.items():
        if code[0] in "45":
            content = deref(response).get("content", {})
            assert list(content) == ["application/problem+json"], (operation_id, code)
            assert content["application/problem+json"]["schema"] == PROBLEM, (operation_id, code)
    assert "429" in responses and "5XX" in responses, operation_id
    assert "Retry-After" in deref(responses["429"])["headers"]
    if op.get("security", DOC["security"]):
        assert {"401", "403"} <= set(responses), operation_id
    if "{" in path and not (method == "put" and path.endswith("}")):  # PUT here creates
        assert "404" in responses, operation_id
    if "requestBody" in op:
        assert {"400", "413", "422"} <= set(responses), operation_id
    if any(deref(p)["in"] == "query" for p in op.get("parameters", [])):
        assert "400" in responses, operation_id


def test_problem_examples_use_the_documented_types() -> None:
    problem = DOC["components"]["schemas"]["Problem"]
    types = problem["x-problem-types"]
    seen = 0
    for _, schema, example in EXAMPLES:
        if at(schema) == PROBLEM:
            name = example["type"].rsplit("/", 1)[-1]
            assert types.get(name) == example["status"], example
            seen += 1
    assert seen >= 3


# -- push channel ----------------------------------------------------------------------------------

def test_push_messages_are_documented() -> None:
    messages = DOC["components"]["x-websocket-messages"]
    refs = [m["$ref"] for m in messages["server-to-gateway"]]
    schemas = DOC["components"]["schemas"]
    assert refs == [m["$ref"] for m in schemas["PushMessage"]["oneOf"]]
    assert set(schemas["PushMessage"]["discriminator"]["mapping"].values()) == set(refs)
    changes = [m["$ref"] for m in schemas["ChangeEvent"]["oneOf"]]
    assert set(changes) == set(refs) - {"#/components/schemas/PushHello"}
    for ref in refs:
        assert deref({"$ref": ref})["examples"], ref
    push = OPERATIONS["openPushChannel"][2]
    assert push["x-websocket"]["server-to-gateway"] == {"$ref": "#/components/schemas/PushMessage"}
    assert "101" in push["responses"]
