"""fnmatch globs of service rules: matching a device model, and whether two globs can match the
same model (two rules that disagree on such models are a config error)."""

from __future__ import annotations

import fnmatch
import itertools
from collections import deque


def _glob_tokens(pattern: str) -> list[tuple[str, frozenset[str], bool]]:
    """An fnmatch glob as tokens (kind, characters, negated): kind `*` (any run), `?` (any one
    character) or `set` (one character of the set, or not of it when negated)."""
    tokens: list[tuple[str, frozenset[str], bool]] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            if not tokens or tokens[-1][0] != "*":
                tokens.append(("*", frozenset(), False))
        elif ch == "?":
            tokens.append(("?", frozenset(), False))
        elif ch == "[" and (end := _set_end(pattern, i)) != -1:
            negated = pattern[i + 1] == "!"
            body = pattern[i + 1 + negated:end]
            chars: set[str] = set()
            k = 0
            while k < len(body):
                if k + 2 < len(body) and body[k + 1] == "-":
                    chars.update(chr(c) for c in range(ord(body[k]), ord(body[k + 2]) + 1))
                    k += 3
                else:
                    chars.add(body[k])
                    k += 1
            tokens.append(("set", frozenset(chars), negated))
            i = end
        else:
            tokens.append(("set", frozenset(ch), False))
        i += 1
    return tokens


def _set_end(pattern: str, start: int) -> int:
    """Where the `[set]` opening at `start` closes, as fnmatch reads it (a `]` right after `[` or
    `[!` is a member), or -1 when it does not close (the `[` is then a plain character)."""
    i = start + 1
    if i < len(pattern) and pattern[i] == "!":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1
    return pattern.find("]", i)


def _common_char(a: tuple[str, frozenset[str], bool], b: tuple[str, frozenset[str], bool],
                 ) -> str | None:
    """A character both single-character tokens accept, or None."""
    def accepts(token: tuple[str, frozenset[str], bool], ch: str) -> bool:
        kind, chars, negated = token
        return kind != "set" or (ch in chars) != negated

    members = a[1] | b[1]
    for ch in sorted(members):
        if accepts(a, ch) and accepts(b, ch):
            return ch
    # Any character in neither set is accepted alike by both tokens, so one of them tells.
    outsider = next(chr(c) for c in itertools.count(ord("a")) if chr(c) not in members)
    return outsider if accepts(a, outsider) and accepts(b, outsider) else None


def glob_common_match(first: str, second: str) -> str | None:
    """A string both fnmatch globs match (`*`, `?`, `[set]`, `[!set]`), or None when none does.

    A breadth-first search over the pair of positions in both patterns (the product of their
    automata), so the example found is a shortest one.
    """
    a, b = _glob_tokens(first), _glob_tokens(second)
    start = (0, 0)
    seen = {start: ""}
    queue = deque([start])
    while queue:
        i, j = queue.popleft()
        text = seen[(i, j)]
        if i == len(a) and j == len(b):
            return text
        moves: list[tuple[int, int, str]] = []
        if i < len(a) and a[i][0] == "*":
            moves.append((i + 1, j, ""))
        if j < len(b) and b[j][0] == "*":
            moves.append((i, j + 1, ""))
        if i < len(a) and j < len(b):
            ch = _common_char(a[i], b[j])
            if ch is not None:
                moves.append((i + (a[i][0] != "*"), j + (b[j][0] != "*"), ch))
        for ni, nj, ch in moves:
            if (ni, nj) not in seen and (ni, nj) != (i, j):
                seen[(ni, nj)] = text + ch
                queue.append((ni, nj))
    return None


def model_matches(pattern: str, model: str) -> bool:
    """A service rule's model glob against a device model, case-insensitively and with runs of
    spaces as one (devices pad their model names)."""
    return fnmatch.fnmatchcase(" ".join(model.split()).casefold(),
                               " ".join(pattern.split()).casefold())
