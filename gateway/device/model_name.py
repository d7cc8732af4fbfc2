"""The model as the vendor names it, chosen from every place a printer names itself.

Printers name their model in several places, and not all of them name the model:

- the vendor's own model object (`protocols.snmp.vendors`: Canon, Ricoh, Samsung, Kyocera…);
- the IEEE 1284 device ID's `MDL` (HP gives its driver family there: `HP LaserJet MFP M129-M134`
  on an M130nw) and `DES` (HP's exact model; elsewhere often a generic description);
- IPP `printer-make-and-model`;
- `sysDescr`, with firmware, serial and service tags glued on (`Xerox AltaLink C8045; SS 100…`,
  `Samsung M4080FX; V11.01…`), or naming the network card (`HP ETHERNET MULTI-ENVIRONMENT,…,
  PID:HP LaserJet MFP M130nw`, `OKI OkiLAN 9450g … Attached to MC873 Rev.07.87`);
- `hrDeviceDescr` of the printer, often the driver's name (`Samsung M408x Series`,
  `Brother MFC-L2710DW series`).

Each candidate is cleaned (`clean_model`: tails after `;`, `,` or ` / `, firmware and version
tails, a duplicated vendor prefix, a `series` suffix) and classified: a *family* name stands for
several models (a wildcard `M408x`, a range `M129-M134`), a *series* name is a driver's name for
one model or a family, a *generic* name names no model (no digit at all, `Generic …`).  Then
`choose_model` picks, in this documented preference:

1. a name is dropped when another candidate names a model inside it (`M4080FX` is in the family
   `M408x`, `M130nw` in `M129-M134`; `M401dne` is the `M401` with its variant's letters): the
   more specific name is the device's;
2. a generic name is taken only when nothing else names the device;
3. otherwise by source: the vendor's model object, the device ID's `MDL`, IPP's
   `printer-make-and-model`, `sysDescr`, `hrDeviceDescr`, the device ID's `DES`.

SNMP is mapped before IPP: `apply_snmp` sets the SNMP winner, and `apply_ipp` offers its
candidates against it (`better_model`), so IPP replaces only a worse name.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

SOURCE_RANKS: tuple[tuple[str, int], ...] = (
    ("snmp:1.3.6.1.4.1.", 0),  # a vendor's model object
    ("snmp:device-id", 1),
    ("ipp:printer-device-id", 1),
    ("ipp:printer-make-and-model", 2),
    ("snmp:sysDescr", 3),
    ("snmp:hrDeviceDescr", 4),
    ("snmp:device-id DES", 5),
    ("ipp:printer-device-id DES", 5),
)
"""Source prefix → preference (lower first); the longest matching prefix counts."""

_TAIL_SEPARATORS = re.compile(r"\s*(?:;|,|\s/\s|\s\(|\s-\s|\s/\S*$).*$")
"""Where a name ends: `;`, `,`, ` / `, ` (`, ` - `, and a controller suffix (`Canon LBP6670 /P`)."""
_VERSION_TAIL = re.compile(
    r"(?:\s+(?:v(?:er(?:sion)?)?\.?\s*\d+\.\d[\w.-]*|rev\.?\s*\d[\w.-]*|fw[:\s].*|firmware\b.*|"
    r"rom\b.*|\d+(?:\.\d+)+[\w.-]*))+$", re.IGNORECASE)
_FIRMWARE_WORDS = re.compile(r"\s+(?:version|ver\.?|firmware|fw:?|rom|kernel|engine)\b.*$",
                             re.IGNORECASE)
_SERIES = re.compile(r"\s+series$", re.IGNORECASE)
_NIC = re.compile(r"ethernet|print ?server|jetdirect|built-in|\bNC-\d|network|okilan|\bNIC\b",
                  re.IGNORECASE)
_HP_PID = re.compile(r"(?:^|,)\s*PID:([^,;]+)")
_ATTACHED_TO = re.compile(r"\bAttached to\s+([^:;,]+?)(?:\s+Rev\.|\s*[:;,]|$)")
_GENERIC = re.compile(r"\bgeneric\b|\bdriver\b|\bclass driver\b", re.IGNORECASE)
_WILDCARD = re.compile(r"^(?P<stem>[A-Za-z]*-?[A-Za-z]*\d+)(?P<x>x+)$", re.IGNORECASE)
_RANGE = re.compile(r"^(?P<p1>[A-Za-z]+)(?P<lo>\d+)-(?P<p2>[A-Za-z]+)?(?P<hi>\d+)$")


@dataclass(frozen=True)
class ModelCandidate:
    """One source's name for the model, cleaned, with what kind of name it is."""

    name: str
    source: str
    series: bool = False
    """The source called it a series (a driver's name: `Brother MFC-L2710DW series`)."""

    @property
    def rank(self) -> int:
        return _rank(self.source)

    @property
    def codes(self) -> tuple[str, ...]:
        """The name's model codes: its words holding a digit (`M130nw`, `MFC-L2710DW`)."""
        return _codes(self.name)

    @property
    def generic(self) -> bool:
        return _generic(self.name)

    @property
    def family(self) -> bool:
        return _family(self.name)

    def contains(self, other: ModelCandidate) -> bool:
        """Whether `other` names a model inside this family (`M408x`, `M129-M134`), or the same
        model with its variant's letters (`M401` → `M401dne`): a more specific name."""
        return any(_code_within(mine, theirs)
                   for mine in self.codes for theirs in other.codes)


