"""Printer models the fleet can run: built-in profiles, and profiles loaded from `.snmprec` files.

A profile is the fixed part of a printer (vendor, model, supplies and how fast they wear); each
virtual printer made from it gets its own serial, UUID, MAC and state (`Profile.make_state`).  A
profile loaded from a real recording keeps every recorded OID, value and encoding (hex strings,
NULs, partial tables, vendor subtrees); the simulator only overrides the columns that carry state,
and only where the recording has them, so the real device's quirks come along.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from protocols import colors
from protocols.recording import Manifest, RecordingFiles
from protocols.snmp import oids
from protocols.snmp.textual_conventions import PrtMarkerSuppliesTypeTC
from simulator import ber
from simulator.identity import PrinterKey
from simulator.meters import PageMeters
from simulator.state import CARTRIDGE_KINDS, CartridgeType, PrinterState, SupplyState

SUPPLY_TYPES = PrtMarkerSuppliesTypeTC
SUPPLY_TYPE_CODES = {v: k for k, v in SUPPLY_TYPES.items()}


@dataclass
class SupplySpec:
    kind: str
    description: str
    color: str | None = None
    max_capacity: int = 100
    unit: int = 19
    yield_pages: int = 10000
    part_number: str = ""
    special_level: int | None = None
    reported_max: int | None = None
    initial_percent: tuple[int, int] = (40, 100)
    index: int | None = None
    device_index: int = 1
    cartridge_type: CartridgeType = "commercial"
    contract_part: bool = False
    """Listed in the contract MIB like a cartridge although not one (a contract drum)."""


@dataclass
class Profile:
    key: str
    manufacturer: str
    model: str
    sys_object_id: str
    color: bool
    supplies: list[SupplySpec]
    contract_mib: bool = True
    mark_tech: int = 4
    """PrtMarkerMarkTechTC: 4 electrophotographicLaser, 12 inkjetAqueous."""
    firmware: str = "1.0.0"
    serial_prefix: str = "SIM"
    other_devices: tuple[str, ...] = ()
    """Descriptions of the further HOST-RESOURCES device entries (`hrDeviceOther`) an MFP lists
    beside its printer: its scanner, its fax unit."""
    ipp_features: tuple[str, ...] = ()
    """IPP `ipp-features-supported` (an MFP that faxes says `faxout`)."""
    printer_kind: tuple[str, ...] = ("document", "envelope")
    """IPP `printer-kind`: what it prints on."""
    pdl: str = "application/pdf,image/urf,image/pwg-raster"
    duplex: bool = True
    imaging_counter_mib: bool = False
    """Serves the PWG Imaging System Counter MIB (`simulator.pwg_counters`)."""
    recording: dict[ber.Oid, bytes] | None = None
    """Pre-encoded value TLVs of a real recording, or None for a built-in profile."""
    recorded_serial: str | None = None
    recorded_life_count: int | None = None
    source: str = "built-in"
    extra: dict[str, str] = field(default_factory=dict)
    # -- support recordings (`printgw record`, M4 issue 17): replayed exactly as recorded
    replay: bool = False
    """Serve `recording` as it is: no state of the virtual printer overlaid."""
    contexts: dict[str, dict[ber.Oid, bytes]] = field(default_factory=dict)
    """Named SNMP contexts' values (community `COMMUNITY@CONTEXT`), when replayed."""
    ipp_answer: bytes | None = None
    """The recorded IPP Get-Printer-Attributes answer, served instead of the simulator's."""

    def make_state(self, number: int, rng: random.Random,
                   key: PrinterKey | None = None) -> PrinterState:
        """A fresh printer of this model: its serial, UUID and MAC from `key` (its address and
        seed: `simulator.identity`; by default its number), its levels from `rng`."""
        key = key or PrinterKey.numbered(number)
        serial = key.serial_like(self.recorded_serial) if self.recorded_serial else key.serial(
            self.serial_prefix)
        supplies = []
        colorants: dict[str, int] = {}
        for spec in self.supplies:
            if spec.color and spec.color not in colorants and spec.kind in CARTRIDGE_KINDS:
                colorants[spec.color] = len(colorants) + 1
        for i, spec in enumerate(self.supplies, start=1):
            lo, hi = spec.initial_percent
            pct = rng.randint(lo, hi)
            internal_max = spec.max_capacity if spec.max_capacity > 0 else 100
            supplies.append(SupplyState(
                index=spec.index or i, kind=spec.kind, description=spec.description,
                color=spec.color, max_capacity=internal_max,
                level=internal_max * pct / 100, unit=spec.unit, yield_pages=spec.yield_pages,
                part_number=spec.part_number, colorant_index=colorants.get(spec.color or "", 0),
                special_level=spec.special_level, reported_max=spec.reported_max,
                cartridge_id=f"{serial}-{i}-0000", new=False,
                cartridge_type=spec.cartridge_type, contract_part=spec.contract_part,
            ))
        total = (self.recorded_life_count if self.recorded_life_count is not None
                 else rng.randint(1000, 90000))
        color_pages = total // 3 if self.color else 0
        return PrinterState(
            name=f"{self.key}-{number:04d}", serial=serial, manufacturer=self.manufacturer,
            model=self.model, firmware=self.firmware, uuid=key.uuid,
            mac=key.mac, supplies=supplies, color=self.color, has_contract_mib=self.contract_mib,
            total_pages=total, color_pages=color_pages, mono_pages=total - color_pages,
            meters=PageMeters.starting_at(total - color_pages, color_pages),
            sys_name=f"{self.key}-{number:04d}".lower(),
            hr_device_index=self.supplies[0].device_index if self.supplies else 1,
        )


