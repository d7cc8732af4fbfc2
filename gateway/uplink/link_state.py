"""What the status page and `printgw status` show about the cloud link (`CloudLink.status`)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class LinkState:
    """What the status page and `printgw status` show about the link."""

    connected: bool = False
    channel: str = "down"
    """`push` (WebSocket open), `polling` (fall-back) or `down`."""
    last_sync: float | None = None
    last_error: str | None = None
    errors: int = 0
    changes_handled: int = 0
    activations_sent: int = 0
    skipped: dict[int, str] = field(default_factory=dict)
    """Devices that cannot be registered, and why (no serial, the cloud refused its identity…)."""
