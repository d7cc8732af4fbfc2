"""What part of the printer a supply is: toner, ink, drum, fuser, transfer belt, feed rollers,
waste box, finisher supplies, a maintenance kit… (`Supply.part`), and its remaining life in pages
where the device counts it in impressions or sheets (`Supply.remaining_pages`).

The Printer-MIB supply type decides where it is given (`PART_BY_KIND`); where the type column is
missing or says `other`/`unknown` (Samsung's rollers, many recordings), the description does, in
the languages printers use, and the part-number prefixes whose makers' numbering is documented
(Kyocera `MK-`/`PK-` maintenance kits, `DK-` drums, `WT-` waste boxes; Brother `DR-` drums).
Parts other than marking agents and drums have no colour (`COLOURLESS`).
"""

from __future__ import annotations

import functools
import re

from gateway.device.model import Supply
from protocols import colors

PART_BY_KIND: dict[str, str] = {
    "toner": "toner", "tonerCartridge": "toner", "matteToner": "toner",
    "ink": "ink", "inkCartridge": "ink", "inkRibbon": "ink", "solidWax": "ink",
    "ribbonWax": "ink", "matteInk": "ink",
    "wasteToner": "waste", "wasteInk": "waste", "wasteWax": "waste", "wasteWater": "waste",
    "wastePaper": "waste",
    "opc": "drum", "coronaWire": "drum", "developer": "developer",
    "fuser": "fuser", "fuserOil": "fuser", "fuserOilWick": "fuser", "fuserCleaningPad": "fuser",
    "fuserOiler": "fuser",
    "cleanerUnit": "cleaner", "transferUnit": "transfer",
    "staples": "finisher", "stitchingWire": "finisher", "bindingSupply": "finisher",
    "bandingSupply": "finisher", "shrinkWrap": "finisher", "paperWrap": "finisher",
    "inserts": "finisher", "covers": "finisher",
    "water": "other", "glueWaterAdditive": "other",
}
"""RFC 3805 / IANA `PrtMarkerSuppliesTypeTC` name → part category."""

COLOURLESS = frozenset({"waste", "fuser", "cleaner", "transfer", "feed", "finisher",
                        "maintenance-kit"})
"""Parts that have no colour, whatever letters a code in their description holds."""
PER_COLOUR = frozenset({"drum", "developer"})
"""Parts a colour printer has one of per colour; a mono printer's single one has no colour."""
MARKING = frozenset({"toner", "ink"})

_WORDS: tuple[tuple[str, str], ...] = (
    # first match wins: "Waste Toner" is waste, "Fuser Kit" a fuser, "Transfer Roller" transfer,
    # "Transfer Belt Cleaner" a cleaner
    ("waste", r"waste|résiduel|residuel|resttoner|rest-?toner|abfall|recuperador|recupero|"
              r"collection|toner collect|廃トナー|廃インク|废粉|廢粉|废墨|廢墨|폐토너|폐잉크|"
              r"collecteur|contenitore|"),
    ("maintenance-kit", r"maintenance|wartung|mantenimiento|manutenzione|manutenção|"
                        r"onderhoud|konserwac|メンテナンス|维护|維護|保养|유지보수|"
                        r"\bMK-\d|\bPK-\d"),
    ("fuser", r"fuser|fixier|fixation|four\b|fusore|fusor|fixing|定着|定影|정착|퓨저"),
    ("cleaner", r"cleaner|cleaning unit|reinigungseinheit|unité de nettoyage|クリーナー|"
                r"清洁单元|清潔單元|클리너"),
    ("transfer", r"transfer|übertragung|transfert|transferencia|trasferimento|\bITB\b|\bITU\b|"
                 r"転写|转印|轉印|전사|belt|gurt|courroie|correa|cinghia"),
    ("feed", r"feed|pick-?up|roller|separation|\bADF\b|einzug|rouleau|rodillo|rullo|"
             r"給紙|ローラー|进纸|進紙|搓纸|급지|롤러"),
    ("finisher", r"staple|heftklammer|agrafe|grapa|punti metallici|ステープル|订书钉|訂書針|"
                 r"스테이플|finisher"),
    ("drum", r"drum|trommel|tambour|tambor|tamburo|photoconductor|imaging unit|image unit|"
             r"\bopc\b|ドラム|感光|硒鼓|鼓|드럼|\bDK-\d|\bDR-\d"),
    ("developer", r"developer|entwickler|développeur|revelador|sviluppatore|現像|显影|顯影|현상"),
    ("ink", r"\bink|tinte|encre|tinta|inchiostro|inkt|インク|墨水|墨盒|잉크"),
    ("toner", r"toner|トナー|墨粉|碳粉|粉盒|토너|cartridge|cartouche|kartusche"),
)
_PATTERNS = tuple((part, re.compile(words.rstrip("|"), re.IGNORECASE)) for part, words in _WORDS)

PAGE_UNITS = frozenset({"impressions", "sheets"})
"""`PrtMarkerSuppliesSupplyUnitTC` units whose level is a number of pages left."""


colour_from_description = functools.lru_cache(maxsize=1024)(colors.from_description)
"""`protocols.colors.from_description`, cached: some 150 patterns tried per description, and a
fleet has few distinct descriptions."""


def part_of(kind: str | None, description: str | None) -> str | None:
    """The part category of a supply from its Printer-MIB type, else its description."""
    if kind in PART_BY_KIND:
        return PART_BY_KIND[kind]
    return _described_part(description) if description else None


@functools.lru_cache(maxsize=2048)
def _described_part(description: str) -> str | None:
    """The first of `_PATTERNS` a description matches: a fleet has few distinct descriptions."""
    for part, pattern in _PATTERNS:
        if pattern.search(description):
            return part
    return None


def apply_part(supply: Supply) -> None:
    """Set `part` and `remaining_pages`; a colourless part loses a colour read into it."""
    supply.part = part_of(supply.kind, supply.description)
    if supply.part in COLOURLESS:
        supply.color = None
    set_remaining_pages(supply)


def set_remaining_pages(supply: Supply) -> None:
    """`remaining_pages` from the level, where the unit counts pages."""
    if supply.unit in PAGE_UNITS and supply.raw_level is not None and supply.raw_level >= 0:
        supply.remaining_pages = supply.raw_level


def drop_mono_colours(supplies: list[Supply]) -> None:
    """A mono printer (its toners or inks all black) has one drum and developer, not a black
    one: their colour (`Drum Unit (K)`) is dropped."""
    marking = {s.color for s in supplies if s.part in MARKING and s.color is not None}
    if marking and marking <= {"black", "matte-black", "photo-black"}:
        for supply in supplies:
            if supply.part in PER_COLOUR:
                supply.color = None
