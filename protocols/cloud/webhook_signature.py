"""The signature of the reference cloud's webhooks (`docs/webhooks.md`), for the sender and for
receivers.

Every delivery carries `Printgw-Signature: t=<unix seconds>,v1=<hex>`, where the hex is
HMAC-SHA256, keyed with the shared secret, over `<t>.` followed by the exact request body bytes.
A receiver recomputes it, compares in constant time and refuses timestamps further than
`tolerance` from its clock (a captured delivery cannot be replayed later; a replay within the
tolerance carries the same `Idempotency-Key` and is recognised by it).
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "Printgw-Signature"
DEFAULT_TOLERANCE = 300.0
"""Seconds a receiver accepts between the signature's timestamp and its own clock."""


def sign(secret: bytes, body: bytes, timestamp: int | None = None) -> str:
    """The header value for `body` signed now (or at `timestamp`)."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={_mac(secret, t, body)}"


def verify(secret: bytes, header: str | None, body: bytes, *,
           tolerance: float = DEFAULT_TOLERANCE, now: float | None = None) -> bool:
    """Whether `header` (the Printgw-Signature value) signs `body` with `secret`, within
    `tolerance` seconds of `now`.  Several `v1=` values (a secret being rotated) are accepted."""
    if not header:
        return False
    timestamp, macs = None, []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            macs.append(value)
    if timestamp is None or not macs:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = _mac(secret, timestamp, body)
    return any(hmac.compare_digest(expected, mac) for mac in macs)


def _mac(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
