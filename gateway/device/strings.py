"""Text as printers send it: NUL-padded, in odd charsets, sometimes half hex dump."""

from __future__ import annotations

import functools
import re
import unicodedata

_HEX_PAIRS = re.compile(r"^(?:[0-9A-Fa-f]{2}\s+)*[0-9A-Fa-f]{2}\s*$")
_HEX_PREFIXED = re.compile(r"^0x((?:[0-9A-Fa-f]{2})+)$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co"})
"""Unicode categories of characters that are never part of a printer's name or number."""
_FRAMING = "".join(map(chr, range(0x21))) + "\x7f"
"""Control characters and spaces around a text: padding, or a vendor's framing (HP's PML objects
start with two bytes of type and length), not part of it."""


def _decode_bytes(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:  # Japanese devices answer in Shift_JIS
        text = raw.decode("cp932")
        if re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", text):
            return text
    except UnicodeDecodeError:
        pass
    return raw.decode("latin-1")


def _repair_hex_tail(text: str) -> str:
    """HP firmware bug: a description's second half arrives as a hex dump on following lines.

    `"Black Cartridge \\n38 32 37 41 20 48 50 20 43 46 33 30 30 41 00 "` is
    `"Black Cartridge 827A HP CF300A"`.
    """
    head, _, tail = text.partition("\n")
    lines = [line for line in tail.split("\n") if line.strip()]
    if not lines or not all(_HEX_PAIRS.match(line.strip()) for line in lines):
        return text
    decoded = bytes.fromhex("".join("".join(line.split()) for line in lines))
    return head + _decode_bytes(decoded.split(b"\x00", 1)[0])


def decode_text(raw: bytes | str | None) -> str | None:
    """A printer's OCTET STRING as readable text, or None when nothing is left of it."""
    return decode_checked(raw)[0]


def decode_checked(raw: bytes | str | None) -> tuple[str | None, tuple[str, ...]]:
    """`decode_text`, and what it had to throw away to get there beyond padding and framing (control
    characters around the text): text after a NUL byte (a NUL-terminated string followed by more
    than NUL or space padding), control characters inside the text.  The identity fields use
    it: an altered serial is another identity (`gateway.device.fields.identity_text`).

    Printers send the same texts at every reading: short ones are decoded once (a cache of the
    last `_CACHED_TEXTS`); printable ASCII, which needs none of the repairs, is not cached."""
    if raw is None:
        return None, ()
    if raw.isascii():  # printable ASCII, the common case: nothing to repair but spaces around
        text = raw if isinstance(raw, str) else raw.decode("ascii")
        if text.isprintable() and not (text := text.strip(" ")).startswith("0x"):
            return text or None, ()
    if len(raw) <= _CACHED_LENGTH:
        return _decode_cached(raw)
    return _decode_checked(raw)


_CACHED_LENGTH = 256
_CACHED_TEXTS = 4096


def _decode_checked(raw: bytes | str) -> tuple[str | None, tuple[str, ...]]:
    damage: list[str] = []
    text = _decode_bytes(raw) if isinstance(raw, bytes) else raw
    text, nul, tail = text.partition("\x00")  # NUL-terminated and NUL-padded strings
    if nul and tail.strip("\x00 \t\r\n"):
        damage.append(f"text after a NUL byte ({tail.strip(chr(0))!r:.40})")
    match = _HEX_PREFIXED.match(text.strip())
    if match:
        text = _decode_bytes(bytes.fromhex(match.group(1))).split("\x00", 1)[0]
    if "\n" in text:
        text = _repair_hex_tail(text)
    text = text.strip(_FRAMING)
    if _CONTROL.search(text):
        damage.append("control characters")
    text = _CONTROL.sub("", text).strip()
    return text or None, tuple(damage)


_decode_cached = functools.lru_cache(maxsize=_CACHED_TEXTS)(_decode_checked)


def without_invisible(text: str) -> tuple[str, bool]:
    """`text` without the characters no label shows: controls (C0, DEL, C1), format characters
    (zero-width, bidirectional overrides), surrogates, private use; a tab or line break inside
    becomes a space.  True when the text inside (its ends stripped) was changed."""
    text = text.strip()
    if text.isprintable():  # nothing to remove (the common case): no control, format, private
        return text, False  # use or surrogate character, and no white space but spaces
    kept = "".join(" " if ch.isspace() else ch for ch in text
                   if ch.isspace() or unicodedata.category(ch) not in _INVISIBLE)
    return kept.strip(), kept != text


def format_mac(raw: bytes | str | None) -> str | None:
    """ifPhysAddress → `aa:bb:cc:dd:ee:ff`; None for anything that is not a real 6-octet MAC."""
    if not isinstance(raw, bytes) or len(raw) != 6 or raw == b"\x00" * 6 or raw == b"\xff" * 6:
        return None
    return raw.hex(":")
