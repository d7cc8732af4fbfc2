"""Supply colours from descriptions as real printers write them, in their languages and scripts;
part numbers and codes are not colour words unless the maker's numbering says so."""

from __future__ import annotations

import pytest

from protocols import colors

DESCRIPTIONS = [
    # English, with part numbers that hold colour-looking letters
    ("Black Toner Cartridge TN-2420", "black"),
    ("Black Cartridge HP CF217A", "black"),
    ("Cyan Toner, PN 106R03745;SN4817…", "cyan"),
    ("Light Cyan Ink", "light-cyan"),
    ("Photo Black T9441", "photo-black"),
    ("Toner (K)", "black"),
    ("C-Toner", "cyan"),
    # codes alone: no colour unless the maker's numbering names one
    ("PK-1011", None),
    ("Maintenance Kit PK-1011", None),
    ("MK-3170 Maintenance Kit", None),
    ("Drum Unit DR-2400", None),
    ("T9441", None),
    ("CF217A", None),
    ("106R03745", None),
    ("Waste Toner Box WT-5140", None),
    ("TK-5240K", "black"),
    ("TK-5240C", "cyan"),
    ("TK-5240M", "magenta"),
    ("TK-5240Y", "yellow"),
    ("CLT-K504S", "black"),
    ("CLT-C504S", "cyan"),
    ("CLT-M504S", "magenta"),
    ("CLT-Y504S", "yellow"),
    ("CLT-W504", None),
    ("TN-247BK", "black"),
    ("LC3219XLY", "yellow"),
    # German, French, Spanish, Italian, Dutch, Portuguese
    ("Toner Schwarz", "black"), ("Tonerkartusche Gelb", "yellow"),
    ("Cartouche de toner noir", "black"), ("Toner jaune", "yellow"),
    ("Tóner negro", "black"), ("Cartucho de tinta cian", "cyan"),
    ("Toner amarillo", "yellow"), ("Toner nero", "black"), ("Cartuccia ciano", "cyan"),
    ("Toner giallo", "yellow"), ("Toner zwart", "black"), ("Toner cyaan", "cyan"),
    ("Toner geel", "yellow"), ("Toner preto", "black"), ("Toner amarelo", "yellow"),
    ("Toner ciano", "cyan"),
    # Polish, Swedish, Danish, Czech, Finnish, Hungarian, Russian, Turkish
    ("Toner czarny", "black"), ("Toner błękitny", "cyan"), ("Toner purpurowy", "magenta"),
    ("Toner żółty", "yellow"), ("Toner svart", "black"), ("Toner gul", "yellow"),
    ("Toner sort", "black"), ("Toner černá", "black"), ("Toner azurová", "cyan"),
    ("Toner purpurová", "magenta"), ("Toner žlutá", "yellow"), ("Värikasetti musta", "black"),
    ("Toner syaani", "cyan"), ("Toner keltainen", "yellow"), ("Festékkazetta fekete", "black"),
    ("Toner sárga", "yellow"), ("Тонер черный", "black"), ("Тонер-картридж Голубой", "cyan"),
    ("Тонер пурпурный", "magenta"), ("Тонер жёлтый", "yellow"), ("Toner siyah", "black"),
    ("Toner camgöbeği", "cyan"), ("Toner macenta", "magenta"), ("Toner sar\u0131", "yellow"),
    # simplified Chinese
    ("黑色墨粉盒", "black"), ("青色硒鼓", "cyan"), ("品红色墨粉", "magenta"),
    ("黄色墨粉", "yellow"), ("洋红色碳粉", "magenta"),
    # traditional Chinese
    ("黑色碳粉匣", "black"), ("青色碳粉匣", "cyan"), ("洋紅色碳粉匣", "magenta"),
    ("黃色碳粉匣", "yellow"), ("藍綠色墨水", "cyan"), ("品紅色", "magenta"),
    # Japanese
    ("ブラックトナー", "black"), ("シアントナー", "cyan"), ("マゼンタトナー", "magenta"),
    ("イエロートナー", "yellow"), ("トナー(K)", "black"), ("トナー(Y)", "yellow"),
    ("黒トナー", "black"), ("赤インク", "red"), ("ライトシアンインク", "light-cyan"),
    ("フォトブラック", "photo-black"),
    # Korean
    ("검정 토너", "black"), ("블랙 토너", "black"), ("시안 토너", "cyan"), ("청록 토너", "cyan"),
    ("마젠타 토너", "magenta"), ("자홍 토너", "magenta"), ("노랑 토너", "yellow"),
    ("옐로 토너", "yellow"), ("노란색 토너", "yellow"),
    # colourless parts and nothing at all
    ("Fuser Unit", None), ("Transfer Belt Unit", None), ("Waste Toner Container", None),
    ("Staple Cartridge", None), ("Paper Feed Kit", None), ("", None),
]


@pytest.mark.parametrize(("description", "expected"), DESCRIPTIONS)
def test_colour_from_description(description: str, expected: str | None) -> None:
    assert colors.from_description(description) == expected


def test_blue_and_red_are_not_process_colours() -> None:
    """藍/蓝 alone is blue and 赤 red (Japanese): printers do not use them for cyan/magenta."""
    assert colors.from_description("藍色") == "blue"
    assert colors.from_description("蓝色") == "blue"
    assert colors.from_description("赤") == "red"
    assert colors.from_description("Tinta azul") == "blue"


@pytest.mark.parametrize(("value", "expected"), [
    ("#000000", "black"), ("#00FFFF", "cyan"), ("#FF00FF#FFFF00", "multi-color"),
    ("none", None), ("Black", "black"), ("photo_black", "photo-black"),
])
def test_ipp_marker_colours(value: str, expected: str | None) -> None:
    assert colors.from_ipp_marker_color(value) == expected
