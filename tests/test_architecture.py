"""The floor plan, checked: which package may import which, no import cycle, modules of a
readable size, test modules that share helpers through `tests/support/` only.

Imports are read with `ast`, not by importing: every `import` and `from … import` counts, also
the function-local ones and those under `if TYPE_CHECKING:` (a cycle that only type checkers see
is still a tangle).  Relative imports are resolved, and `from package import module` counts as an
import of the module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tests.support.paths import REPO

PACKAGES = ("gateway", "protocols", "cloud", "simulator")
MAX_LINES = 500
DAEMON = "gateway.app.daemon"
DAEMON_MAX_LINES = 200
"""The daemon only wires the rooms together: it stays under this many lines."""


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    imports: frozenset[str]
    """The modules it imports, resolved (`imports_of`)."""

    @property
    def lines(self) -> int:
        return len(self.path.read_text().splitlines())


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolve(imported: str, known: set[str]) -> str:
    """The known module `imported` names or lies in; the name itself when none (a module of
    another distribution, or one that does not exist any more)."""
    name = imported
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return imported


def imports_of(tree: ast.AST, name: str, is_package: bool, known: set[str]) -> set[str]:
    """The modules imported anywhere in `tree` (the module `name`), relative ones made absolute;
    `from X import a` is an import of `X.a` when that is a module, else of `X`."""
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {resolve(alias.name, known) for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join([*parts[:len(parts) - node.level + 1], *filter(None, [base])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in known else resolve(base, known))
    return found - {name}


@cache
def modules() -> dict[str, Module]:
    """The modules of the four packages and of the tests, by dotted name."""
    paths = [p for root in (*PACKAGES, "tests") for p in sorted((REPO / root).rglob("*.py"))
             if "__pycache__" not in p.parts]
    known = {module_name(p) for p in paths}
    found = {}
    for path in paths:
        name = module_name(path)
        tree = ast.parse(path.read_text(), filename=str(path))
        found[name] = Module(name, path,
                             frozenset(imports_of(tree, name, path.name == "__init__.py", known)))
    return found


def in_package(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def product_modules() -> list[Module]:
    return [m for m in modules().values() if m.name.split(".")[0] in PACKAGES]


def offending_imports(importers: Iterable[Module], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(f"{m.name} imports {target}" for m in importers for target in m.imports
                  if any(in_package(target, f) for f in forbidden))


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module (iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
    return components


# -- the rules -------------------------------------------------------------------------------------

def test_no_import_cycle() -> None:
    product = {m.name: m for m in product_modules()}
    graph = {name: {t for t in m.imports if t in product} for name, m in product.items()}
    cycles = strongly_connected(graph)
    assert not cycles, "import cycles (strongly connected components):\n" + "\n".join(
        " <-> ".join(component) for component in cycles)


def test_the_local_room_never_imports_the_app() -> None:
    """The status page, metrics and live view are given the daemon's state; they never import
    the daemon (or the CLI)."""
    local = [m for m in product_modules() if in_package(m.name, "gateway.local")]
    offenders = offending_imports(local, ("gateway.app",))
    assert not offenders, "\n".join(offenders)


def test_protocols_import_nothing_of_the_gateway_cloud_or_simulator() -> None:
    protocols = [m for m in product_modules() if in_package(m.name, "protocols")]
    offenders = offending_imports(protocols, ("gateway", "cloud", "simulator"))
    assert not offenders, "\n".join(offenders)


def test_cloud_and_simulator_import_nothing_of_the_gateway() -> None:
    peers = [m for m in product_modules() if m.name.split(".")[0] in ("cloud", "simulator")]
    offenders = offending_imports(peers, ("gateway",))
    assert not offenders, "\n".join(offenders)


def test_no_module_over_500_lines() -> None:
    offenders = sorted(f"{m.path.relative_to(REPO)}: {m.lines} lines"
                       for m in product_modules() if m.lines > MAX_LINES)
    assert not offenders, f"modules over {MAX_LINES} lines:\n" + "\n".join(offenders)


def test_the_daemon_stays_small() -> None:
    daemon = modules()[DAEMON]
    assert daemon.lines < DAEMON_MAX_LINES, \
        f"{daemon.path.relative_to(REPO)}: {daemon.lines} lines, not under {DAEMON_MAX_LINES}"


def test_no_test_module_imports_another() -> None:
    """Shared helpers live in `tests/support/`, not in a test module another one imports."""
    def is_test_module(name: str) -> bool:
        return in_package(name, "tests") and name.rpartition(".")[2].startswith("test_")

    offenders = sorted(f"{m.name} imports {target}" for m in modules().values()
                       if is_test_module(m.name) for target in m.imports
                       if is_test_module(target))
    assert not offenders, "\n".join(offenders)


def test_the_alerts_room_knows_no_cloud_link_and_no_daemon() -> None:
    """Local alerts work without a cloud: of the uplink they use only the event detector."""
    alerts = [m for m in product_modules() if in_package(m.name, "gateway.alerts")]
    offenders = [o for o in offending_imports(alerts, (
        "gateway.app", "gateway.local", "gateway.commands", "gateway.uplink", "protocols.cloud"))
        if not o.endswith(("gateway.uplink.events", "protocols.cloud.webhook_signature"))]
    assert not offenders, "\n".join(offenders)
