"""`CredentialResolver`: which SNMP credentials a device is read and written with."""

from __future__ import annotations

from typing import Any

from gateway.fleet.credentials import CredentialResolver
from gateway.fleet.inventory import Device
from gateway.settings.live import LiveConfig
from gateway.settings.loading import parse_config
from gateway.settings.schema import Config
from protocols.snmp.model import SnmpTarget

KEYS = {"auth_key": "authkey-123", "priv_key": "privkey-123"}


def config(**contract: Any) -> Config:
    return parse_config({
        "snmp": {"communities": ["public", "backup"], "port": 1161, "timeout": 0.5,
                 "retries": 2,
                 "v3_users": {"ops": KEYS, "audit": {**KEYS, "user": "auditor"}}},
        "discovery": {"subnets": [{"cidr": "127.0.80.0/24", "communities": ["lab"],
                                   "v3_users": ["audit"]}]},
        "contract": contract,
    })


def device(version: int | None, user: str | None = None, port: int | None = None,
           address: str = "127.0.81.5") -> Device:
    return Device(id=1, serial="S1", uuid=None, mac=None, manufacturer=None, model=None,
                  hostname=None, ipp_uri=None, snmp_port=port, snmp_version=version,
                  snmp_user=user, sources=[], protocols=[], services=[], first_seen=0.0,
                  last_seen=0.0, missing_since=None, addresses=[address])


def who(targets: list[SnmpTarget]) -> list[str]:
    return [t.credentials.user or t.credentials.community for t in targets]


def test_the_configured_credentials_of_the_devices_version_in_order() -> None:
    resolver = CredentialResolver(LiveConfig(config()))
    targets = resolver.read_targets(device(2), "127.0.81.5")
    assert who(targets) == ["public", "backup"]
    assert {(t.host, t.port, t.timeout, t.retries) for t in targets} == {
        ("127.0.81.5", 1161, 0.5, 2)}
    assert resolver.read_targets(device(None), "127.0.81.5") == []


def test_the_scope_of_the_address_chooses_the_credentials() -> None:
    resolver = CredentialResolver(LiveConfig(config()))
    assert who(resolver.read_targets(device(2, port=161), "127.0.80.9")) == ["lab"]
    assert resolver.read_targets(device(2, port=161), "127.0.80.9")[0].port == 161
    assert who(resolver.read_targets(device(3), "127.0.80.9")) == ["auditor"]


def test_snmpv3_prefers_the_user_discovery_recorded_else_any_user() -> None:
    resolver = CredentialResolver(LiveConfig(config()))
    assert who(resolver.read_targets(device(3, "auditor"), "127.0.81.5")) == ["auditor"]
    assert who(resolver.read_targets(device(3, "gone"), "127.0.81.5")) == ["ops", "auditor"]


def test_what_answered_is_tried_alone_until_forgotten_or_reconfigured() -> None:
    resolver = CredentialResolver(LiveConfig(config()))
    printer = device(2)
    backup = resolver.read_targets(printer, "127.0.81.5")[1]
    resolver.answered(printer, backup)
    assert who(resolver.read_targets(printer, "127.0.81.5")) == ["backup"]
    resolver.forget(printer)
    assert who(resolver.read_targets(printer, "127.0.81.5")) == ["public", "backup"]
    resolver.answered(printer, backup)
    resolver.forget_all()  # a reload of [snmp], [discovery] or [contract]
    assert who(resolver.read_targets(printer, "127.0.81.5")) == ["public", "backup"]


def test_writes_use_the_contract_credentials() -> None:
    both = CredentialResolver(LiveConfig(config(write_community="private", v3_user="ops")))
    read = both.read_targets(device(2), "127.0.81.5")[0]
    v2_write = both.write_target(device(2), read)
    assert v2_write is not None and v2_write.credentials.community == "private"
    assert (v2_write.host, v2_write.port, v2_write.timeout) == (read.host, read.port,
                                                                read.timeout)
    v3_write = both.write_target(device(3), read)
    assert v3_write is not None and v3_write.credentials.user == "ops"
    v3_only = CredentialResolver(LiveConfig(config(v3_user="ops"))).write_target(device(2), read)
    assert v3_only is not None and v3_only.credentials.version == 3
    assert CredentialResolver(LiveConfig(config())).write_target(device(2), read) is None