def _toners(yield_pages: int, unit: int = 7, max_capacity: int | None = None,
            model: str = "CX") -> list[SupplySpec]:
    out = []
    for color in ("black", "cyan", "magenta", "yellow"):
        cap = max_capacity if max_capacity is not None else yield_pages
        letter = color[0].upper()
        out.append(SupplySpec("toner", f"{color.capitalize()} Toner Cartridge {model}-{letter}",
                              color, cap, unit, yield_pages, f"{model}-T{letter}"))
    return out


BUILTIN: dict[str, Profile] = {
    "mono-laser": Profile(
        key="mono-laser", manufacturer="Acme", model="LaserWriter M2100",
        sys_object_id="1.3.6.1.4.1.32473.2.1", color=False, serial_prefix="AML",
        supplies=[
            SupplySpec("toner", "Black Toner Cartridge TN-210", "black", 100, 19, 3000, "TN-210"),
            SupplySpec("opc", "Drum Unit DR-210", None, 12000, 7, 12000, "DR-210",
                       initial_percent=(50, 100)),
        ],
    ),
    "contract-laser": Profile(
        # A flat-rate (contract) machine: its toner and its drum are both contract parts, so the
        # contract MIB lists the drum row with cartridge type contract as well as the toner.
        key="contract-laser", manufacturer="Acme", model="LaserWriter M2100C",
        sys_object_id="1.3.6.1.4.1.32473.2.5", color=False, serial_prefix="AMC",
        supplies=[
            SupplySpec("toner", "Black Toner Cartridge TN-210C", "black", 100, 19, 3000,
                       "TN-210C", cartridge_type="contract"),
            SupplySpec("opc", "Drum Unit DR-210C", None, 12000, 7, 12000, "DR-210C",
                       initial_percent=(50, 100), cartridge_type="contract",
                       contract_part=True),
        ],
    ),
    "color-mfp": Profile(
        key="color-mfp", manufacturer="Acme", model="ColorWorks MFP C5400",
        sys_object_id="1.3.6.1.4.1.32473.2.2", color=True, serial_prefix="ACX",
        other_devices=("Acme ColorWorks Scanner Unit", "Acme ColorWorks Fax Unit, ITU G3"),
        ipp_features=("airprint-1.7", "faxout"),
        supplies=[
            *_toners(6000, model="CX54"),
            *[SupplySpec("opc", f"{c.capitalize()} Drum Unit", c, 30000, 7, 30000,
                         f"CX54-D{c[0].upper()}", initial_percent=(60, 100))
              for c in ("black", "cyan", "magenta", "yellow")],
            SupplySpec("wasteToner", "Waste Toner Box", None, 50000, 7, 50000, "CX54-W",
                       special_level=-3, initial_percent=(50, 100)),
            SupplySpec("fuser", "Fuser Unit", None, 100000, 7, 100000, "CX54-F",
                       initial_percent=(70, 100)),
        ],
    ),
    "inkjet": Profile(
        key="inkjet", manufacturer="Acme", model="InkStream IJ-400",
        sys_object_id="1.3.6.1.4.1.32473.2.3", color=True, mark_tech=12, serial_prefix="AIJ",
        ipp_features=("airprint-1.7",), printer_kind=("document", "envelope", "photo"),
        supplies=[
            *[SupplySpec("inkCartridge", f"{c.capitalize()} Ink IJ4-{c[0].upper()}", c, 100, 19,
                         800 if c == "black" else 600, f"IJ4-{c[0].upper()}")
              for c in ("black", "cyan", "magenta", "yellow")],
            SupplySpec("wasteInk", "Maintenance Box", None, 100, 19, 20000, "IJ4-MB",
                       initial_percent=(60, 100)),
        ],
    ),
    "legacy-laser": Profile(
        key="legacy-laser", manufacturer="Acme", model="LaserWriter L900",
        sys_object_id="1.3.6.1.4.1.32473.2.4", color=False, contract_mib=False,
        serial_prefix="ALG", duplex=False, pdl="application/postscript,application/pdf",
        supplies=[SupplySpec("toner", "Toner", "black", 10000, 7, 10000, "LG-900")],
    ),
}