# A printer names itself with the same texts at every reading, and a fleet has few models: what
# is worked out of a name or a source is kept (bounded caches), not worked out again.

@functools.lru_cache(maxsize=256)
def _rank(source: str) -> int:
    best = (-1, 9)
    for prefix, rank in SOURCE_RANKS:
        if source.startswith(prefix) and len(prefix) > best[0]:
            best = (len(prefix), rank)
    return best[1]


@functools.lru_cache(maxsize=2048)
def _codes(name: str) -> tuple[str, ...]:
    return tuple(word for word in name.split() if any(ch.isdigit() for ch in word))


@functools.lru_cache(maxsize=2048)
def _generic(name: str) -> bool:
    return not _codes(name) or bool(_GENERIC.search(name))


@functools.lru_cache(maxsize=2048)
def _family(name: str) -> bool:
    return any(_WILDCARD.match(code) or _RANGE.match(code) for code in _codes(name))


@functools.lru_cache(maxsize=4096)
def _code_within(family: str, code: str) -> bool:
    family, code = family.upper(), code.upper()
    if (match := _WILDCARD.match(family)) is not None:
        stem, wild = match["stem"], len(match["x"])
        return len(code) >= len(stem) + wild and code.startswith(stem) and code != family
    if (match := _RANGE.match(family)) is not None:
        found = re.match(r"^([A-Z]+)(\d+)", code)
        return (found is not None and found[1] in (match["p1"], match["p2"] or match["p1"])
                and int(match["lo"]) <= int(found[2]) <= int(match["hi"]))
    return len(code) > len(family) and code.startswith(family) and code[len(family):].isalpha()


def clean_model(text: str | None, source: str) -> ModelCandidate | None:
    """A source's text as a model candidate, or None when it names no printer (a network card)."""
    if not text:
        return None
    return _candidate(text, source)


@functools.lru_cache(maxsize=2048)
def _candidate(text: str, source: str) -> ModelCandidate | None:
    cleaned = _cleaned(text, source.startswith("snmp:sysDescr"))
    return ModelCandidate(cleaned[0], source, cleaned[1]) if cleaned else None


@functools.lru_cache(maxsize=2048)
def _cleaned(text: str, sys_descr: bool) -> tuple[str, bool] | None:
    """`clean_model`'s name and whether it was a series, or None."""
    text = " ".join(text.split())
    if sys_descr:
        if match := _HP_PID.search(text) or _ATTACHED_TO.search(text):
            text = match.group(1)
        elif _NIC.search(_TAIL_SEPARATORS.sub("", text)):
            return None
    name = _FIRMWARE_WORDS.sub("", _TAIL_SEPARATORS.sub("", text)).strip()
    name = _VERSION_TAIL.sub("", name).strip()
    series = bool(_SERIES.search(name))
    name = _SERIES.sub("", name).strip()
    name = _without_repeated_prefix(name)
    if not name or _NIC.search(name):
        return None
    return name, series


def _without_repeated_prefix(name: str) -> str:
    """`HP HP LaserJet M404` → `HP LaserJet M404` (a vendor's name given twice)."""
    words = name.split()
    for size in (2, 1):
        if len(words) >= 2 * size and [w.lower() for w in words[:size]] == [
                w.lower() for w in words[size:2 * size]]:
            return " ".join(words[size:])
    return name


def choose_model(candidates: list[ModelCandidate]) -> ModelCandidate | None:
    """The candidate that names the device best (the preference in the module's docstring)."""
    winner = _winner(tuple(candidates))
    return None if winner is None else candidates[winner]


@functools.lru_cache(maxsize=1024)
def _winner(candidates: tuple[ModelCandidate, ...]) -> int | None:
    """`choose_model`'s choice, by its position: the printers of one model offer the same
    candidates at every reading."""
    kept = [i for i, c in enumerate(candidates)
            if not any(j != i and c.contains(o) for j, o in enumerate(candidates))]
    named = [i for i in kept if not candidates[i].generic] or kept
    if not named:
        return None
    return min(named, key=lambda i: (candidates[i].rank, candidates[i].family,
                                     candidates[i].series))


def better_model(current: str | None, current_source: str | None,
                 offers: list[ModelCandidate]) -> ModelCandidate | None:
    """The offer that should replace the model already chosen (`current`, from
    `current_source`), or None to keep it."""
    if not offers:
        return None
    kept = clean_model(current, current_source or "") if current else None
    candidates = ([kept] if kept else []) + offers
    winner = _winner(tuple(candidates))
    if winner is None or (kept is not None and winner == 0):
        return None
    return candidates[winner]
