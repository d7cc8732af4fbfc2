"""`printgw record HOST [--out FILE.snmprec] [--mask]`: a support recording of one printer, what
printgw reads of it over SNMP (every context) and IPP, in files `printgw-sim --profile
FILE.snmprec` replays exactly (and snmpsim serves): a bug report becomes a regression test.

The layout is `protocols.recording`'s; the SNMP part `protocols.snmp.recording`'s, the IPP part
`protocols.ipp.recording`'s, the masking `protocols.masking`'s.  Bounded as a reading is: each
walk by its table's size, the whole recording by `--deadline`.  Exit status: 0 written; 1 the
printer does not answer SNMP, or not within the deadline; 2 unusable options.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gateway.app.device_options import (
    add_device_options,
    ipp_endpoint,
    snmp_target,
)
from gateway.device.reader import WALK_MARGIN, IppEndpoint
from protocols.ipp import recording as ipp_recording
from protocols.ipp.client import get_printer_answer
from protocols.ipp.model import IppError, IppReading
from protocols.masking import Masker
from protocols.recording import SNMPREC, Manifest, RecordingFiles
from protocols.snmp import recording as snmp_recording
from protocols.snmp.model import SnmpError, SnmpTarget
from protocols.snmp.recording import RecordingClient, SnmpRecording
from protocols.version import VERSION

RECORD_DEADLINE = 60.0
"""Seconds a recording may take by default: a reading's, twice (the contexts are read in full)."""


@dataclass
class Recorded:
    snmp: SnmpRecording
    ipp: tuple[IppReading, bytes] | None
    problems: list[str]


def add_record_parser(commands: argparse._SubParsersAction) -> None:
    record = commands.add_parser(
        "record", help="write a support recording of one printer (SNMP and IPP) for printgw-sim",
        description="Record what printgw reads of one printer: the SNMP subtrees and objects it "
                    "uses, in every SNMP context, as snmpsim .snmprec files (FILE.snmprec, "
                    "FILE@CONTEXT.snmprec), and the IPP Get-Printer-Attributes answer "
                    "(FILE.ipp), with a manifest (FILE.recording.json).  `printgw-sim --profile "
                    "FILE.snmprec` replays it as recorded.  --mask replaces serial numbers, MAC "
                    "and IP addresses and UUIDs by stand-ins of the same shape.  Exit 0 written, "
                    "1 the printer does not answer SNMP (or not within --deadline).")
    record.add_argument("host", help="printer address or host name")
    record.add_argument("--out", type=Path, default=None, metavar="FILE.snmprec",
                        help="the recording's main file; the others are written beside it "
                             "(default: HOST.snmprec, or printer.snmprec with --mask, here)")
    record.add_argument("--mask", action="store_true",
                        help="mask serial numbers, MAC and IP addresses and UUIDs")
    record.add_argument("--deadline", type=float, default=RECORD_DEADLINE, metavar="SECONDS",
                        help="seconds the whole recording may take (default "
                             f"{RECORD_DEADLINE:g})")
    add_device_options(record)  # --no-snmp: the .snmprec files are then empty
    record.set_defaults(handler=run_record)


def run_record(args: argparse.Namespace) -> int:
    out = args.out or Path(f"{'printer' if args.mask else args.host.replace(':', '_')}{SNMPREC}")
    if not out.name.endswith(SNMPREC) or out.name == SNMPREC:
        print(f"printgw: --out must name a NAME{SNMPREC} file, not {out}", file=sys.stderr)
        return 2
    if not out.parent.is_dir():
        print(f"printgw: --out {out}: no directory {out.parent}", file=sys.stderr)
        return 2
    if args.no_snmp and args.no_ipp:
        print("printgw: --no-snmp and --no-ipp leave nothing to record", file=sys.stderr)
        return 2
    snmp = None if args.no_snmp else snmp_target(args)
    ipp = None if args.no_ipp else ipp_endpoint(args)
    try:
        recorded = asyncio.run(record_device(snmp, ipp, args.deadline))
    except (SnmpError, IppError, TimeoutError) as exc:
        reason = str(exc) or f"not finished within --deadline {args.deadline:g} s"
        print(f"printgw: cannot record {args.host}: {reason}", file=sys.stderr)
        return 1
    files = RecordingFiles(out)
    write_recording(files, recorded, args.host, mask=args.mask)
    named = sorted(context for context in recorded.snmp.contexts if context)
    for path in (files.snmprec, *map(files.context, named),
                 *([files.ipp] if recorded.ipp else []), files.manifest):
        print(f"wrote {path}")
    for problem in recorded.problems:
        print(f"printgw: {problem}", file=sys.stderr)
    return 0


