"""The device type from what the device says: real printers' SNMP recordings (served by snmpsim,
read by `printgw poll`), real IPP answers, and the evidence rules one by one."""

from __future__ import annotations

import json

import pytest

from gateway.device.device_type import device_functions, device_type, type_evidence
from gateway.device.function_evidence import media_size_mm
from gateway.device.ipp_mapping import apply_ipp
from gateway.device.model import DeviceStatus
from protocols.ipp.model import IppReading
from protocols.ipp.parser import parse_response
from tests.support.paths import IPP_FIXTURES
from tests.support.printgw_cli import printgw

RECORDED_TYPES = {
    # what the recordings themselves say (not what the product sheet says)
    "brother": ("mfp", "MFC-"),  # hrDeviceDescr "Brother MFC-L2710DW series"
    "canonprinter_lbp": ("printer", None),
    "jetdirect_m130nw": ("mfp", "MFP"),  # "HP LaserJet MFP M130nw"
    "jetdirect_m880": ("mfp", "MFP"),
    "ricoh_mpc3002": ("mfp", "Facsimile"),  # sysDescr: "… Network Scanner … Network Facsimile"
    "samsungprinter_m4080fx": ("mfp", "Fax"),  # hrDeviceDescr "Samsung Fax Card, …"
    "sharp": ("mfp", "Copier"),  # hrDeviceDescr "Copier", "Multi-Functional Device", "Scanner Unit"
}


@pytest.mark.parametrize("community", sorted(RECORDED_TYPES))
def test_recorded_printers_types(recorded_printers: tuple[str, int], community: str) -> None:
    host, port = recorded_printers
    result = printgw("poll", host, "--port", str(port), "--community", community, "--no-ipp",
                     "--json")
    assert result.returncode == 0, result.stderr
    status = DeviceStatus.from_json(json.loads(result.stdout))
    expected_type, word = RECORDED_TYPES[community]
    assert device_type(status) == expected_type, status.functions
    assert "print" in device_functions(status)
    evidence = type_evidence(status)
    if word is not None:
        assert any(word in source for source in evidence.values()), evidence
    else:
        assert set(evidence) == {"print"}, evidence


def _real_ipp(name: str) -> DeviceStatus:
    _, version, attributes, problems = parse_response(
        (IPP_FIXTURES / "real" / f"get-printer-attributes-{name}.bin").read_bytes())
    status = DeviceStatus(host="192.0.2.1")
    apply_ipp(status, IppReading("ipp://x", version, 0, attributes, problems))
    return status


def test_real_ipp_answers() -> None:
    brother = _real_ipp("brother-mfcj5320dw")
    assert device_type(brother) == "mfp"
    assert brother.functions["fax"] == "ipp:ipp-features-supported=faxout"
    assert brother.functions["print"] == "device-id:CLS:PRINTER"
    # an A3 inkjet photo printer and an office inkjet that say nothing of scanning
    epson = _real_ipp("epsonxp6000")
    assert device_type(epson) == "printer"
    # HP's `na_a2_4.375x5.75in` is an envelope, not ISO A2
    hp = _real_ipp("hp6830")
    assert "large-format" not in device_functions(hp)
    assert device_type(hp) == "printer"


def _ipp_status(**attributes: object) -> DeviceStatus:
    status = DeviceStatus(host="192.0.2.1")
    apply_ipp(status, IppReading("ipp://x", (2, 0), 0, {
        "printer-make-and-model": "Acme Model 1", **attributes}, []))
    return status


