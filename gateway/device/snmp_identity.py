"""Who a printer is, from SNMP: serial, model, manufacturer, firmware, device ID, MAC, and the
system group (`apply_identity`).  Each field takes the first source that gives a usable value."""

from __future__ import annotations

import re

from gateway.device.fields import clean_serial, parsed_device_id
from gateway.device.model import DeviceStatus
from gateway.device.model_name import choose_model, clean_model
from gateway.device.snmp_values import SnmpFields, index_key
from gateway.device.strings import format_mac
from protocols.device_id import (
    device_id_manufacturer,
    device_id_model,
    device_id_serial,
)
from protocols.snmp import oids

_SERIAL_IN_TEXT = re.compile(
    r"(?:^|[,;\s])(?:SN|S/N|SERIAL(?:\s*NUMBER)?)\s*[:=#]\s*([A-Za-z0-9-]{4,})", re.IGNORECASE)


def apply_identity(status: DeviceStatus, r: SnmpFields) -> None:
    ident = status.identity
    vendor = r.reading.vendor
    sys_descr = r.scalar_identity("sys_descr", f"{oids.sysDescr}.0")
    status.set(ident, "sys_descr", sys_descr, "snmp:sysDescr")
    sys_object_id = r.reading.scalar(f"{oids.sysObjectID}.0")
    if isinstance(sys_object_id, str):
        status.set(ident, "sys_object_id", sys_object_id, "snmp:sysObjectID")
    status.set(ident, "hostname", r.scalar_identity("hostname", f"{oids.sysName}.0"),
               "snmp:sysName")
    status.set(ident, "location", r.scalar_identity("location", f"{oids.sysLocation}.0"),
               "snmp:sysLocation")

    device_id_text = None
    for oid in vendor.device_ids():
        device_id_text = r.scalar_identity("device_id", oid)
        if device_id_text:
            status.set(ident, "device_id", device_id_text, f"snmp:{oid}")
            break
    device_id = parsed_device_id(device_id_text or "")

    serials = r.column(oids.prtGeneralSerialNumber)
    for index in sorted(serials, key=index_key):
        serial = clean_serial(r.identity("serial", f"prtGeneralSerialNumber.{index}",
                                         serials[index]))
        if status.set(ident, "serial", serial, "snmp:prtGeneralSerialNumber"):
            break
    for oid in vendor.serial:
        status.set(ident, "serial", clean_serial(r.scalar_identity("serial", oid)),
                   f"snmp:{oid}")
    if ident.serial is None and sys_descr and (match := _SERIAL_IN_TEXT.search(sys_descr)):
        status.set(ident, "serial", clean_serial(match.group(1)), "snmp:sysDescr")
    status.set(ident, "serial", clean_serial(
        r.identity("serial", "device-id SN", device_id_serial(device_id))), "snmp:device-id")

    _choose_model(status, r, device_id, sys_descr)

    status.set(ident, "manufacturer", r.identity(
        "manufacturer", "device-id MFG", device_id_manufacturer(device_id)), "snmp:device-id")
    status.set(ident, "manufacturer", vendor.name or None, "snmp:sysObjectID")
    for oid in vendor.firmware:
        status.set(ident, "firmware", r.scalar_identity("firmware", oid), f"snmp:{oid}")

    macs = r.column(oids.ifPhysAddress)
    for index in sorted(macs, key=index_key):
        if status.set(ident, "mac", format_mac(macs[index]), "snmp:ifPhysAddress"):
            break


def _choose_model(status: DeviceStatus, r: SnmpFields, device_id: dict[str, str],
                  sys_descr: str | None) -> None:
    """Every SNMP name of the model, cleaned; the best one (`gateway.device.model_name`)."""
    texts: list[tuple[str, str | None]] = [
        (f"snmp:{oid}", r.scalar_identity("model", oid)) for oid in r.reading.vendor.model]
    texts.append(("snmp:device-id", r.identity("model", "device-id MDL",
                                               device_id_model(device_id))))
    texts.append(("snmp:sysDescr", sys_descr))
    printer_index = r.printer_index
    if printer_index is not None:
        texts.append(("snmp:hrDeviceDescr", r.identity(
            "model", f"hrDeviceDescr.{printer_index}",
            r.column(oids.hrDeviceDescr).get(printer_index))))
    texts.append(("snmp:device-id DES", device_id.get("DES") or None))
    candidates = [c for source, text in texts if (c := clean_model(text, source))]
    if (winner := choose_model(candidates)) is not None:
        status.set(status.identity, "model", winner.name, winner.source)