# -- vendor counter profiles (M1, issue 17) ------------------------------------------------------

def _vendor_mfp(key: str, manufacturer: str, model: str, sys_object_id: str,
                color: bool = True) -> Profile:
    """A device of a real vendor (its sysObjectID's enterprise): it serves that vendor's page
    counter objects (`simulator.vendor_counters`) besides the standard MIBs."""
    supplies = (_toners(8000, model=model.split()[-1][:6]) if color else
                [SupplySpec("toner", "Black Toner Cartridge", "black", 100, 19, 8000, "BK-1")])
    return Profile(key=key, manufacturer=manufacturer, model=model, sys_object_id=sys_object_id,
                   color=color, contract_mib=False, serial_prefix=key[:3].upper(),
                   other_devices=(f"{manufacturer} Scanner",), supplies=supplies)


BUILTIN.update({p.key: p for p in (
    _vendor_mfp("hp-color-mfp", "HP", "Color LaserJet MFP M480f", "1.3.6.1.4.1.11.2.3.9.1"),
    _vendor_mfp("sharp-mfp", "Sharp", "MX-3570N", "1.3.6.1.4.1.2385.3.1.112.1.2"),
    _vendor_mfp("konica-mfp", "Konica Minolta", "bizhub C250i",
                "1.3.6.1.4.1.18334.1.1.1.2.1.181.2.4"),
    _vendor_mfp("xerox-mfp", "Xerox", "AltaLink C8045", "1.3.6.1.4.1.253.8.62.1.35.2.3.1.1"),
    _vendor_mfp("ricoh-mfp", "Ricoh", "MP C3002", "1.3.6.1.4.1.367.1.1"),
    _vendor_mfp("kyocera-mfp", "Kyocera", "ECOSYS M2540dn", "1.3.6.1.4.1.1347.41", color=False),
    _vendor_mfp("canon-laser", "Canon", "LBP6670", "1.3.6.1.4.1.1602.4.2", color=False),
    _vendor_mfp("epson-inkjet", "Epson", "WF-C5790", "1.3.6.1.4.1.1248.1.1.2.1.3.5.69.69.80.83.50"),
    _vendor_mfp("lexmark-mfp", "Lexmark", "CX725", "1.3.6.1.4.1.641.1.5.7"),  # M1b
    # M1c: Brother's sysObjectID as its devices report it (the brother recording's)
    _vendor_mfp("brother-mfp", "Brother", "MFC-L8900CDW", "1.3.6.1.4.1.2435.2.3.9.1"),
)})

BUILTIN["pwg-mfp"] = Profile(
    # A colour MFP of no vendor the reader knows that keeps its meters in the PWG Imaging System
    # Counter MIB only (M1b, issue 17).
    key="pwg-mfp", manufacturer="Acme", model="ImagingCentre MFP C7000",
    sys_object_id="1.3.6.1.4.1.32473.2.7", color=True, contract_mib=False,
    serial_prefix="AIC", other_devices=("Acme ImagingCentre Scanner", "Acme ImagingCentre Fax"),
    imaging_counter_mib=True, supplies=_toners(9000, model="IC70"),
)


# -- maintenance parts (M2, issue 17) ------------------------------------------------------------

