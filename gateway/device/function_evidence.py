"""What a reading shows the device can do: `print`, `scan`, `fax`, `copy`, `large-format`,
`label`.

Each function is recorded with its first evidence in `DeviceStatus.functions` (for diagnostics:
`printgw poll --json` shows why a device is an MFP); `gateway.device.device_type` decides the type
from them.  The evidence, by where it is found:

- HOST-RESOURCES `hrDeviceTable`: an `hrDevicePrinter` entry prints; MFPs list their other
  engines as further entries (`hrDeviceOther`, or a vendor type) whose description names them
  (`Scanner Unit`, `Samsung Fax Card`, `Copier`, `Multi-Functional Device`);
- `sysDescr`, the model name and `printer-make-and-model`: the same words (`RICOH … Network Scanner
  … Network Facsimile`, `HP LaserJet MFP M130nw`, Brother's `MFC-` line);
- the IEEE 1284 device ID (IPP `printer-device-id` or the vendors' SNMP objects): its classes
  and command sets (`CLS:PRINTER`, `CLS:SCANNER`, a `FAX…` command set);
- IPP: `printer-kind` (`large-format`), `ipp-features-supported` (`faxout`, scan features), the
  FaxOut service's URI (`…/ipp/faxout` in `printer-uri-supported`), any `printer-fax-*` attribute;
- media: a size of A2 (420 by 594 mm) or larger, roll media included, makes a large-format device.
  Sizes are read from the PWG 5101.1 self-describing name (`iso_a2_420x594mm`,
  `roll_max_914.4x50000mm`), never from the name alone (`na_a2_4.375x5.75in` is an envelope);
- label printers (`label`): a label language in the device ID's `CMD` (`LABEL_LANGUAGES`), a
  label maker's sysObjectID enterprise (Zebra), a label printer's name (`_WORDS`), or IPP label
  media with nothing wider than a label printer takes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

from gateway.device.fields import parsed_device_id
from gateway.device.model import DeviceStatus
from protocols.snmp import oids

_WORDS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (re.compile(r"\bscan(?:ner|ning)?\b", re.IGNORECASE), ("scan",)),
    (re.compile(r"\bfax\b|\bfacsimile\b", re.IGNORECASE), ("fax",)),
    (re.compile(r"\bcop(?:y|ier)\b", re.IGNORECASE), ("copy",)),
    (re.compile(r"multi-?function|\bMFP\b|\bMFC-|all-in-one", re.IGNORECASE), ("scan", "copy")),
    (re.compile(r"label ?printer|\bLabelWriter\b|\bDYMO\b|\bZebra\b|\bZTC\b|\bDatamax\b|"
                r"\bSATO\b|\bTSC\b|\bIntermec\b|\b(?:QL|PT|TD)-\d", re.IGNORECASE), ("label",)),
)
"""Words in a device's own descriptions and the functions they name.  A multi-function device
scans and copies by definition; fax is only taken where it is named.  Label printers: the makers
that make only those (Zebra, DYMO, Datamax, SATO, TSC, Intermec) and Brother's QL, PT (P-touch)
and TD lines."""

LABEL_LANGUAGES = frozenset({"ZPL", "ZPL2", "ZPLII", "EPL", "EPL2", "CPCL", "DPL", "SBPL",
                             "TSPL", "TSPL2", "IPL", "FINGERPRINT", "PT-CBP"})
"""Command sets (the device ID's `CMD`) of label printers only: Zebra's ZPL, EPL and CPCL,
Datamax's DPL, SATO's SBPL, TSC's TSPL, Intermec's IPL and Fingerprint, Brother's P-touch raster
(`PT-CBP`)."""
LABEL_ENTERPRISES = {"10642": "Zebra"}
"""sysObjectID enterprises of label printer makers."""
LABEL_MEDIA_MAX_WIDTH_MM = 120.0
"""A device whose media includes labels and none wider than this is a label printer (desktop and
industrial label printers take labels up to 4.x inches wide)."""

_MEDIA_SIZE = re.compile(r"_(?P<w>\d+(?:\.\d+)?)x(?P<h>\d+(?:\.\d+)?)(?P<unit>mm|in)$")
LARGE_FORMAT_MIN_MM = (420.0, 594.0)
"""ISO A2: a device that takes a sheet or roll at least this large is a large-format device."""
_MEDIA_CLASSES_NOT_SHEETS = ("custom_min_",)
"""The smallest custom size says nothing of the largest."""

def show_described_functions(status: DeviceStatus, source: str, text: str | None) -> None:
    """The functions a description names (`_WORDS`), with `source` and the text as evidence."""
    if not text:
        return
    for function, word in _described(text):
        if function not in status.functions:
            status.show_function(function, f"{source}: {word!r} in {text!r:.80}")


@functools.lru_cache(maxsize=2048)
def _described(text: str) -> tuple[tuple[str, str], ...]:
    """(function, the word naming it) for each of `_WORDS` found in `text`, in their order: a
    printer sends the same descriptions at every reading."""
    found = []
    for pattern, functions in _WORDS:
        if match := pattern.search(text):
            found += [(function, match.group(0)) for function in functions]
    return tuple(found)


def show_snmp_functions(status: DeviceStatus, types: Mapping[str, object],
                        descriptions: Mapping[str, str | None]) -> None:
    """Evidence from the `hrDeviceTable` columns (`hrDeviceType`, `hrDeviceDescr` by index)."""
    for index, device_type in types.items():
        if device_type == oids.hrDevicePrinter:
            status.show_function("print", f"snmp:hrDeviceType.{index}=hrDevicePrinter")
    for index, description in descriptions.items():
        show_described_functions(status, f"snmp:hrDeviceDescr.{index}", description)
    show_described_functions(status, "snmp:sysDescr", status.identity.sys_descr)
    enterprise = (status.identity.sys_object_id or "").removeprefix("1.3.6.1.4.1.").split(".")[0]
    if maker := LABEL_ENTERPRISES.get(enterprise):
        status.show_function("label", f"snmp:sysObjectID={status.identity.sys_object_id} "
                             f"({maker})")


def show_ipp_functions(status: DeviceStatus, attributes: Mapping[str, object]) -> None:
    """Evidence from a Get-Printer-Attributes answer (values as the parser gives them)."""
    if "large-format" in _keywords(attributes.get("printer-kind")):
        status.show_function("large-format", "ipp:printer-kind=large-format")
    for feature in _keywords(attributes.get("ipp-features-supported")):
        if "fax" in feature:
            status.show_function("fax", f"ipp:ipp-features-supported={feature}")
        elif "scan" in feature:
            status.show_function("scan", f"ipp:ipp-features-supported={feature}")
    for uri in _keywords(attributes.get("printer-uri-supported")):
        if uri.rstrip("/").endswith("/faxout"):
            status.show_function("fax", f"ipp:printer-uri-supported={uri}")
    if fax := _fax_attribute(tuple(attributes)):
        status.show_function("fax", f"ipp:{fax}")
    for name in ("media-supported", "media-size-supported", "media-ready"):
        if large := _large_medium(tuple(_keywords(attributes.get(name)))):
            status.show_function("large-format", f"ipp:{name}={large}")
    if label := _label_medium(tuple(_keywords(attributes.get("media-supported")))):
        status.show_function("label", f"ipp:media-supported={label}")
    show_described_functions(status, "ipp:printer-make-and-model",
                             next(iter(_keywords(attributes.get("printer-make-and-model"))), None))


def show_identity_functions(status: DeviceStatus) -> None:
    """Evidence from the identity the reading settled on (whichever protocol gave it): the
    model name and the IEEE 1284 device ID."""
    show_described_functions(status, "identity.model", status.identity.model)
    _show_device_id_functions(status, status.identity.device_id)


def _show_device_id_functions(status: DeviceStatus, text: str | None) -> None:
    fields = parsed_device_id(text or "")
    for function, evidence in _device_id_evidence(fields.get("CLS", ""), fields.get("CMD", "")):
        status.show_function(function, evidence)


@functools.lru_cache(maxsize=1024)
def _device_id_evidence(classes_text: str, commands_text: str) -> tuple[tuple[str, str], ...]:
    """(function, evidence) from the device ID's classes (`CLS`) and command sets (`CMD`): the
    same for the printers of a model (unlike the device ID, which holds the serial)."""
    classes = frozenset(c.strip().upper() for c in classes_text.split(","))
    commands = frozenset(c.strip().upper() for c in commands_text.split(","))
    found = []
    if "PRINTER" in classes:
        found.append(("print", "device-id:CLS:PRINTER"))
    if "SCANNER" in classes:
        found.append(("scan", "device-id:CLS:SCANNER"))
    if classes & {"FAX", "MODEM"}:
        found.append(("fax", f"device-id:CLS:{sorted(classes & {'FAX', 'MODEM'})[0]}"))
    if fax_commands := sorted(c for c in commands if c.startswith("FAX")):
        found.append(("fax", f"device-id:CMD:{fax_commands[0]}"))
    if label_commands := sorted(commands & LABEL_LANGUAGES):
        found.append(("label", f"device-id:CMD:{label_commands[0]}"))
    return tuple(found)


# An answer names the same attributes and media at every reading, as do the printers of a model:
# what they show is worked out once.

@functools.lru_cache(maxsize=256)
def _fax_attribute(names: tuple[object, ...]) -> str | None:
    """The first `printer-fax-*` attribute of an answer's attribute names."""
    return next((name for name in names
                 if isinstance(name, str) and name.startswith("printer-fax-")), None)


@functools.lru_cache(maxsize=256)
def _large_medium(names: tuple[str, ...]) -> str | None:
    """The first medium of a sheet or roll of A2 or larger."""
    for name in names:
        if name.startswith(_MEDIA_CLASSES_NOT_SHEETS):
            continue
        size = media_size_mm(name)
        if size is not None and _at_least_a2(size):
            return name
    return None


@functools.lru_cache(maxsize=256)
def _label_medium(names: tuple[str, ...]) -> str | None:
    """Label media (`oe_4x6-label_4x6in`) and nothing wider than a label printer takes: the
    first label medium."""
    label = next((name for name in names if "label" in name.lower()), None)
    sizes = [size for name in names if (size := media_size_mm(name)) is not None]
    if label and sizes and max(short for short, _ in sizes) <= LABEL_MEDIA_MAX_WIDTH_MM:
        return label
    return None


@functools.lru_cache(maxsize=4096)
def media_size_mm(name: str) -> tuple[float, float] | None:
    """(short side, long side) in mm of a PWG 5101.1 self-describing media name, or None."""
    match = _MEDIA_SIZE.search(name)
    if match is None:
        return None
    scale = 25.4 if match["unit"] == "in" else 1.0
    width, height = float(match["w"]) * scale, float(match["h"]) * scale
    return (min(width, height), max(width, height))


def _at_least_a2(size: tuple[float, float]) -> bool:
    return size[0] >= LARGE_FORMAT_MIN_MM[0] and size[1] >= LARGE_FORMAT_MIN_MM[1]


def _keywords(value: object) -> list[str]:
    """An attribute's values that are text (one value or a list, as the parser gives them)."""
    values = value if isinstance(value, list | tuple) else [value]
    return [v for v in values if isinstance(v, str)]
