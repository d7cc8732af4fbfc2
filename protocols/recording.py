"""A support recording's files (`printgw record` writes them, `printgw-sim` replays them).

Beside `NAME.snmprec` (the default SNMP context, snmpsim's format) lie `NAME@CONTEXT.snmprec` for
each named context (the community snmpsim serves a context under), `NAME.ipp` (the IPP
Get-Printer-Attributes answer's body) and `NAME.recording.json`, the manifest: what was recorded,
when, by which printgw, masked or not, and what could not be read.  The manifest is what makes a
`.snmprec` a support recording that the simulator replays exactly as recorded.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

SNMPREC = ".snmprec"
MANIFEST = ".recording.json"
IPP_ANSWER = ".ipp"


@dataclass(frozen=True)
class RecordingFiles:
    """The paths of one recording, from its main `.snmprec` file."""

    snmprec: Path

    @property
    def name(self) -> str:
        return self.snmprec.name.removesuffix(SNMPREC)

    def _beside(self, suffix: str) -> Path:
        return self.snmprec.with_name(self.name + suffix)

    def context(self, context: str) -> Path:
        return self._beside(f"@{context}{SNMPREC}")

    @property
    def ipp(self) -> Path:
        return self._beside(IPP_ANSWER)

    @property
    def manifest(self) -> Path:
        return self._beside(MANIFEST)


@dataclass
class Manifest:
    printgw_version: str
    recorded_at: str
    """UTC, ISO 8601."""
    masked: bool
    contexts: list[str] = field(default_factory=list)
    """The named SNMP contexts recorded (each in `NAME@CONTEXT.snmprec`)."""
    ipp: bool = False
    """Whether `NAME.ipp` holds an IPP answer."""
    host: str | None = None
    """The device's address; not kept in a masked recording."""
    problems: list[str] = field(default_factory=list)
    """What could not be read (a walk cut short, IPP not answering)."""

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n",
                        encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> Manifest:
        """Raises ValueError for a file that is not a manifest."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**data)
        except (OSError, json.JSONDecodeError, TypeError) as exc:
            raise ValueError(f"{path}: not a recording manifest ({exc})") from exc
