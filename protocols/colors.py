"""Supply colours: from a Printer-MIB colorant value, a description in several languages, or IPP.

Shared vocabulary of devices, used by the gateway's mapping and by the simulator.

The result is always one of the canonical names below, or None when nothing tells.
"""

from __future__ import annotations

import re

CANONICAL = (
    "black",
    "cyan",
    "magenta",
    "yellow",
    "photo-black",
    "matte-black",
    "light-cyan",
    "light-magenta",
    "gray",
    "light-gray",
    "red",
    "green",
    "blue",
    "orange",
    "violet",
    "white",
    "clear",
    "multi-color",
)

# Words for each colour in the descriptions real printers send (en, de, fr, es, it, nl, pt, ja,
# zh, ko, pl, sv, cs, ru).  Longer phrases are tried first so that "light cyan" wins over "cyan".
_WORDS: dict[str, tuple[str, ...]] = {
    "photo-black": ("photo black", "photoblack", "photo-black", "fotoschwarz", "noir photo",
                    "negro foto", "nero foto", "フォトブラック"),
    "matte-black": ("matte black", "matt black", "matteblack", "mattschwarz", "noir mat",
                    "negro mate", "nero opaco", "マットブラック"),
    "light-cyan": ("light cyan", "light-cyan", "lightcyan", "photo cyan", "hell cyan", "hellcyan",
                   "cyan clair", "cian claro", "ciano chiaro", "ライトシアン"),
    "light-magenta": ("light magenta", "light-magenta", "lightmagenta", "photo magenta",
                      "hell magenta", "hellmagenta", "magenta clair", "magenta claro",
                      "magenta chiaro", "ライトマゼンタ"),
    "light-gray": ("light gray", "light grey", "light-gray", "hellgrau", "gris clair",
                   "ライトグレー"),
    "black": ("black", "schwarz", "noir", "negro", "nero", "zwart", "preto", "svart", "czarny",
              "černá", "cerna", "черный", "чёрный", "ブラック", "黒", "黑", "검정", "블랙"),
    "cyan": ("cyan", "cian", "ciano", "cyaan", "azul", "シアン", "青", "青色", "시안",
             "голубой"),
    "magenta": ("magenta", "purpurowy", "マゼンタ", "赤", "品红", "洋红", "마젠타",
                "пурпурный"),
    "yellow": ("yellow", "gelb", "jaune", "amarillo", "giallo", "geel", "amarelo", "gul", "żółty",
               "zolty", "žlutá", "イエロー", "黄", "黄色", "노랑", "옐로", "желтый",
               "жёлтый"),
    "gray": ("gray", "grey", "grau", "gris", "grigio", "grijs", "cinza", "グレー", "灰"),
    "red": ("red", "rot", "rouge", "rojo", "rosso", "rood", "vermelho", "レッド"),
    "green": ("green", "grün", "grun", "vert", "verde", "groen", "グリーン"),
    "blue": ("blue", "blau", "bleu", "blu", "blauw", "ブルー"),
    "orange": ("orange", "naranja", "arancione", "オレンジ"),
    "violet": ("violet", "violett", "violeta", "viola", "バイオレット"),
    "white": ("white", "weiß", "weiss", "blanc", "blanco", "bianco", "ホワイト"),
    "clear": ("clear coat", "clear", "transparent", "gloss optimizer", "クリア"),
}

_PATTERNS: list[tuple[str, re.Pattern[str]]] = []
for _name, _words in _WORDS.items():
    for _word in _words:
        if _word.isascii():
            _PATTERNS.append((_name, re.compile(rf"(?<![a-z]){re.escape(_word)}(?![a-z])")))
        else:
            _PATTERNS.append((_name, re.compile(re.escape(_word))))
_PATTERNS.sort(key=lambda p: -len(p[1].pattern))

_SHORT_NAMES = {"bk": "black", "k": "black", "c": "cyan", "m": "magenta", "y": "yellow",
                "pk": "photo-black", "mk": "matte-black", "lc": "light-cyan",
                "lm": "light-magenta"}

_SHORT_RE = re.compile(r"(?:^|[\s(\[/_-])(bk|pk|mk|lc|lm|k|c|m|y)(?=$|[\s)\]/_-])")

_HEX_COLORS = {
    "#000000": "black",
    "#00ffff": "cyan",
    "#ff00ff": "magenta",
    "#ffff00": "yellow",
    "#808080": "gray",
    "#ff0000": "red",
    "#00ff00": "green",
    "#0000ff": "blue",
    "#ffffff": "white",
}


def normalise_name(value: str | None) -> str | None:
    """A colour name as devices and IPP spell it (`Black`, `photo black`) → canonical name."""
    if not value:
        return None
    key = value.strip().lower().replace("_", "-").replace(" ", "-")
    if key in CANONICAL:
        return key
    if key in ("grey",):
        return "gray"
    if key in ("none", "unknown", "other", "no-color", ""):
        return None
    return from_description(value)


def from_description(text: str | None) -> str | None:
    """Guess a supply's colour from its free-text description, or None when nothing tells."""
    if not text:
        return None
    lowered = text.lower()
    for name, pattern in _PATTERNS:
        if pattern.search(lowered):
            return name
    # Abbreviations standing as a word of their own: "Toner (K)", "BK", "C-Toner", "PK ink"
    match = _SHORT_RE.search(lowered)
    if match:
        return _SHORT_NAMES[match.group(1)]
    return None


def from_ipp_marker_color(value: str | None) -> str | None:
    """IPP `marker-colors`: `#RRGGBB` (several joined by `#` for multi-colour units) or `none`."""
    if not value:
        return None
    parts = [p for p in value.lower().split("#") if p]
    if len(parts) > 1:
        return "multi-color"
    if len(parts) == 1 and re.fullmatch(r"[0-9a-f]{6}", parts[0]):
        return _HEX_COLORS.get("#" + parts[0])
    return normalise_name(value)
