"""Malformed SNMP values (wrong types, huge, negative, empty, garbage bytes) fed into the mapping:
no exception escapes, the rest of the reading survives, and the problem is reported."""

from __future__ import annotations

import asyncio
import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.device.model import DeviceStatus
from gateway.device.snmp_mapping import apply_snmp
from protocols.snmp import oids
from protocols.snmp.client import SnmpClient
from protocols.snmp.model import SnmpCredentials, SnmpTarget
from protocols.snmp.printer import PrinterReading, read_printer

GARBAGE = st.one_of(
    st.none(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, -2, -3, -4, 2**31 - 1, 2**32, 2**64 - 1, -(2**31)]),
    st.binary(max_size=300),
    st.sampled_from([b"", b"\x00" * 8, b"\xff\xfe\xfd", b"\n41 42 zz", "0x4142", "\x00abc"]),
    st.text(max_size=80),
)

INT_COLUMNS = (oids.prtMarkerSuppliesLevel, oids.prtMarkerSuppliesMaxCapacity,
               oids.prtMarkerSuppliesType, oids.prtMarkerSuppliesClass)


@pytest.fixture(scope="module")
def reading(recorded_printers: tuple[str, int]) -> PrinterReading:
    host, port = recorded_printers

    async def read() -> PrinterReading:
        client = SnmpClient()
        try:
            return await read_printer(
                client, SnmpTarget(host, port, SnmpCredentials(community="jetdirect_m880")))
        finally:
            client.close()

    return asyncio.run(read())


def mapped(reading: PrinterReading) -> DeviceStatus:
    status = DeviceStatus(host="fuzz")
    apply_snmp(status, reading)
    json.dumps(status.to_json())  # everything in the result is JSON-serialisable
    return status


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_garbage_values_never_escape(reading: PrinterReading, data: st.DataObject) -> None:
    baseline = {s.index: s for s in mapped(reading).supplies}
    broken = copy.copy(reading)
    broken.values = dict(reading.values)
    keys = sorted(reading.values)
    chosen = data.draw(st.lists(st.sampled_from(keys), max_size=12, unique=True))
    for key in chosen:
        broken.values[key] = data.draw(GARBAGE)

    status = mapped(broken)

    touched_rows = {key.rsplit(".", 2)[-2] + "." + key.rsplit(".", 1)[-1] for key in chosen}
    for supply in status.supplies:
        assert 0 <= (supply.level_percent if supply.level_percent is not None else 0) <= 100
        if supply.index not in touched_rows and supply.index in baseline:
            before = baseline[supply.index]
            for field in ("description", "kind", "level_percent", "level_state", "raw_level",
                          "max_capacity", "supply_class"):
                assert getattr(supply, field) == getattr(before, field), \
                    f"untouched row {supply.index}: {field} changed"
    for key in chosen:
        column = key.rsplit(".", 2)[0]
        value = broken.values[key]
        if column in INT_COLUMNS and isinstance(value, (bytes, str)):
            assert any(p.source == "snmp" for p in status.problems), f"{key}={value!r} unreported"


@settings(max_examples=100, deadline=None)
@given(values=st.dictionaries(
    st.sampled_from([f"{c}.1.{i}" for c in (*INT_COLUMNS, oids.prtMarkerSuppliesDescription,
                                            oids.prtMarkerSuppliesColorantIndex)
                     for i in range(1, 4)]
                    + [f"{oids.sysDescr}.0", f"{oids.sysObjectID}.0",
                       f"{oids.prtGeneralSerialNumber}.1", f"{oids.hrPrinterStatus}.1",
                       f"{oids.hrPrinterDetectedErrorState}.1", f"{oids.prtMarkerLifeCount}.1.1",
                       f"{oids.prtAlertSeverityLevel}.1", f"{oids.prtAlertCode}.1",
                       f"{oids.ifPhysAddress}.1", f"{oids.hrDeviceType}.1"]),
    GARBAGE, max_size=20))
def test_random_readings_from_scratch(values: dict) -> None:
    status = mapped(PrinterReading(values=values))
    assert status.reachable == {"snmp": True}
    for supply in status.supplies:
        assert supply.level_state in ("known", "some-remaining", "unknown", "unrestricted")