async def record_device(target: SnmpTarget | None, ipp: IppEndpoint | None,
                        seconds: float) -> Recorded:
    """Record SNMP and IPP at once, within `seconds`.  Raises `SnmpError` when the agent does
    not answer (`IppError` when only IPP is recorded and it does not), `TimeoutError` past the
    deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    walks_end = deadline - min(2.0, seconds * WALK_MARGIN)
    client = RecordingClient()
    try:
        async with asyncio.timeout_at(deadline):
            snmp, answer = await asyncio.gather(_snmp(client, target, walks_end),
                                                _ipp_answer(ipp))
    finally:
        await client.aclose()
    if target is None and isinstance(answer, IppError):
        raise answer
    problems = [f"SNMP: {problem}" for problem in snmp.problems]
    if isinstance(answer, IppError):
        problems.append(f"IPP: {answer}")
    return Recorded(snmp, answer if isinstance(answer, tuple) else None, problems)


async def _snmp(client: RecordingClient, target: SnmpTarget | None,
                walks_end: float) -> SnmpRecording:
    if target is None:
        return SnmpRecording()
    return await snmp_recording.record_snmp(client, target, walks_end)


async def _ipp_answer(ipp: IppEndpoint | None) -> tuple[IppReading, bytes] | IppError | None:
    if ipp is None:
        return None
    try:
        return await get_printer_answer(
            ipp.uri, ipp_recording.RECORDED_ATTRIBUTES, verify_tls=ipp.verify_tls,
            timeout=ipp.timeout, max_response_bytes=ipp.max_response_bytes)
    except IppError as exc:
        return exc


def write_recording(files: RecordingFiles, recorded: Recorded, host: str, mask: bool) -> None:
    """Write the recording's files (masked first when asked)."""
    snmp, problems = recorded.snmp, recorded.problems
    ipp_body = recorded.ipp[1] if recorded.ipp else None
    if mask:
        masker = Masker()
        _learn_host(masker, host)
        snmp_recording.learn_secrets(snmp, masker)
        if recorded.ipp:
            ipp_recording.learn_secrets(recorded.ipp[0], masker)
        snmp_recording.mask_snmp(snmp, masker)
        if ipp_body is not None:
            ipp_body = ipp_recording.mask_answer(ipp_body, masker)
        problems = [masker.text(p.encode()).decode() for p in problems]
    for context, values in snmp.contexts.items():
        path = files.context(context) if context else files.snmprec
        path.write_text(snmp_recording.to_snmprec(values), encoding="ascii")
    if "" not in snmp.contexts:
        files.snmprec.write_text("", encoding="ascii")
    if ipp_body is not None:
        files.ipp.write_bytes(ipp_body)
    Manifest(
        printgw_version=VERSION, recorded_at=datetime.now(UTC).isoformat(timespec="seconds"),
        masked=mask, contexts=sorted(c for c in snmp.contexts if c),
        ipp=ipp_body is not None, host=None if mask else host, problems=problems,
    ).write(files.manifest)


def _learn_host(masker: Masker, host: str) -> None:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return  # a host name is not masked (only addresses are)
    masker.add_address(host)
