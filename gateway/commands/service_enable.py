"""`set-service-enabled`: the operator's enable setting of a support service, by command.

Not an SNMP SET: the setting is kept in the gateway's database (`EnableOverrides`) and the
device's services are decided again at once, as the FIG. 7 sync decides them (S0605-S0611:
FIG. 10 reads the overrides), so a service disabled while active is deactivated in the cloud and
one given back is activated again.

IT's config file is the upper bound: `enabled: false` always applies; `enabled: true` or `null`
give the service back to the config's setting, and `true` for a service the config disables on
the device is refused (`not-permitted-by-config`): the cloud never enables what IT disabled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from gateway.commands.plan import CommandOutcome
from gateway.fleet.inventory import Device
from gateway.uplink.enable_overrides import (
    NOT_PERMITTED_BY_CONFIG,
    EnableOverrides,
    effective_enabled,
)
from gateway.uplink.services import ServiceSettings
from protocols.cloud.errors import CloudError

log = logging.getLogger(__name__)

KIND = "set-service-enabled"


class Rejudge(Protocol):
    """What decides a device's services again (the cloud link's FIG. 7 steps)."""

    async def sync_applications(self, device: Device, printer_id: str) -> object: ...

    async def sync_control_information(self, device: Device, printer_id: str) -> None: ...


class ServiceEnabler:
    """Applies `set-service-enabled` commands for the relay."""

    def __init__(self, overrides: EnableOverrides, services: Callable[[], ServiceSettings],
                 link: Rejudge) -> None:
        self.overrides = overrides
        self.services = services
        """The config's settings in force (they change on a reload)."""
        self.link = link

    async def apply(self, device: Device, printer_id: str,
                    parameters: Mapping[str, Any]) -> CommandOutcome:
        service_id, enabled = parameters.get("service_id"), parameters.get("enabled", ...)
        if not isinstance(service_id, str) or not service_id \
                or not (enabled is None or isinstance(enabled, bool)):
            return CommandOutcome.refused("invalid-parameters", "set-service-enabled needs "
                                          "parameters.service_id (text) and enabled "
                                          "(true, false or null)")
        config_enabled = self.services().enabled(service_id, model=device.model,
                                                 serial=device.serial)
        if enabled is True and not config_enabled:
            return CommandOutcome.refused(
                NOT_PERMITTED_BY_CONFIG, f"the gateway's config file disables {service_id} on "
                "this device: the cloud cannot enable it",
                service_setting=self.setting(device, service_id, config_enabled))
        self.overrides.set(str(device.id), service_id, enabled)
        setting = self.setting(device, service_id, config_enabled)
        log.info("services: %s on device %s %s by the operator (override %s, config %s)",
                 service_id, device.id, "enabled" if setting["enabled"] else "disabled",
                 setting["override"], "enables" if config_enabled else "disables")
        try:
            await self.link.sync_applications(device, printer_id)
            await self.link.sync_control_information(device, printer_id)
        except (CloudError, RuntimeError) as exc:  # the link down: the setting is kept
            log.warning("services: device %s not decided again now (%s); the next sync will",
                        device.id, exc)
        return CommandOutcome.done_setting(setting)

    def setting(self, device: Device, service_id: str, config_enabled: bool) -> dict[str, Any]:
        """The `ServiceSetting` of the acknowledgement."""
        override = self.overrides.get(str(device.id), service_id)
        return {"service_id": service_id, "override": override, "config_enabled": config_enabled,
                "enabled": effective_enabled(config_enabled, override)}
