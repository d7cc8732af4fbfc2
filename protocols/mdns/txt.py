"""TXT records as printers send them: bytes that may not be UTF-8, keys in any case.

Decoding never raises: a malformed TXT record gives what could be read of it.
"""

from __future__ import annotations

import unicodedata
import uuid as uuidlib
from collections.abc import Iterable, Iterator, Mapping

_TRUE = frozenset({"t", "true", "y", "yes", "on", "1"})
_FALSE = frozenset({"f", "false", "n", "no", "off", "0"})


def _text(raw: bytes | str | None) -> str:
    """Bytes of a TXT key or value as printable text.

    UTF-8 first (what the printing specs require); Latin-1 otherwise, which older printers use in
    `note` and which never fails.  NUL padding and control characters are dropped.
    """
    if raw is None:
        return ""
    if isinstance(raw, bytes):
        raw = raw.rstrip(b"\x00")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
    else:
        text = raw
    if not text.isprintable():
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Cc")
    return text.strip()


class TxtRecord(Mapping[str, str]):
    """Decoded TXT key/value pairs.  Look-ups ignore case (`UUID`, `uuid`: vendors differ); as in
    RFC 6763 §6.4 only a key's first occurrence counts.  A key without `=` maps to `""`.
    Immutable and hashable; iteration yields the keys as advertised."""

    __slots__ = ("_by_lower", "_items")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        pairs: list[tuple[str, str]] = []
        by_lower: dict[str, str] = {}
        for key, value in items:
            k, v = _text(key), _text(value)
            if not k or k.lower() in by_lower:
                continue
            by_lower[k.lower()] = v
            pairs.append((k, v))
        self._items = tuple(pairs)
        self._by_lower = by_lower

    @classmethod
    def from_properties(cls, properties: Mapping[bytes, bytes | None]) -> TxtRecord:
        """From zeroconf's `ServiceInfo.properties` (raw bytes, possibly not UTF-8)."""
        return cls((_text(k), _text(v)) for k, v in properties.items())

    def __getitem__(self, key: str) -> str:
        if not isinstance(key, str):
            raise KeyError(key)
        return self._by_lower[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._by_lower

    def __iter__(self) -> Iterator[str]:
        return (k for k, _v in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TxtRecord):
            return self._items == other._items
        if isinstance(other, Mapping):
            return dict(self._items) == dict(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._items)

    def __repr__(self) -> str:
        return f"TxtRecord({dict(self._items)!r})"


def normalise_uuid(value: str | None) -> str | None:
    """`urn:uuid:0F…`, `{0f…}` or 32 hex digits → `0f…-…` in lowercase; None if not a UUID."""
    if not value:
        return None
    text = value.strip().lower().removeprefix("urn:uuid:")
    try:
        return str(uuidlib.UUID(text))
    except ValueError:
        return None


def txt_flag(value: str | None) -> bool | None:
    """A TXT boolean (`T`/`F` and the like); None when absent or unreadable."""
    if value is None:
        return None
    v = value.strip().lower()
    return True if v in _TRUE else False if v in _FALSE else None