@pytest.mark.parametrize(("attributes", "function", "kind"), [
    ({"printer-kind": ["document", "large-format"]}, "large-format", "large-format"),
    ({"media-supported": ["iso_a4_210x297mm", "roll_max_914.4x50000mm"]}, "large-format",
     "large-format"),
    ({"media-supported": ["iso_a2_420x594mm"]}, "large-format", "large-format"),
    ({"media-supported": ["na_arch-e_36x48in"]}, "large-format", "large-format"),
    ({"printer-uri-supported": ["ipp://x/ipp/print", "ipp://x/ipp/faxout"]}, "fax", "mfp"),
    ({"printer-fax-modem-name": ["line 1"]}, "fax", "mfp"),
    ({"printer-device-id": "MFG:Acme;MDL:One;CMD:PCL,FAXG3;CLS:PRINTER;"}, "fax", "mfp"),
    ({"printer-device-id": "MFG:Acme;MDL:One;CMD:PCL;CLS:PRINTER,SCANNER;"}, "scan", "mfp"),
    ({"printer-make-and-model": "Acme Multifunction 5"}, "scan", "mfp"),
    ({"printer-device-id": "MFG:Acme;MDL:One;CMD:PCL;CLS:PRINTER;"}, "print", "printer"),
])
def test_ipp_evidence(attributes: dict[str, object], function: str, kind: str) -> None:
    status = _ipp_status(**attributes)
    assert function in device_functions(status)
    assert device_type(status) == kind
    assert type_evidence(status)[function]


def test_small_media_and_min_sizes_are_not_large_format() -> None:
    status = _ipp_status(**{"media-supported": [
        "custom_min_88.9x127mm", "custom_max_287x431.8mm", "iso_a3_297x420mm",
        "na_ledger_11x17in"], "printer-kind": ["document", "envelope"]})
    assert "large-format" not in device_functions(status)
    assert media_size_mm("iso_a2_420x594mm") == (420.0, 594.0)
    assert media_size_mm("na_arch-e_36x48in") == pytest.approx((914.4, 1219.2))
    assert media_size_mm("iso_a4") is None


def test_nothing_known_is_unknown_and_functions_survive_json() -> None:
    assert device_type(DeviceStatus(host="192.0.2.1")) == "unknown"
    status = _ipp_status(**{"printer-kind": ["large-format"]})
    again = DeviceStatus.from_json(json.loads(json.dumps(status.to_json())))
    assert again.functions == status.functions
    assert device_type(again) == "large-format"


@pytest.mark.parametrize(("attributes", "evidence"), [
    ({"printer-device-id": "MFG:Acme;CMD:ZPL;MDL:Model 7;CLS:PRINTER;"}, "device-id:CMD:ZPL"),
    ({"printer-device-id": "MFG:Acme;CMD:EPL2,CPCL;MDL:One;CLS:PRINTER;"}, "device-id:CMD:CPCL"),
    ({"printer-device-id": "MFG:Brother;CMD:PT-CBP;MDL:Model 7;CLS:PRINTER;"},
     "device-id:CMD:PT-CBP"),
    ({"printer-device-id": "MFG:Zebra Technologies;CMD:ZPL;MDL:ZTC ZD420-300dpi ZPL;"
      "CLS:PRINTER;"}, "identity.model"),
    ({"printer-make-and-model": "Brother QL-820NWB"}, "ipp:printer-make-and-model"),
    ({"printer-make-and-model": "DYMO LabelWriter 450"}, "ipp:printer-make-and-model"),
    ({"media-supported": ["oe_4x6-label_4x6in", "oe_2x1-label_2x1in"]},
     "ipp:media-supported=oe_4x6-label_4x6in"),
])
def test_label_printers(attributes: dict[str, object], evidence: str) -> None:
    status = _ipp_status(**attributes)
    assert device_type(status) == "label"
    assert type_evidence(status)["label"].startswith(evidence)


def test_office_printers_with_label_media_are_not_label_printers() -> None:
    status = _ipp_status(**{"media-supported": ["iso_a4_210x297mm", "na_letter_8.5x11in",
                                                "oe_4x6-label_4x6in"]})
    assert "label" not in device_functions(status)


def test_zebra_enterprise_over_snmp() -> None:
    from gateway.device.function_evidence import show_snmp_functions
    status = DeviceStatus(host="192.0.2.1")
    status.identity.sys_object_id = "1.3.6.1.4.1.10642.1.1"
    show_snmp_functions(status, {}, {"1": "ZTC ZT410-203dpi ZPL"})
    assert device_type(status) == "label"
    assert "10642" in type_evidence(status)["label"] or "ZTC" in type_evidence(status)["label"]
