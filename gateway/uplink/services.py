"""Support services: the local enable settings and FIG. 10's activation decision.

The patent's "support service valid setting" is IT's: `[services]` in the config says which
contracted services may run on which devices (fleet default, per-model and per-device rules; see
`gateway.settings.services.ServicesSettings` for the precedence).  FIG. 10 then decides, per
service the cloud lists for a printer, whether the gateway sends an activation notice (S0607):

- S1003: the service is enabled locally;
- S1004: its application ID is not empty (an empty one means the contract was cancelled);
- its activation state is neither `cancelled` nor `suspended` (the cloud would refuse: asking is
  pointless until the operator resumes it, which the cloud then notifies);
- it is compatible with the device: its `compatible_cartridge_models` is empty (any device) or
  names a model installed in the device (the supplies' part numbers, compared without case and
  spaces);
- it is not active already: an active service needs no new notice (notices are idempotent, but
  every sync would otherwise send one per service).

A service the cloud has active whose local enable setting is off gets a deactivation notice
(`action: deactivate`): the gateway no longer provides it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.device.model import DeviceStatus
from gateway.settings.globs import model_matches
from gateway.settings.schema import Config
from gateway.settings.services import ServiceRule, ServicesSettings
from protocols.cloud.registration import Application


@dataclass(frozen=True)
class Enablement:
    enabled: bool
    rule: str
    """What decided, for the status page: `services.rule[2]` or `services.default`."""


class ServiceSettings:
    """The enable settings of `[services]`, asked per service and device."""

    def __init__(self, default: bool, rules: Sequence[ServiceRule] = ()) -> None:
        self.default = default
        self.rules = list(rules)

    @classmethod
    def from_config(cls, config: Config | ServicesSettings) -> ServiceSettings:
        services = config.services if isinstance(config, Config) else config
        return cls(services.default, services.rule)

    def explain(self, service_id: str, *, model: str | None, serial: str | None) -> Enablement:
        """Whether the service may run on the device, and which setting says so: the most
        specific rule that applies (serial, then model, then fleet-wide; at each level a rule
        naming the service before one for "*"), else the default."""
        serial = serial.strip() if serial else None
        best: tuple[tuple[int, bool], int] | None = None
        for position, rule in enumerate(self.rules):
            if rule.service not in ("*", service_id):
                continue
            if rule.serial is not None and rule.serial != serial:
                continue
            if rule.model is not None and (model is None or not model_matches(rule.model, model)):
                continue
            rank = (rule.level, rule.service != "*")
            if best is None or rank > best[0]:
                best = (rank, position)
        if best is None:
            return Enablement(self.default, "services.default")
        position = best[1]
        return Enablement(self.rules[position].enabled, f"services.rule[{position}]")

    def enabled(self, service_id: str, *, model: str | None, serial: str | None) -> bool:
        return self.explain(service_id, model=model, serial=serial).enabled


@dataclass(frozen=True)
class ActivationDecision:
    """FIG. 10's answer for one service on one device."""

    activate: bool
    """Send an activation notice (S0607)."""
    reason: str
    """Why, as a code: `activate`, `disabled`, `no-application-id`, `cancelled`, `suspended`,
    `incompatible`, `already-active`."""
    detail: str
    """Why, for people (the status page, logs)."""
    enabled: bool
    """The local enable setting it was decided with."""
    deactivate: bool = False
    """Send a deactivation notice: active in the cloud, disabled here."""


def decide_activation(application: Application, *, enabled: bool,
                      installed_models: set[str]) -> ActivationDecision:
    """FIG. 10 for one application of the cloud's application information (see the module
    docstring)."""
    application_id = application.application_id
    state = application.activation_state

    def no(reason: str, detail: str, deactivate: bool = False) -> ActivationDecision:
        return ActivationDecision(False, reason, detail, enabled, deactivate)

    if not enabled:
        if state == "active" and application_id:
            return no("disabled", "disabled by the local enable setting: the cloud is told to "
                      "deactivate it", deactivate=True)
        return no("disabled", "disabled by the local enable setting")
    if not application_id:
        return no("no-application-id", "no application ID: the contract is cancelled")
    if state in ("cancelled", "suspended"):
        return no(state, f"the contract is {state} in the cloud")
    compatible = {normalise_model(m) for m in application.compatible_cartridge_models}
    if compatible and not compatible & installed_models:
        installed = ", ".join(sorted(installed_models)) or "none reported"
        return no("incompatible", f"supports cartridge models {', '.join(sorted(compatible))}; "
                  f"the device has {installed}")
    if state == "active":
        return no("already-active", "active: no new activation notice needed")
    return ActivationDecision(True, "activate", "enabled, contracted and compatible", enabled)


_SPACES = re.compile(r"\s+")


def normalise_model(part_number: str) -> str:
    """Cartridge models compare without case and spaces: `w2030a`, `W 2030A` → `W2030A`."""
    return _SPACES.sub("", part_number).upper()


def installed_models(status: DeviceStatus) -> set[str]:
    """The cartridge models installed in a device: its supplies' part numbers, normalised."""
    parts = (supply.part_number for supply in status.supplies)
    return {normalise_model(part) for part in parts if part is not None and part.strip()}
