"""Which readings are events worth an upload (SPEC §4): compare a reading with the previous one.

`detect(previous, current, settings)` compares two `DeviceStatus` readings and returns the events
in a stable order (supplies by index, then alerts, then the printer state), each named as the
cloud document's `StatusEvent` with its `EventDetail`:

- `threshold-crossed` (supply_index, threshold_percent): a supply's level went from above a
  configured threshold to at or below it.  When one reading crosses several thresholds, one event
  names the lowest one crossed.  A filled receptacle (waste toner, class `filled`) reports its
  remaining *space* (RFC 3805; the cloud document says so too), so the same downward test means
  it filled past 100 - threshold percent: crossing 10 is "more than 90 % full".
- `supply-replaced` (supply_index, previous_cartridge_id when the old cartridge had an ID): the
  level rose by at least `level_jump` points, or the contract MIB's cartridge ID changed.  A
  replaced supply has no `threshold-crossed` in the same reading (its level did not fall by use).
- `supply-empty` (supply_index): the level reached 0 (raw level 0, or 0 % when no raw level is
  known) from a level known not to be empty.  For a filled receptacle that means full.
- `alert-raised` / `alert-cleared` (alert_index): an alert, identified by its index and code,
  appeared in / left the alert table.  A row whose code changed is one cleared and one raised.
- `state-changed` (previous_state): the printer went between ready (idle, processing, warming up),
  stopped and offline.  Idle ↔ processing is normal work, not an event; `unknown` is no news.
- `contract-cartridge-installed` / `contract-cartridge-removed` (supply_index; the removed
  cartridge's previous_cartridge_id): a supply's cartridge became / stopped being a contract
  cartridge (a contract cartridge's row disappearing is a removal).
- `contract-mode-changed` (previous_mode, previous_printing_prohibited): the contract MIB's mode
  or its printing-prohibited flag differs from the previous reading's (a command applied, or a
  change made on the device).

`threshold-crossed` is judged at the configured thresholds and, for a printer under a contract,
at its contract's threshold as well (`contract_threshold`, from the cloud's control information),
so the contract process hears of its threshold exactly when it is crossed.

Only what both readings know is compared: levels that are numbers in both, alert tables read
from the same protocols, cartridge types and contract modes when both readings had the contract
MIB.  A first
reading (`previous` None) has no events; the caller sends a `periodic` upload.

A sleeping printer reports unknown levels and a timed-out SNMP loses the alert table for one
reading; to compare the next reading with what was last *known*, store `baseline(previous,
current)` as the next previous reading rather than `current` itself.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from gateway.device.model import DeviceStatus, Supply
from gateway.settings.schema import EventSettings
from protocols.cloud.models import EventDetail

_READY = {"idle": "ready", "processing": "ready", "warmup": "ready", "stopped": "stopped",
          "offline": "offline"}
_LEVEL_FIELDS = ("level_percent", "level_state", "raw_level", "max_capacity", "over_capacity")
_ID_LIMIT = 64
"""`event_detail.previous_cartridge_id` maxLength in the cloud document."""


@dataclass(frozen=True)
class StatusEvent:
    kind: str
    """The cloud document's `StatusEvent` name, e.g. `threshold-crossed`."""
    detail: EventDetail
    """Its `event_detail`."""


def detect(previous: DeviceStatus | None, current: DeviceStatus, settings: EventSettings,
           contract_threshold: int | None = None) -> list[StatusEvent]:
    """The events `current` shows against `previous` (see the module docstring);
    `contract_threshold`: the printer's contract's threshold, a threshold besides the
    configured ones (0 or None: none; an empty supply is `supply-empty` anyway)."""
    if previous is None:
        return []
    events = _supply_events(previous, current, thresholds(settings, contract_threshold),
                            settings.level_jump)
    if _answered(previous) == _answered(current):
        events += _alert_events(previous, current)
    events += _state_events(previous, current)
    events += _contract_events(previous, current)
    return events


def thresholds(settings: EventSettings, contract_threshold: int | None) -> list[int]:
    """The thresholds to judge a printer's levels at, highest first."""
    extra = [contract_threshold] if contract_threshold and 0 < contract_threshold < 100 else []
    return sorted(set(settings.thresholds) | set(extra), reverse=True)


def baseline(previous: DeviceStatus | None, current: DeviceStatus) -> DeviceStatus:
    """What to compare the next reading with: `current`, with what it does not know taken from
    `previous`: the supplies, alerts and contract state when a protocol that answered before did
    not answer now, a supply's level the device now reports as unknown (asleep), and the printer
    state when it is unknown.  Not a reading to upload: a memory for `detect`."""
    if previous is None:
        return current
    memory = current.copy()
    if _answered(previous) - _answered(current):
        memory.supplies = copy.deepcopy(previous.supplies)
        memory.contract = copy.deepcopy(previous.contract)
        memory.state.alerts = copy.deepcopy(previous.state.alerts)
        memory.reachable = {**previous.reachable, **{
            protocol: True for protocol in _answered(current)}}
    else:
        before = _supplies(previous)
        for supply in memory.supplies:
            old = before.get(supply.index)
            if old is not None and _level(supply) is None and _empty(supply) is None \
                    and (_level(old) is not None or _empty(old) is not None):
                for name in _LEVEL_FIELDS:
                    setattr(supply, name, getattr(old, name))
    if memory.state.printer_state == "unknown":
        memory.state.printer_state = previous.state.printer_state
    return memory


