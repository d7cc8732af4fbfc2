"""Offline compilation of the MIB sources in ``mibs/`` with pysmi (a test helper).

The MIB modules are compiled to pysmi's JSON format from the files in ``mibs/`` only: no
HTTP source, no borrower, no searcher.  Every module a compiled module imports must
therefore be present in ``mibs/`` as ``<MODULE-NAME>.mib``; a missing one fails the
compilation with a message naming it instead of waiting on a remote repository.

Also here: an index of MIB object names to numeric OIDs built from that JSON, and a
check of a Python module of OID constants (``protocols/snmp/oids.py`` and the like)
against it.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType

MIBS_DIR: Path = Path(__file__).resolve().parents[2] / "mibs"
"""The project's MIB source directory."""

MIB_SUFFIX = ".mib"

_NUMERIC_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")


class MibCompileError(AssertionError):
    """A MIB module could not be compiled (an AssertionError, so pytest shows it as a failure)."""


def available_mibs(mib_dir: Path = MIBS_DIR) -> list[str]:
    """Return the names of the MIB modules in ``mib_dir`` (one ``<NAME>.mib`` file each)."""
    return sorted(p.name[: -len(MIB_SUFFIX)] for p in mib_dir.glob("*" + MIB_SUFFIX))


def compile_mibs(names: list[str], dest: Path, mib_dir: Path = MIBS_DIR) -> dict[str, dict]:
    """Compile MIB modules (and the modules they import) from ``mib_dir``, offline.

    Args:
        names: MIB module names, e.g. ``["Printer-MIB"]``.
        dest: directory the JSON files are written to (created if needed).
        mib_dir: directory of the ``<NAME>.mib`` sources; the only place sources are read from.

    Returns:
        MIB module name -> parsed pysmi JSON, for the requested modules and every module
        they import.

    Raises:
        MibCompileError: when any module is missing or fails to compile; the message names
            each such module with pysmi's error.
    """
    # imported here so that collecting the tests does not require pysmi
    from pysmi.codegen import JsonCodeGen
    from pysmi.compiler import MibCompiler
    from pysmi.parser import SmiV2Parser
    from pysmi.reader import FileReader
    from pysmi.writer import FileWriter

    if not names:
        raise ValueError("no MIB module names given")
    dest.mkdir(parents=True, exist_ok=True)
    compiler = MibCompiler(
        SmiV2Parser(), JsonCodeGen(), FileWriter(str(dest)).set_options(suffix=".json")
    )
    # the one and only source: no HTTP reader, no borrowers, no searchers
    compiler.add_sources(FileReader(str(mib_dir)).set_options(recursive=False))
    statuses = compiler.compile(*names, rebuild=True, genTexts=True)

    problems = []
    for name in names:
        if name not in statuses:
            problems.append(f"{name}: not processed by pysmi")
    for name, status in sorted(statuses.items()):
        if status != "compiled":
            error = getattr(status, "error", None)
            detail = f": {error}" if error else ""
            if status == "missing":
                detail = f": no source {name}{MIB_SUFFIX} in {mib_dir}"
            elif status == "unprocessed":
                detail = " (not written: other modules failed)"
            problems.append(f"{name}: {status}{detail}")
    if problems:
        raise MibCompileError(
            f"pysmi could not compile {', '.join(names)} from {mib_dir}:\n  "
            + "\n  ".join(problems)
        )

    compiled: dict[str, dict] = {}
    for name in statuses:
        path = dest / f"{name}.json"
        try:
            compiled[name] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise MibCompileError(
                f"{name}: compiled, but its JSON {path} is unreadable: {exc}"
            ) from exc
    return compiled


def build_oid_index(compiled: Mapping[str, Mapping]) -> dict[str, str]:
    """Return MIB object name -> numeric OID (``"1.3.6..."``) over the compiled modules.

    Every named node with an OID is indexed: objects, tables, rows, columns, notifications,
    object identities, groups, compliances and module identities.  A name defined by
    several modules with the same OID (e.g. HOST-RESOURCES-MIB and HOST-RESOURCES-TYPES
    both define ``hrDeviceTypes``) is indexed once.

    Raises:
        ValueError: when one name has different OIDs in different modules.
    """
    index: dict[str, str] = {}
    origin: dict[str, str] = {}
    clashes = []
    for module, symbols in sorted(compiled.items()):
        for name, node in symbols.items():
            if not isinstance(node, Mapping) or "oid" not in node:
                continue
            oid = node["oid"]
            if name in index and index[name] != oid:
                clashes.append(f"{name}: {index[name]} in {origin[name]}, {oid} in {module}")
                continue
            index.setdefault(name, oid)
            origin.setdefault(name, module)
    if clashes:
        raise ValueError(
            "names with different OIDs in different modules:\n  " + "\n  ".join(clashes)
        )
    return index


def oid_constants(module: ModuleType) -> dict[str, str]:
    """Return the module-level public string constants of ``module`` (name -> value)."""
    return {
        name: value
        for name, value in vars(module).items()
        if not name.startswith("_") and isinstance(value, str)
    }


def check_oid_constants(module: ModuleType | str, index: Mapping[str, str]) -> list[str]:
    """Check a module of OID constants against the compiled MIBs.

    Each public module-level string constant must be named after a MIB object and hold
    that object's numeric OID (no leading dot, no instance suffix).

    Args:
        module: the module, or its dotted name (e.g. ``"protocols.snmp.oids"``).
        index: name -> numeric OID, from :func:`build_oid_index`.

    Returns:
        One readable line per wrong or unknown constant; empty when all are right.
    """
    if isinstance(module, str):
        module = importlib.import_module(module)
    problems = []
    constants = oid_constants(module)
    if not constants:
        problems.append(f"{module.__name__}: no OID constants found")
    for name, value in sorted(constants.items()):
        where = f"{module.__name__}.{name} = {value!r}"
        expected = index.get(name)
        if expected is None:
            problems.append(f"{where}: no MIB object named {name!r} in the compiled MIBs")
        elif not _NUMERIC_OID.match(value):
            problems.append(f"{where}: not a numeric OID; the MIBs give {expected}")
        elif value != expected:
            problems.append(f"{where}: wrong OID; the MIBs give {expected}")
    return problems


def enumeration(
    compiled: Mapping[str, Mapping], type_name: str, modules: Sequence[str]
) -> dict[str, int]:
    """Return the named numbers of the INTEGER textual convention ``type_name``.

    The first of ``modules`` that defines ``type_name`` is used.

    Raises:
        KeyError: when none of ``modules`` defines it with an enumeration.
    """
    for module in modules:
        node = compiled.get(module, {}).get(type_name)
        if node is None:
            continue
        enum = node.get("type", {}).get("constraints", {}).get("enumeration")
        if enum:
            return dict(enum)
    raise KeyError(f"no enumerated type {type_name} in {', '.join(modules)}")
