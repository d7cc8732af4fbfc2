"""pysnmp's decoded values as the plain Python values `SnmpValue` promises."""

from __future__ import annotations

from pyasn1.type import univ
from pysnmp.proto import rfc1902, rfc1905

from protocols.snmp.model import SnmpValue, oid_text


def to_python(value: object) -> SnmpValue:
    if isinstance(value, rfc1902.IpAddress):
        return ".".join(str(b) for b in value.asOctets())
    if isinstance(value, univ.OctetString):
        return value.asOctets()
    if isinstance(value, univ.Integer):
        return int(value)
    if isinstance(value, univ.ObjectIdentifier):
        return oid_text(value.asTuple())
    return None


def is_absent(value: object) -> bool:
    return isinstance(value, (rfc1905.NoSuchObject, rfc1905.NoSuchInstance, rfc1905.EndOfMibView))
