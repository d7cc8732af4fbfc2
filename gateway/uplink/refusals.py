"""Devices whose identity the cloud refuses to register, so that none is asked for in a loop.

S0603 answered 400, 409 (`serial-conflict`), 413 or 422 refuses this registration request as it
is: sending it again unchanged cannot help.  The refusal is kept in the store (`CloudState`:
the request's fingerprint, the reason, when) so that it survives a restart and the status page
shows it; the same request is sent again only after the sync interval (at most once per FIG. 7
round), a changed one (the device's identity changed: another serial, model, UUID…) at once.
401 and 403 concern the gateway, not the device: they are errors like any other.
"""

from __future__ import annotations

import hashlib
import json
import logging

from gateway.uplink.cloud_state import CloudState
from protocols.cloud.errors import CloudRejected
from protocols.cloud.registration import PrinterRegistration

log = logging.getLogger(__name__)

REFUSED_IDENTITY = frozenset({400, 409, 413, 422})
"""The S0603 answers that refuse the device's registration request itself."""


def fingerprint(request: PrinterRegistration) -> str:
    """A registration request's fingerprint: the same identity makes the same request."""
    body = json.dumps(request.to_json(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def withheld(state: CloudState, device_id: int, request: PrinterRegistration,
             interval: float) -> str | None:
    """Why `request` is not to be sent now (the cloud refused this very request less than
    `interval` seconds ago), or None: send it."""
    refusal = state.refusal(device_id)
    if refusal is None or refusal.fingerprint != fingerprint(request) \
            or state.clock() - refusal.refused_at >= interval:
        return None
    return refusal.reason


def record(state: CloudState, device_id: int, request: PrinterRegistration, exc: CloudRejected,
           interval: float) -> str:
    """Keep the cloud's refusal of `request` (logged); the reason, as the status page shows it."""
    reason = f"registration refused: {str(exc).removeprefix(f'{exc.operation}: ')}"
    state.set_refusal(device_id, fingerprint(request), exc.status, reason)
    log.warning("cloud: device %s (serial %.40r): %s; not asked again until its identity changes "
                "or for %.0f s", device_id, request.serial, reason, interval)
    return reason
