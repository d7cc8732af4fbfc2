"""A printer's state as a sorted OID → value table, the SNMP agent's whole view of the device.

Values are stored as pre-encoded varbind TLVs, so answering a GET/GETNEXT/GETBULK is a bisect and a
byte join (see `simulator/ber.py` for why).  Tables are rebuilt when the state's `version` changes.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable

from protocols.snmp import contract_mib as cm
from protocols.snmp import oids
from simulator import ber
from simulator.profiles import SUPPLY_TYPE_CODES, Profile
from simulator.pwg_counters import pwg_counter_values
from simulator.state import PrinterState
from simulator.vendor_counters import vendor_counter_values

O = ber.parse_oid  # noqa: E741
SYS_UPTIME = (*O(oids.sysUpTime), 0)
HR_SYSTEM_UPTIME = O("1.3.6.1.2.1.25.1.1.0")
DYNAMIC = frozenset({SYS_UPTIME, HR_SYSTEM_UPTIME})

PRT_ALERT_TABLE = O(oids.prtAlertTable)
CONTRACT_BASE = O(cm.printgwContractMIB)
COLORANT_VALUES = {"black": "black", "cyan": "cyan", "magenta": "magenta", "yellow": "yellow"}


def _s(text: str | bytes) -> bytes:
    return ber.enc_octets(text)


def _i(value: int) -> bytes:
    return ber.enc_int(value)


def _c32(value: int) -> bytes:
    return ber.enc_unsigned(value & 0xFFFFFFFF, ber.COUNTER32)


def _g32(value: int) -> bytes:
    return ber.enc_unsigned(max(0, value) & 0xFFFFFFFF, ber.GAUGE32)


def _tt(value: int) -> bytes:
    return ber.enc_unsigned(value & 0xFFFFFFFF, ber.TIMETICKS)


def _o(text: str) -> bytes:
    return ber.enc_oid(O(text))


def contract_oid(root: ber.Oid, name: str) -> ber.Oid:
    """The OID of contract MIB object `name` (a `protocols.snmp.contract_mib` constant) when the
    MIB sits under `root` instead of `printgwContractMIB`."""
    return root + O(getattr(cm, name))[len(CONTRACT_BASE):]


class MibStore:
    """Sorted OIDs with their pre-encoded varbinds; GETNEXT is `bisect_right`."""

    __slots__ = ("dynamic", "index", "keys", "valid_until", "vbs", "version")

    def __init__(self, values: dict[ber.Oid, bytes], version: int,
                 dynamic: dict[ber.Oid, Callable[[], bytes]] | None = None,
                 valid_until: float = float("inf")) -> None:
        self.keys = sorted(values)
        self.vbs = [ber.varbind(ber.enc_oid(k), values[k]) for k in self.keys]
        self.index = {k: i for i, k in enumerate(self.keys)}
        self.dynamic = dynamic or {}
        self.version = version
        self.valid_until = valid_until

    def _vb(self, i: int) -> bytes:
        if self.dynamic:
            fn = self.dynamic.get(self.keys[i])
            if fn is not None:
                return ber.varbind(ber.enc_oid(self.keys[i]), fn())
        return self.vbs[i]

    def get(self, oid: ber.Oid) -> bytes | None:
        i = self.index.get(oid)
        return None if i is None else self._vb(i)

    def next_index(self, oid: ber.Oid) -> int:
        return bisect_right(self.keys, oid)

    def vb_at(self, i: int) -> bytes:
        return self._vb(i)

    def has_object(self, oid: ber.Oid) -> bool:
        """Some instance of the object `oid[:-1]` exists (→ noSuchInstance, not noSuchObject)."""
        parent = oid[:-1]
        i = bisect_left(self.keys, parent)
        return i < len(self.keys) and self.keys[i][:len(parent)] == parent


def contract_values(state: PrinterState, root: ber.Oid) -> dict[ber.Oid, bytes]:
    """The contract MIB rows of `state` under `root` (normally `printgwContractMIB`)."""

    def r(name: str) -> ber.Oid:
        return contract_oid(root, name)

    v: dict[ber.Oid, bytes] = {
        (*r("pgwContractMode"), 0): _i(state.contract_mode),
        (*r("pgwContractPrintingProhibited"), 0): _i(
            1 if state.contract_printing_prohibited else 2),
        (*r("pgwPanelMessage"), 0): _s(state.panel_message),
        (*r("pgwContractPageCount"), 0): _c32(state.contract_pages),
        (*r("pgwCartridgeReplacementCount"), 0): _c32(state.cartridge_replacements),
        (*r("pgwColorPageCount"), 0): _c32(state.color_pages),
        (*r("pgwMonochromePageCount"), 0): _c32(state.mono_pages),
    }
    dev = state.hr_device_index
    for s in state.supplies:
        if not s.in_contract_mib:
            continue
        v[(*r("pgwSupplyCartridgeType"), dev, s.index)] = _i(
            1 if s.cartridge_type == "contract" else 2)
        v[(*r("pgwSupplyCartridgeId"), dev, s.index)] = _s(s.cartridge_id)
        v[(*r("pgwSupplyNewFlag"), dev, s.index)] = _i(1 if s.new else 2)
    return v


def state_values(state: PrinterState) -> dict[ber.Oid, bytes]:
    """Everything that carries state (levels, counters, status, alerts), for any profile."""
    dev = state.hr_device_index
    v: dict[ber.Oid, bytes] = {}
    v[(*O(oids.hrDeviceStatus), dev)] = _i(state.hr_device_status())
    v[(*O(oids.hrPrinterStatus), dev)] = _i(state.hr_printer_status())
    v[(*O(oids.hrPrinterDetectedErrorState), dev)] = _s(state.detected_error_bits())
    v[(*O(oids.prtMarkerLifeCount), dev, 1)] = _c32(state.total_pages)
    v[(*O(oids.prtMarkerPowerOnCount), dev, 1)] = _c32(state.total_pages % 5000)
    v[(*O(oids.prtGeneralSerialNumber), dev)] = _s(state.serial)
    alerts = state.alerts()
    pstate = state.printer_state()
    status = {"idle": 0, "processing": 4}.get(pstate, 16 | 2) | (8 if alerts else 0)
    if "offline" in state.active_errors():
        status |= 32
    v[(*O(oids.prtMarkerStatus), dev, 1)] = _i(status)
    text = state.panel_message or ("Sleep" if state.asleep else
                                  {"idle": "Ready", "processing": "Printing"}.get(pstate)
                                  or (alerts[0].description if alerts else "Error"))
    v[(*O(oids.prtConsoleDisplayBufferText), dev, 1)] = _s(text)
    for s in state.supplies:
        v[(*O(oids.prtMarkerSuppliesLevel), dev, s.index)] = _i(
            state.reported_level(s, s.level_int))
    return v


def build(state: PrinterState, profile: Profile, contract_root: ber.Oid) -> MibStore:
    """The full OID table of one printer now, its contract MIB (if any) under `contract_root`."""
    if profile.replay and profile.recording is not None:
        return MibStore(profile.recording, state.version)  # a support recording, as recorded
    dyn_values = state_values(state)
    if profile.recording is not None:
        values = dict(profile.recording)
        if profile.recorded_serial:
            old = profile.recorded_serial.encode()
            new = state.serial.encode()
            for k, tlv in values.items():
                if tlv[0] == ber.OCTET_STRING and old in tlv:
                    _tag, s, e = ber.read_tlv(tlv, 0, len(tlv))
                    values[k] = _s(tlv[s:e].replace(old, new))
        for k, tlv in dyn_values.items():
            if k in values:
                values[k] = tlv
        for k in [k for k in values if k[:len(PRT_ALERT_TABLE)] == PRT_ALERT_TABLE]:
            del values[k]
    else:
        values = static_values(state, profile)
        values.update(dyn_values)
        values.update(vendor_counter_values(profile.sys_object_id, state.meters))
        if profile.imaging_counter_mib:
            values.update(pwg_counter_values(state.meters))
    values.update(alert_values(state))
    if state.has_contract_mib:
        values.update(contract_values(state, contract_root))
    dynamic: dict[ber.Oid, Callable[[], bytes]] = {}
    for k in DYNAMIC:
        if k in values or profile.recording is None:
            values.setdefault(k, _tt(0))
            dynamic[k] = lambda: _tt(state.uptime_ticks())
    valid_until = state.processing_until if state.printer_state() == "processing" else float("inf")
    return MibStore(values, state.version, dynamic, valid_until)


def alert_values(state: PrinterState) -> dict[ber.Oid, bytes]:
    dev = state.hr_device_index
    v: dict[ber.Oid, bytes] = {}
    for a in state.alerts():
        row = (dev, a.index)
        v[(*O(oids.prtAlertSeverityLevel), *row)] = _i(a.severity)
        v[(*O(oids.prtAlertTrainingLevel), *row)] = _i(a.training)
        v[(*O(oids.prtAlertGroup), *row)] = _i(a.group)
        v[(*O(oids.prtAlertGroupIndex), *row)] = _i(a.group_index)
        v[(*O(oids.prtAlertLocation), *row)] = _i(-1 if a.group != 11 else a.group_index)
        v[(*O(oids.prtAlertCode), *row)] = _i(a.code)
        v[(*O(oids.prtAlertDescription), *row)] = _s(a.description)
        v[(*O(oids.prtAlertTime), *row)] = _tt(a.time_ticks)
    return v


HR_DEVICE_OTHER = "1.3.6.1.2.1.25.3.1.1"
"""HOST-RESOURCES-TYPES `hrDeviceOther`: how MFPs list their scanner and fax engines."""


def static_values(state: PrinterState, profile: Profile) -> dict[ber.Oid, bytes]:
    """The parts of a built-in profile's table that only change with configuration."""
    dev = state.hr_device_index
    v: dict[ber.Oid, bytes] = {
        (*O(oids.sysDescr), 0): _s(f"{state.make_and_model}; firmware {state.firmware}; "
                                   f"SN {state.serial}"),
        (*O(oids.sysObjectID), 0): _o(profile.sys_object_id),
        (*O(oids.sysContact), 0): _s(state.sys_contact),
        (*O(oids.sysName), 0): _s(state.sys_name),
        (*O(oids.sysLocation), 0): _s(state.sys_location),
        O("1.3.6.1.2.1.1.7.0"): _i(72),
        O("1.3.6.1.2.1.2.1.0"): _i(1),
        O("1.3.6.1.2.1.2.2.1.1.1"): _i(1),
        O("1.3.6.1.2.1.2.2.1.2.1"): _s("eth0"),
        (*O(oids.ifType), 1): _i(6),
        O("1.3.6.1.2.1.2.2.1.4.1"): _i(1500),
        O("1.3.6.1.2.1.2.2.1.5.1"): _g32(100_000_000),
        (*O(oids.ifPhysAddress), 1): _s(state.mac),
        O("1.3.6.1.2.1.2.2.1.7.1"): _i(1),
        O("1.3.6.1.2.1.2.2.1.8.1"): _i(1),
        O("1.3.6.1.2.1.25.2.2.0"): _i(524288),
        (*O(oids.hrDeviceIndex), dev): _i(dev),
        (*O(oids.hrDeviceType), dev): _o(oids.hrDevicePrinter),
        (*O(oids.hrDeviceDescr), dev): _s(state.make_and_model),
        (*O(oids.hrDeviceID), dev): _o("0.0"),
        (*O(oids.hrDeviceErrors), dev): _c32(0),
        # prtGeneralTable
        (*O("1.3.6.1.2.1.43.5.1.1.1"), dev): _c32(1),
        (*O("1.3.6.1.2.1.43.5.1.1.2"), dev): _i(1),
        (*O("1.3.6.1.2.1.43.5.1.1.3"), dev): _i(3),
        (*O(oids.prtGeneralPrinterName), dev): _s(state.make_and_model),
        # prtInputTable: one tray
        (*O("1.3.6.1.2.1.43.8.2.1.2"), dev, 1): _i(3),
        (*O("1.3.6.1.2.1.43.8.2.1.3"), dev, 1): _i(4),
        (*O("1.3.6.1.2.1.43.8.2.1.4"), dev, 1): _i(297000),
        (*O("1.3.6.1.2.1.43.8.2.1.5"), dev, 1): _i(210000),
        (*O("1.3.6.1.2.1.43.8.2.1.8"), dev, 1): _i(8),
        (*O("1.3.6.1.2.1.43.8.2.1.9"), dev, 1): _i(250),
        (*O("1.3.6.1.2.1.43.8.2.1.10"), dev, 1): _i(0 if "paper-empty" in state.errors else -3),
        (*O("1.3.6.1.2.1.43.8.2.1.11"), dev, 1): _i(16 | 2 if "paper-empty" in state.errors
                                                     else 0),
        (*O("1.3.6.1.2.1.43.8.2.1.12"), dev, 1): _s("iso_a4_210x297mm"),
        (*O("1.3.6.1.2.1.43.8.2.1.13"), dev, 1): _s("Tray 1"),
        # prtMarkerTable: one marker
        (*O(oids.prtMarkerMarkTech), dev, 1): _i(profile.mark_tech),
        (*O(oids.prtMarkerCounterUnit), dev, 1): _i(7),
        (*O(oids.prtMarkerProcessColorants), dev, 1): _i(4 if state.color else 1),
        (*O("1.3.6.1.2.1.43.10.2.1.7"), dev, 1): _i(0),
        (*O("1.3.6.1.2.1.43.10.2.1.8"), dev, 1): _i(3),
        (*O("1.3.6.1.2.1.43.10.2.1.9"), dev, 1): _i(600),
        (*O("1.3.6.1.2.1.43.10.2.1.10"), dev, 1): _i(600),
    }
    for index, description in enumerate(profile.other_devices, start=dev + 1):
        v[(*O(oids.hrDeviceIndex), index)] = _i(index)
        v[(*O(oids.hrDeviceType), index)] = _o(HR_DEVICE_OTHER)
        v[(*O(oids.hrDeviceDescr), index)] = _s(description)
        v[(*O(oids.hrDeviceStatus), index)] = _i(2)  # running
    seen_colorants: set[int] = set()
    for s in state.supplies:
        row = (dev, s.index)
        v[(*O(oids.prtMarkerSuppliesMarkerIndex), *row)] = _i(s.marker_index)
        v[(*O(oids.prtMarkerSuppliesColorantIndex), *row)] = _i(s.colorant_index)
        v[(*O(oids.prtMarkerSuppliesClass), *row)] = _i(4 if s.is_receptacle else 3)
        v[(*O(oids.prtMarkerSuppliesType), *row)] = _i(SUPPLY_TYPE_CODES.get(s.kind, 1))
        v[(*O(oids.prtMarkerSuppliesDescription), *row)] = _s(s.description)
        v[(*O(oids.prtMarkerSuppliesSupplyUnit), *row)] = _i(s.unit)
        v[(*O(oids.prtMarkerSuppliesMaxCapacity), *row)] = _i(s.reported_capacity)
        if s.colorant_index and s.colorant_index not in seen_colorants and s.color:
            seen_colorants.add(s.colorant_index)
            crow = (dev, s.colorant_index)
            v[(*O(oids.prtMarkerColorantMarkerIndex), *crow)] = _i(1)
            v[(*O(oids.prtMarkerColorantRole), *crow)] = _i(3)
            v[(*O(oids.prtMarkerColorantValue), *crow)] = _s(COLORANT_VALUES.get(s.color, s.color))
            v[(*O(oids.prtMarkerColorantTonality), *crow)] = _i(256)
    return v
