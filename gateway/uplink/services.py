"""Support services: the local enable settings and FIG. 10's activation decision.

The patent's "support service valid setting" is IT's: `[services]` in the config says which
contracted services may run on which devices (fleet default, per-model and per-device rules; see
`gateway.settings.services.ServicesSettings` for the precedence).  FIG. 10 then decides, per
service the cloud lists for a printer, whether the gateway sends an activation notice (S0607):

- S1003: the service is enabled locally;
- S1004: its application ID is not empty (an empty one means the contract was cancelled);
- its activation state is neither `cancelled` nor `suspended` (the cloud would refuse: asking is
  pointless until the operator resumes it, which the cloud then notifies);
- the device has every function the service requires (`required_functions`: `contract`, the
  contract MIB answered and is supported; `color`, a marking supply of a colour other than black;
  `scan`, `fax`, as the device type detection sees them);
- it is compatible with the device: its `compatible_cartridge_models` is empty (any device) or
  names a model installed in the device (the supplies' part numbers, compared without case and
  spaces);
- the device can deliver its data types: a service none of whose types the device can deliver
  (`gateway.uplink.data_types.available`) is not activated; one that lacks only some is, and the
  types it lacks are reported `unavailable` at S0611 as for any service;
- it is not active already: an active service needs no new notice (notices are idempotent, but
  every sync would otherwise send one per service).

A service the cloud has active that is not enabled here, or that the device can no longer run
(a function or compatible cartridge gone, no data deliverable), gets a deactivation notice
(`action: deactivate`): the gateway no longer provides it.  A function or cartridge missing from
an incomplete reading (a protocol did not answer) may only be unseen: it deactivates nothing.
Each decision has a reason code (`ActivationDecision.reason`) shown on the status page and in
`printgw status`, and logged when it changes (`gateway.uplink.service_judge`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.device.device_type import device_functions
from gateway.device.model import DeviceStatus
from gateway.settings.globs import model_matches
from gateway.settings.schema import Config
from gateway.settings.services import ServiceRule, ServicesSettings
from gateway.uplink.data_types import available
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
class DeviceAbilities:
    """What FIG. 10 judges a device on, from one reading (`abilities()`)."""

    functions: frozenset[str] = frozenset()
    """Of `FUNCTIONS`: what the device can do."""
    installed_models: frozenset[str] = frozenset()
    """The cartridge models installed (`installed_models`)."""
    unavailable: tuple[str, ...] = ()
    """The data types the device cannot deliver (`gateway.uplink.data_types.available`)."""
    complete: bool = True
    """SNMP answered (where the device is read over it) and the reading is not empty: a
    function or cartridge missing from an incomplete reading may only be unseen, so it never
    deactivates a service."""


@dataclass(frozen=True)
class ActivationDecision:
    """FIG. 10's answer for one service on one device."""

    activate: bool
    """Send an activation notice (S0607)."""
    reason: str
    """Why, as a code: `active`, `not-enabled`, `no-application`, `cancelled`, `suspended`,
    `incompatible-cartridge`, `missing-function:<function>`, `data-unavailable`."""
    detail: str
    """Why, for people (the status page, logs)."""
    enabled: bool
    """The local enable setting it was decided with."""
    deactivate: bool = False
    """Send a deactivation notice: active in the cloud, not allowed here."""


FUNCTIONS = ("contract", "color", "scan", "fax")
"""The functions a service may require (`Application.required_functions`)."""


