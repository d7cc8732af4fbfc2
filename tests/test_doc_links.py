"""Every relative link of the READMEs, the changelog and `docs/` leads somewhere: the file exists
and, for a link to a heading of a Markdown page, the heading does (GitHub's anchor rules), so
moving text between pages cannot leave a dead link behind."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.paths import REPO

LINK = re.compile(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)")
HEADING = re.compile(r"^#{1,6} (.*)$", re.M)
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def pages() -> list[Path]:
    return [*(REPO / name for name in ("README.md", "CHANGELOG.md", "bench/README.md",
                                       "simulator/README.md", "mibs/README.md")),
            *sorted((REPO / "docs").glob("*.md"))]


def anchors(text: str) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown text (lower case, punctuation dropped,
    spaces to hyphens; lines in code blocks are no headings)."""
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
            for heading in HEADING.findall(FENCE.sub("", text))}


def test_every_relative_link_resolves() -> None:
    dead = []
    for page in pages():
        text = FENCE.sub("", page.read_text(encoding="utf-8"))
        for target, anchor in LINK.findall(text):
            if re.match(r"[a-z]+:", target):
                continue  # https:, mailto:
            path = (page.parent / target) if target else page
            where = f"{page.relative_to(REPO)} → {target}{'#' + anchor if anchor else ''}"
            if not path.exists():
                dead.append(f"{where}: no such file")
            elif anchor and path.suffix == ".md" \
                    and anchor not in anchors(path.read_text(encoding="utf-8")):
                dead.append(f"{where}: no such heading")
    assert not dead, "\n".join(dead)


def test_anchors_follow_github() -> None:
    text = "# The `printgw demo`: the demo\n```sh\n# not a heading\n```\n## Ports & the firewall\n"
    assert anchors(text) == {"the-printgw-demo-the-demo", "ports--the-firewall"}