BUILTIN["maintenance-mfp"] = Profile(
    # A mono MFP whose replaceable parts count their life in impressions (unit 7): drum, fuser,
    # transfer roller; a paper-feed kit and a maintenance kit in rows without a type (`other`,
    # as many devices list rollers and kits), told apart by their descriptions.
    key="maintenance-mfp", manufacturer="Acme", model="OfficeLaser MFP M4100",
    sys_object_id="1.3.6.1.4.1.32473.2.6", color=False, contract_mib=False,
    serial_prefix="AMM", other_devices=("Acme OfficeLaser Scanner Unit",),
    supplies=[
        SupplySpec("toner", "Black Toner Cartridge TK-4100K", "black", 100, 19, 7200, "TK-4100K"),
        SupplySpec("opc", "Drum Unit DK-4100", None, 100000, 7, 100000, "DK-4100",
                   initial_percent=(50, 90)),
        SupplySpec("fuser", "Fuser Unit FK-4100", None, 150000, 7, 150000, "FK-4100",
                   initial_percent=(50, 90)),
        SupplySpec("transferUnit", "Transfer Roller TR-4100", None, 150000, 7, 150000,
                   "TR-4100", initial_percent=(50, 90)),
        SupplySpec("other", "Paper Feed Kit PF-4100", None, 200000, 7, 200000, "PF-4100",
                   initial_percent=(50, 90)),
        SupplySpec("other", "Maintenance Kit MK-4100", None, 300000, 7, 300000, "MK-4100",
                   initial_percent=(50, 90)),
    ],
)


# -- snmprec -------------------------------------------------------------------------------------

def _encode_snmprec_value(tag: str, value: str) -> bytes | None:
    """One snmprec value as a BER TLV, or None for a line we cannot use (corrupt lines exist)."""
    hexed = tag.endswith("x")
    base = tag.rstrip("x")
    if not base.isdigit():
        return None
    code = int(base)
    raw = bytes.fromhex(value) if hexed else value.encode("utf-8")
    if code == 4:
        return ber.tlv(ber.OCTET_STRING, raw)
    if code == 5:
        return ber.tlv(ber.NULL, b"")
    text = raw.decode("ascii").strip()
    if code == 2:
        return ber.enc_int(int(text))
    if code == 6:
        return ber.enc_oid(ber.parse_oid(text))
    if code == 64:
        return ber.tlv(ber.IP_ADDRESS, raw if hexed else bytes(int(x) for x in text.split(".")))
    if code in (65, 66, 67, 70):
        return ber.enc_unsigned(int(text), code - 65 + 0x41 if code != 70 else ber.COUNTER64)
    if code == 68:
        return ber.tlv(ber.OPAQUE, raw)
    return None


def read_snmprec(lines: Iterable[str]) -> dict[ber.Oid, bytes]:
    out: dict[ber.Oid, bytes] = {}
    for line in lines:
        line = line.rstrip("\r\n")
        parts = line.split("|", 2)
        if len(parts) != 3:
            continue
        try:
            oid = ber.parse_oid(parts[0])
            tlv = _encode_snmprec_value(parts[1], parts[2])
        except (ValueError, UnicodeDecodeError):
            continue
        if tlv is not None and len(oid) >= 2:
            out[oid] = tlv
    return out


def _value(tlv_bytes: bytes) -> tuple[int, bytes]:
    tag, s, e = ber.read_tlv(tlv_bytes, 0, len(tlv_bytes))
    return tag, tlv_bytes[s:e]


def _int(rec: dict[ber.Oid, bytes], oid: ber.Oid) -> int | None:
    if oid not in rec:
        return None
    tag, body = _value(rec[oid])
    return int.from_bytes(body, "big", signed=tag == ber.INTEGER) if body else None


def _text(rec: dict[ber.Oid, bytes], oid: ber.Oid) -> str | None:
    if oid not in rec:
        return None
    tag, body = _value(rec[oid])
    if tag != ber.OCTET_STRING:
        return None
    return body.split(b"\0", 1)[0].decode("utf-8", "replace").strip() or None


def _supply_rows(rec: dict[ber.Oid, bytes], column: ber.Oid) -> list[tuple[int, ...]]:
    """The (hrDeviceIndex, supply index) rows the recording has in a supplies table `column`."""
    return sorted({k[len(column):] for k in rec
                   if k[:len(column)] == column and len(k) == len(column) + 2})


