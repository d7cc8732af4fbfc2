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

# Words for each colour in the descriptions real printers send: en, de, fr, es, it, nl, pt, pl,
# sv, da/no, fi, cs, hu, ru, tr; Japanese, simplified and traditional Chinese, Korean.  Longer
# phrases are tried first, so that "light cyan" wins over "cyan" and 洋紅色 over 紅.
# CJK usage on printers: 青 (青色) is cyan in Chinese CMYK naming (HP, Canon, Epson: 青色墨盒);
# Japanese printers write cyan as シアン, and 赤 is red in Japanese (never magenta); 藍/蓝 alone
# is blue, 藍綠 (blue-green) cyan; magenta is 品红/洋红 (traditional 品紅/洋紅), マゼンタ, 마젠타 or
# 자홍 (Korean), and Korean cyan is 시안 or 청록.
_WORDS: dict[str, tuple[str, ...]] = {
    "photo-black": ("photo black", "photoblack", "photo-black", "fotoschwarz", "noir photo",
                    "negro foto", "nero foto", "フォトブラック", "照片黑", "相片黑"),
    "matte-black": ("matte black", "matt black", "matteblack", "mattschwarz", "noir mat",
                    "negro mate", "nero opaco", "マットブラック", "哑光黑", "消光黑", "霧黑"),
    "light-cyan": ("light cyan", "light-cyan", "lightcyan", "photo cyan", "hell cyan", "hellcyan",
                   "cyan clair", "cian claro", "ciano chiaro", "ライトシアン", "淡青", "浅青",
                   "淺青"),
    "light-magenta": ("light magenta", "light-magenta", "lightmagenta", "photo magenta",
                      "hell magenta", "hellmagenta", "magenta clair", "magenta claro",
                      "magenta chiaro", "ライトマゼンタ", "淡品红", "浅品红", "淡洋红", "淡品紅",
                      "淺品紅", "淡洋紅"),
    "light-gray": ("light gray", "light grey", "light-gray", "hellgrau", "gris clair",
                   "ライトグレー", "淡灰", "浅灰", "淺灰"),
    "black": ("black", "schwarz", "noir", "negro", "nero", "zwart", "preto", "svart", "sort",
              "czarny", "czarna", "černá", "cerna", "černý", "musta", "fekete", "siyah",
              "черный", "чёрный", "ブラック", "黒", "黑", "검정", "검은색", "블랙"),
    "cyan": ("cyan", "cian", "ciano", "cyaan", "cyjan", "błękitny", "azurová", "syaani", "cián",
             "camgöbeği", "голубой", "циан", "シアン", "青", "藍綠", "蓝绿", "시안", "청록"),
    "magenta": ("magenta", "purpurowy", "purpurová", "bíbor", "macenta", "eflatun", "пурпурный",
                "マゼンタ", "品红", "洋红", "品紅", "洋紅", "마젠타", "자홍"),
    "yellow": ("yellow", "gelb", "jaune", "amarillo", "giallo", "geel", "amarelo", "gul", "żółty",
               "żółta", "zolty", "žlutá", "keltainen", "sárga", "sar\u0131", "желтый", "жёлтый",
               "イエロー", "黄", "黃", "노랑", "노란색", "옐로"),
    "gray": ("gray", "grey", "grau", "gris", "grigio", "grijs", "cinza", "グレー", "灰"),
    "red": ("red", "rot", "rouge", "rojo", "rosso", "rood", "vermelho", "レッド", "赤", "红", "紅",
            "빨강"),
    "green": ("green", "grün", "grun", "vert", "verde", "groen", "グリーン", "绿", "綠"),
    "blue": ("blue", "blau", "bleu", "blu", "blauw", "azul", "ブルー", "蓝", "藍", "파랑"),
    "orange": ("orange", "naranja", "arancione", "オレンジ", "橙"),
    "violet": ("violet", "violett", "violeta", "viola", "バイオレット", "紫"),
    "white": ("white", "weiß", "weiss", "blanc", "blanco", "bianco", "ホワイト", "白"),
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


_CODE = re.compile(r"[^\s()\[\],;:/]*\d[^\s()\[\],;:/]*")
"""A word holding a digit: a part number or a code (`PK-1011`, `TK-5240K`, `CLT-K504S`, `CF217A`,
`106R03745`, `T9441`), never a colour word; its letters are not read as colour abbreviations."""

_PART_NUMBER_COLOURS: tuple[tuple[re.Pattern[str], dict[str, str]], ...] = (
    # Kyocera toner kits: TK-5240K/C/M/Y (the letter after the number is the colour)
    (re.compile(r"\bTK-?\d{3,4}([KCMY])\b"), {"K": "black", "C": "cyan", "M": "magenta",
                                             "Y": "yellow"}),
    # Samsung colour toners: CLT-K504S/C504S/M504S/Y504S (the letter after CLT- is the colour)
    (re.compile(r"\bCLT-([KCMY])\d"), {"K": "black", "C": "cyan", "M": "magenta",
                                      "Y": "yellow"}),
    # Brother toners and inks: TN-247BK/C/M/Y, LC3219XLBK
    (re.compile(r"\b(?:TN|LC)-?\d{2,4}[A-Z]*?(BK|C|M|Y)\b"), {
        "BK": "black", "C": "cyan", "M": "magenta", "Y": "yellow"}),
)
"""Part numbers whose maker's convention names the colour, and only those."""


def from_description(text: str | None) -> str | None:
    """Guess a supply's colour from its free-text description, or None when nothing tells.

    Colour words first (in any of the languages above), then a colour letter standing as a
    word of its own (`Toner (K)`, `BK`, `C-Toner`), both outside part numbers; then a part number
    of a maker whose numbering names the colour (`from_part_number`)."""
    if not text:
        return None
    words = _CODE.sub(" ", text.lower())
    for name, pattern in _PATTERNS:
        if pattern.search(words):
            return name
    match = _SHORT_RE.search(words)
    if match:
        return _SHORT_NAMES[match.group(1)]
    return from_part_number(text)


def from_part_number(text: str | None) -> str | None:
    """The colour a part number names by its maker's convention (`TK-5240K`, `CLT-C504S`,
    `TN-247Y`), or None."""
    for pattern, names in _PART_NUMBER_COLOURS:
        if match := pattern.search((text or "").upper()):
            return names[match.group(1)]
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