# -- supplies ----------------------------------------------------------------------------------

def _supply_events(previous: DeviceStatus, current: DeviceStatus, levels: list[int],
                   level_jump: int) -> list[StatusEvent]:
    before, now = _supplies(previous), _supplies(current)
    contract_known = previous.contract.supported and current.contract.supported
    events: list[StatusEvent] = []
    for index in sorted(set(before) | set(now), key=_index_key):
        old, new = before.get(index), now.get(index)
        if old is not None and new is not None:
            events += _level_events(index, old, new, levels, level_jump)
        if contract_known:
            events += _cartridge_events(index, old, new)
    return events


def _level_events(index: str, old: Supply, new: Supply, levels: list[int],
                  level_jump: int) -> list[StatusEvent]:
    events = []
    was, now = _level(old), _level(new)
    old_id, new_id = old.cartridge_id, new.cartridge_id
    replaced = (bool(old_id) and bool(new_id) and old_id != new_id) or (
        was is not None and now is not None and now - was >= level_jump)
    if replaced:
        events.append(StatusEvent("supply-replaced", EventDetail(
            supply_index=index, previous_cartridge_id=_previous_id(old_id))))
    elif was is not None and now is not None:
        crossed = [t for t in levels if was > t >= now]
        if crossed:
            events.append(StatusEvent("threshold-crossed", EventDetail(
                supply_index=index, threshold_percent=min(crossed))))
    if _empty(old) is False and _empty(new) is True:
        events.append(StatusEvent("supply-empty", EventDetail(supply_index=index)))
    return events


def _cartridge_events(index: str, old: Supply | None, new: Supply | None) -> list[StatusEvent]:
    was_contract = old is not None and old.cartridge_type == "contract"
    is_contract = new is not None and new.cartridge_type == "contract"
    if is_contract and not was_contract:
        return [StatusEvent("contract-cartridge-installed", EventDetail(supply_index=index))]
    if was_contract and not is_contract:
        return [StatusEvent("contract-cartridge-removed", EventDetail(
            supply_index=index, previous_cartridge_id=_previous_id(
                old.cartridge_id if old else None)))]
    return []


def _previous_id(cartridge_id: str | None) -> str | None:
    return cartridge_id[:_ID_LIMIT] if cartridge_id else None


def _level(supply: Supply) -> int | None:
    """The level in percent when it is known."""
    return supply.level_percent if supply.level_state == "known" else None


def _empty(supply: Supply) -> bool | None:
    """True when empty (a receptacle: full), False when known not to be, None when unknown.

    The raw level decides where there is one (0 is empty whatever the capacity; 1 of 1000 rounds
    to 0 % and is not empty), then the states that mean "some left", then the percent."""
    raw = supply.raw_level
    if raw is not None and raw >= 0:
        return raw == 0
    if supply.level_state in ("some-remaining", "unrestricted"):
        return False
    percent = _level(supply)
    return None if percent is None else percent == 0


def _supplies(status: DeviceStatus) -> dict[str, Supply]:
    return {supply.index: supply for supply in status.supplies}


def _index_key(index: str) -> tuple[tuple[int, int, str], ...]:
    """`1.2` before `1.10`; IPP's `ipp.N` after the SNMP rows."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part)
                 for part in index.split("."))


# -- alerts and state --------------------------------------------------------------------------

def _answered(status: DeviceStatus) -> set[str]:
    return {protocol for protocol, ok in status.reachable.items() if ok}


def _alert_events(previous: DeviceStatus, current: DeviceStatus) -> list[StatusEvent]:
    before, now = _alerts(previous), _alerts(current)
    cleared = [StatusEvent("alert-cleared", EventDetail(alert_index=index))
               for index, code in before if (index, code) not in now]
    raised = [StatusEvent("alert-raised", EventDetail(alert_index=index))
              for index, code in now if (index, code) not in before]
    return cleared + raised


def _alerts(status: DeviceStatus) -> list[tuple[str, str | None]]:
    """(index, code) of each alert, in table order, once each."""
    return list(dict.fromkeys((alert.index, alert.code) for alert in status.state.alerts))


def _state_events(previous: DeviceStatus, current: DeviceStatus) -> list[StatusEvent]:
    was, now = previous.state.printer_state, current.state.printer_state
    if was in _READY and now in _READY and _READY[was] != _READY[now]:
        return [StatusEvent("state-changed", EventDetail(previous_state=was))]
    return []


def _contract_events(previous: DeviceStatus, current: DeviceStatus) -> list[StatusEvent]:
    was, now = previous.contract, current.contract
    if not (was.supported and now.supported) or was.mode is None or now.mode is None:
        return []
    if (was.mode, was.printing_prohibited) == (now.mode, now.printing_prohibited):
        return []
    return [StatusEvent("contract-mode-changed", EventDetail(
        previous_mode=was.mode, previous_printing_prohibited=was.printing_prohibited))]
