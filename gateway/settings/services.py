"""`[services]`: the support service enable settings, fleet default and per-model / per-serial
rules (the patent's "support service valid setting")."""

from __future__ import annotations

import re

from pydantic import (
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from gateway.settings.globs import glob_common_match
from gateway.settings.values import (
    Section,
)

_SERVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ServiceRule(Section):
    """One `[[services.rule]]`: enable or disable services on a device or a model."""

    service: str = "*"
    """A service ID, or "*" for every service."""
    model: str | None = None
    """A glob on the device model (case-insensitive), e.g. "Apeos C*"."""
    serial: str | None = None
    """One device, by its exact serial number."""
    enabled: bool

    @field_validator("service")
    @classmethod
    def _service(cls, value: str) -> str:
        if value != "*" and not _SERVICE_ID.match(value):
            raise ValueError('write a service ID (letters, digits, ".", "_", "-") or "*"')
        return value

    @field_validator("model", "serial")
    @classmethod
    def _not_blank(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty; leave the key out instead")
        if value is None or info.field_name == "serial":
            return None if value is None else value.strip()
        return " ".join(value.split())

    @model_validator(mode="after")
    def _scope(self) -> ServiceRule:
        if self.model is not None and self.serial is not None:
            raise ValueError("a rule names a serial or a model, not both (a serial rule already "
                             "means one device)")
        if self.model is None and self.serial is None and self.service == "*":
            raise ValueError('a rule for every service on every device is `services.default`; '
                             "name a service, a model or a serial")
        return self

    @property
    def level(self) -> int:
        """2 for a serial rule, 1 for a model rule, 0 for a fleet-wide rule."""
        return 2 if self.serial is not None else 1 if self.model is not None else 0


class ServicesSettings(Section):
    """Support service enable settings (the patent's "support service valid setting").

    Which contracted services may run on which devices.  For a service on a device, the rule that
    decides is the most specific one that applies: a serial rule beats a model rule, which beats a
    fleet-wide rule (no serial, no model), which beats `default`; at the same level, a rule naming
    the service beats one for "*".  Two rules at the same level and specificity that can apply to
    the same device and service and disagree are a config error.
    """

    default: bool = True
    rule: list[ServiceRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _no_conflicts(self) -> ServicesSettings:
        problems = []
        for i, first in enumerate(self.rule):
            for j in range(i + 1, len(self.rule)):
                second = self.rule[j]
                if (first.level, first.service) != (second.level, second.service) \
                        or first.enabled == second.enabled:
                    continue
                overlap = _rules_overlap(first, second)
                if overlap is not None:
                    problems.append(f"rule[{i}] and rule[{j}] disagree on service "
                                    f"{first.service!r} for {overlap}; remove one or make one "
                                    "more specific")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _rules_overlap(first: ServiceRule, second: ServiceRule) -> str | None:
    """The devices two rules of one level both apply to (for a message), or None."""
    if first.serial is not None:
        return f"serial {first.serial!r}" if first.serial == second.serial else None
    if first.model is not None and second.model is not None:
        example = glob_common_match(first.model.casefold(), second.model.casefold())
        return None if example is None else f"models such as {example!r}"
    return "every device"