def load_snmprec(path: str | Path, contract_mib: bool = False) -> Profile:
    """A profile from a real recording: identity, supplies and counters taken from its values."""
    path = Path(path)
    rec = read_snmprec(path.read_text(encoding="utf-8", errors="replace").splitlines())
    O = ber.parse_oid  # noqa: E741
    rows = (_supply_rows(rec, O(oids.prtMarkerSuppliesDescription))
            or _supply_rows(rec, O(oids.prtMarkerSuppliesLevel)))
    supplies: list[SupplySpec] = []
    for dev, idx in rows:
        def col(name: str, dev: int = dev, idx: int = idx) -> ber.Oid:
            return (*O(getattr(oids, name)), dev, idx)
        descr = _text(rec, col("prtMarkerSuppliesDescription")) or f"Supply {idx}"
        kind = SUPPLY_TYPES.get(_int(rec, col("prtMarkerSuppliesType")) or 0)
        if kind is None:
            lowered = descr.lower()
            kind = ("wasteToner" if "waste" in lowered else "opc" if "drum" in lowered
                    else "fuser" if "fuser" in lowered else "ink" if "ink" in lowered
                    else "toner")
        cap = _int(rec, col("prtMarkerSuppliesMaxCapacity"))
        level = _int(rec, col("prtMarkerSuppliesLevel"))
        unit = _int(rec, col("prtMarkerSuppliesSupplyUnit")) or 19
        spec = SupplySpec(kind, descr, colors.from_description(descr),
                          cap if cap and cap > 0 else 100, unit,
                          yield_pages=max(100, cap or 100) if unit == 7 else 5000)
        if cap is not None and cap <= 0:
            spec.reported_max = cap
        if level is not None and level < 0:
            spec.special_level = level
            spec.initial_percent = (100, 100)
        elif level is not None and cap and cap > 0:
            pct = max(0, min(100, round(level * 100 / cap)))
            spec.initial_percent = (pct, pct)
        elif level is not None:
            pct = max(0, min(100, level))
            spec.initial_percent = (pct, pct)
        spec.index = idx
        spec.device_index = dev
        supplies.append(spec)
    sys_descr = _text(rec, (*O(oids.sysDescr), 0)) or path.stem
    model = _text(rec, (*O(oids.hrDeviceDescr), 1)) or sys_descr
    serial = _text(rec, (*O(oids.prtGeneralSerialNumber), 1))
    sys_oid = "1.3.6.1.4.1.32473.2.99"
    if (*O(oids.sysObjectID), 0) in rec:
        tag, body = _value(rec[(*O(oids.sysObjectID), 0)])
        if tag == ber.OBJECT_IDENTIFIER and body:
            sys_oid = ber.oid_str(ber.dec_oid(body, 0, len(body)))
    life = next((_int(rec, k) for k in sorted(rec) if k[:len(O(oids.prtMarkerLifeCount))]
                 == O(oids.prtMarkerLifeCount)), None)
    return Profile(
        key=path.stem, manufacturer=model.split()[0] if model else "Unknown", model=model,
        sys_object_id=sys_oid, color=any(s.color not in (None, "black") for s in supplies),
        supplies=supplies, contract_mib=contract_mib, recording=rec, recorded_serial=serial,
        recorded_life_count=life, source=str(path),
    )


def load_recording(path: Path) -> Profile:
    """A support recording (`printgw record`, `protocols.recording`): replayed as recorded, its
    named contexts and its IPP answer too."""
    files = RecordingFiles(path)
    manifest = Manifest.read(files.manifest)
    profile = load_snmprec(path)
    profile.replay = True
    profile.contexts = {
        context: read_snmprec(files.context(context).read_text(encoding="utf-8").splitlines())
        for context in manifest.contexts}
    profile.ipp_answer = files.ipp.read_bytes() if manifest.ipp else None
    return profile


def get_profile(name: str) -> Profile:
    """A built-in profile by key, or a `.snmprec` file (`PATH.snmprec`, `PATH.snmprec+contract`)."""
    if name in BUILTIN:
        return BUILTIN[name]
    contract = name.endswith("+contract")
    path = name.removesuffix("+contract")
    if path.endswith(".snmprec") and Path(path).is_file():
        if RecordingFiles(Path(path)).manifest.is_file():
            return load_recording(Path(path))
        return load_snmprec(path, contract_mib=contract)
    raise ValueError(f"unknown profile {name!r}: one of {', '.join(BUILTIN)} or a .snmprec file")
