"""FIG. 10 for every service of one device: the enable setting as IT's config and the operator's
override give it, the device's abilities from its reading, and one info log line per device and
service when the decision's reason changes (not one per reading or sync).

The enable setting is the config's (`ServiceSettings`) bounded by the operator's override
(`gateway.uplink.enable_overrides`): `enabled = config and override is not False` — the cloud can
disable what IT enabled, never enable what IT disabled.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from gateway.device.model import DeviceStatus
from gateway.fleet.inventory import Device
from gateway.uplink.enable_overrides import EnableOverrides, effective_enabled
from gateway.uplink.services import (
    ActivationDecision,
    DeviceAbilities,
    ServiceSettings,
    abilities,
    decide_activation,
)
from protocols.cloud.registration import Application

log = logging.getLogger(__name__)


def judge_services(device: Device, status: DeviceStatus | None,
                   applications: Iterable[Application], settings: ServiceSettings,
                   overrides: EnableOverrides, before: Mapping[str, str | None],
                   ) -> dict[str, ActivationDecision]:
    """FIG. 10's decision per service ID; `before`: each service's previous reason code (the
    support service setting table), to log only the changes.  Without a reading the device is
    judged as one that showed nothing, on an incomplete reading (nothing is deactivated for a
    function not seen)."""
    device_abilities = abilities(status) if status is not None else DeviceAbilities(
        complete=False)
    decisions: dict[str, ActivationDecision] = {}
    for app in applications:
        config = settings.explain(app.service_id, model=device.model, serial=device.serial)
        override = overrides.get(str(device.id), app.service_id)
        enabled = effective_enabled(config.enabled, override)
        if not config.enabled:
            why = f"not enabled by the config file ({config.rule})"
        else:
            why = "disabled by the operator (set-service-enabled)"
        decision = decide_activation(app, enabled=enabled,
                                     installed_models=device_abilities.installed_models,
                                     device=device_abilities, enabled_detail=why)
        decisions[app.service_id] = decision
        if before.get(app.service_id) != decision.reason:
            log.info("services: device %s (%s) service %s: %s — %s", device.id,
                     device.serial or device.address, app.service_id, decision.reason,
                     decision.detail)
    return decisions
