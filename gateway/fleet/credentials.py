"""Which SNMP credentials to talk to an inventory device with.

Discovery stores which SNMP version, port and v3 user answered, never the community itself (a
secret).  A device is read with the configured credentials of that version for its scope (its
static entry or subnet), in order, and the ones that answered are remembered in memory.  One
resolver serves the poller and the command relay, so what one of them learnt the other tries
first; a reload of the settings forgets it all.

Writes (the contract MIB's SETs) use the separate write credentials of `[contract]`.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.fleet.inventory import Device
from gateway.settings.schema import Config
from protocols.snmp.model import SnmpCredentials, SnmpTarget


class CredentialResolver:
    """The SNMP targets to try for a device, and the memory of the ones that answered."""

    def __init__(self, config: Callable[[], Config]) -> None:
        self.config = config
        """The config in force: `[snmp]`, the scopes of `[discovery]`, `[contract]`."""
        self._answered: dict[int, SnmpCredentials] = {}

    def forget_all(self) -> None:
        """New settings (a reload): the credentials are tried afresh."""
        self._answered.clear()

    def read_targets(self, device: Device, address: str) -> list[SnmpTarget]:
        """The targets to read `device` at `address` with, in order: the credentials that
        answered last, else those of its scope for its SNMP version (for SNMPv3 the user
        discovery recorded, else any user).  None for a device read without SNMP."""
        if device.snmp_version is None:
            return []
        known = self._answered.get(device.id)
        if known is not None:
            return [self._target(device, address, known)]
        tried = self.config().credentials(self.config().scope_for(address))
        if device.snmp_version == 3:
            candidates = [c for c in tried if c.version == 3 and c.user == device.snmp_user] or [
                c for c in tried if c.version == 3]
        else:
            candidates = [c for c in tried if c.version == device.snmp_version]
        return [self._target(device, address, c) for c in candidates]

    def write_target(self, device: Device, read: SnmpTarget) -> SnmpTarget | None:
        """`read` with the write credentials of `[contract]`: `v3_user` for a device read over
        SNMPv3 (or when it is the only one), else `write_community` (v2c); None without
        either."""
        contract = self.config().contract
        if contract.v3_user is not None and (device.snmp_version == 3
                                             or contract.write_community is None):
            writer = self.config().snmp.v3_users[contract.v3_user].credentials(contract.v3_user)
        elif contract.write_community is not None:
            writer = SnmpCredentials(version=2,
                                     community=contract.write_community.get_secret_value())
        else:
            return None
        return SnmpTarget(read.host, read.port, writer, read.timeout, read.retries)

    def answered(self, device: Device, target: SnmpTarget) -> None:
        """`target` answered for `device`: try its credentials first from now on."""
        self._answered[device.id] = target.credentials

    def forget(self, device: Device) -> None:
        """The remembered credentials of `device` did not answer: search again next time."""
        self._answered.pop(device.id, None)

    def _target(self, device: Device, address: str, credentials: SnmpCredentials) -> SnmpTarget:
        snmp = self.config().snmp
        return SnmpTarget(address, device.snmp_port or snmp.port, credentials, snmp.timeout,
                          snmp.retries)