def decide_activation(application: Application, *, enabled: bool,
                      installed_models: set[str] | frozenset[str],
                      device: DeviceAbilities | None = None,
                      enabled_detail: str = "disabled by the local enable setting",
                      ) -> ActivationDecision:
    """FIG. 10 for one application of the cloud's application information (see the module
    docstring).  `device`: the functions and deliverable data types (None: only the cartridge
    models are known; a service requiring a function is then not activated)."""
    device = device or DeviceAbilities(installed_models=frozenset(installed_models))
    application_id = application.application_id
    state = application.activation_state
    active = state == "active" and bool(application_id)

    def no(reason: str, detail: str, *, unseen: bool = False) -> ActivationDecision:
        """Not activated; an active service is deactivated unless the reason may be a reading
        that did not see everything (`unseen` on an incomplete reading)."""
        deactivate = active and not (unseen and not device.complete)
        if deactivate:
            detail += ": the cloud is told to deactivate it"
        return ActivationDecision(False, reason, detail, enabled, deactivate)

    if not enabled:
        return no("not-enabled", enabled_detail)
    if not application_id:
        return ActivationDecision(False, "no-application", "no application ID: the contract "
                                  "is cancelled", enabled)
    if state in ("cancelled", "suspended"):
        return ActivationDecision(False, state, f"the contract is {state} in the cloud", enabled)
    for function in application.required_functions:
        if function not in device.functions:
            return no(f"missing-function:{function}",
                      f"requires the {function} function, which the device does not have",
                      unseen=True)
    compatible = {normalise_model(m) for m in application.compatible_cartridge_models}
    if compatible and not compatible & device.installed_models:
        installed = ", ".join(sorted(device.installed_models)) or "none reported"
        return no("incompatible-cartridge", f"supports cartridge models "
                  f"{', '.join(sorted(compatible))}; the device has {installed}", unseen=True)
    types = set(application.data_types)
    missing = types & set(device.unavailable)
    if types and missing == types:
        return no("data-unavailable", "the device cannot deliver any of its data types "
                  f"({', '.join(sorted(types))})", unseen=True)
    detail = "enabled, contracted, compatible and able"
    if missing:  # partial: active; the types it cannot deliver are reported `unavailable`
        detail += f"; without {', '.join(sorted(missing))} (not deliverable)"
    if state == "active":
        return ActivationDecision(False, "active", f"active: {detail}", enabled)
    return ActivationDecision(True, "active", f"{detail}: activation notice", enabled)


_SPACES = re.compile(r"\s+")


def normalise_model(part_number: str) -> str:
    """Cartridge models compare without case and spaces: `w2030a`, `W 2030A` → `W2030A`."""
    return _SPACES.sub("", part_number).upper()


def installed_models(status: DeviceStatus) -> set[str]:
    """The cartridge models installed in a device: its supplies' part numbers, normalised."""
    parts = (supply.part_number for supply in status.supplies)
    return {normalise_model(part) for part in parts if part is not None and part.strip()}


_BLACK = frozenset({"black", "k", "mono", "monochrome"})
_MARKING = frozenset({"toner", "ink", "inkCartridge", "inkRibbon", "tonerCartridge", "solidWax",
                      "ribbonWax", "thermalWax"})


def device_functions_for_services(status: DeviceStatus) -> frozenset[str]:
    """The `FUNCTIONS` a reading shows: `contract` (the contract MIB answered and is supported),
    `color` (a marking supply of a colour other than black), `scan` and `fax` (the device type
    detection's `device_functions`)."""
    functions = set(device_functions(status) & {"scan", "fax"})
    if status.contract.supported:
        functions.add("contract")
    if any(supply.color and supply.color.strip().lower() not in _BLACK
           and (supply.kind is None or supply.kind in _MARKING) for supply in status.supplies):
        functions.add("color")
    return frozenset(functions)


def abilities(status: DeviceStatus) -> DeviceAbilities:
    """What FIG. 10 judges the device on, from a reading."""
    unavailable = tuple(t for t, reason in available(status).items() if reason)
    # SNMP carries the contract MIB and the supplies' part numbers: a reading it did not answer
    # (or one nothing answered) may not have seen them
    complete = status.reachable.get("snmp") is not False and any(status.reachable.values())
    return DeviceAbilities(device_functions_for_services(status),
                           frozenset(installed_models(status)), unavailable, complete)
