"""The model as the vendor names it: candidates from every source, cleaned, and chosen by the
documented preference of `gateway.device.model_name` (real devices' strings)."""

from __future__ import annotations

import pytest

from gateway.device.model_name import ModelCandidate, better_model, choose_model, clean_model

VENDOR = "snmp:1.3.6.1.4.1.2435.2.4.3.2435.5.13.3.0"


@pytest.mark.parametrize(("source", "text", "expected"), [
    ("snmp:sysDescr", "Xerox AltaLink C8045; SS 100.002.057.09608, NC 100.002.09608",
     "Xerox AltaLink C8045"),
    ("snmp:sysDescr", "Samsung M4080FX; V11.01.03.04_02-27-2017;Engine V1.00.06",
     "Samsung M4080FX"),
    ("snmp:sysDescr", "HP ETHERNET MULTI-ENVIRONMENT,SN:VNCRC48198,FN:4Q817L4,SVCID:31339,"
     "PID:HP LaserJet MFP M130nw", "HP LaserJet MFP M130nw"),
    ("snmp:sysDescr", "HP ETHERNET MULTI-ENVIRONMENT,ROM none,JETDIRECT,JD149,EEPROM JDI99999999",
     None),
    ("snmp:sysDescr", "OKI OkiLAN 9450g Rev.00.69 10/100/1000BASE Ethernet PrintServer: "
     "Attached to MC873 Rev.07.87 : Copyright (c) 2015 Oki Data Corporation.", "MC873"),
    ("snmp:sysDescr", "RICOH Aficio MP C3002 2.20 / RICOH Network Printer C model",
     "RICOH Aficio MP C3002"),
    ("snmp:sysDescr", "Brother NC-8300h, Firmware Ver.1.14  (14.11.06),MID 8C5-F01", None),
    ("snmp:sysDescr", "EPSON Built-in", None),
    ("snmp:sysDescr", "KONICA MINOLTA bizhub C250i", "KONICA MINOLTA bizhub C250i"),
    ("snmp:sysDescr", "Lexmark MS610de version PP.LBL.P250 kernel 2.6.28", "Lexmark MS610de"),
    ("snmp:sysDescr", "Canon iR-ADV C5535 /P", "Canon iR-ADV C5535"),
    ("snmp:sysDescr", "Canon LBP6670 /P", "Canon LBP6670"),
    ("snmp:sysDescr", "Dell Color Laser 3110cn; Net 11.44, Controller 200609072014",
     "Dell Color Laser 3110cn"),
    ("snmp:sysDescr", "Lexmark CX725 version CXTPC.230.037 kernel 4.11.12-yocto-standard",
     "Lexmark CX725"),
    ("snmp:sysDescr", "KYOCERA Document Solutions Printing System",
     "KYOCERA Document Solutions Printing System"),
    ("snmp:hrDeviceDescr", "Samsung M408x Series", "Samsung M408x"),
    ("snmp:hrDeviceDescr", "Brother MFC-L2710DW series", "Brother MFC-L2710DW"),
    ("snmp:hrDeviceDescr", "HP HP LaserJet Pro M404dn", "HP LaserJet Pro M404dn"),
    ("snmp:hrDeviceDescr", "Dell C2665dnf Color Laser, FW:201506031", "Dell C2665dnf Color Laser"),
    ("ipp:printer-make-and-model", "EPSON XP-6000 Series", "EPSON XP-6000"),
    ("snmp:hrDeviceDescr", "TOSHIBA e-STUDIO2505AC Ver 1.00.30", "TOSHIBA e-STUDIO2505AC"),
])
def test_each_source_is_cleaned(source: str, text: str, expected: str | None) -> None:
    candidate = clean_model(text, source)
    assert (candidate.name if candidate else None) == expected


def names(*pairs: tuple[str, str]) -> list[ModelCandidate]:
    return [c for source, text in pairs if (c := clean_model(text, source))]


@pytest.mark.parametrize(("pairs", "expected", "source"), [
    # HP: the device ID's MDL is the driver family; DES, sysDescr and hrDeviceDescr the model
    ([("snmp:device-id", "HP LaserJet MFP M129-M134"),
      ("snmp:sysDescr", "HP ETHERNET MULTI-ENVIRONMENT,SN:VN1,PID:HP LaserJet MFP M130nw"),
      ("snmp:hrDeviceDescr", "HP LaserJet MFP M130nw"),
      ("snmp:device-id DES", "HP LaserJet MFP M130nw")],
     "HP LaserJet MFP M130nw", "snmp:sysDescr"),
    # Samsung: the series (driver) name loses to sysDescr's exact model inside it
    ([("snmp:sysDescr", "Samsung M4080FX; V11.01.03.04"),
      ("snmp:hrDeviceDescr", "Samsung M408x Series")], "Samsung M4080FX", "snmp:sysDescr"),
    ([("snmp:hrDeviceDescr", "Samsung M408x Series"),
      ("snmp:1.3.6.1.4.1.236.11.5.1.1.1.1.0", "M4080FX")], "M4080FX",
     "snmp:1.3.6.1.4.1.236.11.5.1.1.1.1.0"),
    # Brother: a print server's stale device ID (MFC-8440) does not beat the vendor's object
    ([(VENDOR, "Brother MFC-L2710DW series"), ("snmp:device-id", "MFC-8440"),
      ("snmp:sysDescr", "Brother NC-8300h, Firmware Ver.1.14"),
      ("snmp:hrDeviceDescr", "Brother MFC-L2710DW series")], "Brother MFC-L2710DW", VENDOR),
    # a generic driver name is taken only when nothing else names the device
    ([("snmp:hrDeviceDescr", "Generic 35C-4 Series"),
      ("snmp:sysDescr", "RICOH MP C3504ex 1.05 / RICOH Network Printer C model")],
     "RICOH MP C3504ex", "snmp:sysDescr"),
    ([("snmp:hrDeviceDescr", "Generic PCL Printer")], "Generic PCL Printer",
     "snmp:hrDeviceDescr"),
    # a name without a model code loses to one with
    ([("snmp:device-id", "Laser Printer"), ("snmp:hrDeviceDescr", "Lexmark CX725")],
     "Lexmark CX725", "snmp:hrDeviceDescr"),
    # a name without a code (Kyocera's sysDescr) loses to the vendor's object
    ([("snmp:sysDescr", "KYOCERA Document Solutions Printing System"),
      ("snmp:1.3.6.1.4.1.1347.43.5.1.1.1.1", "ECOSYS M2540dn")], "ECOSYS M2540dn",
     "snmp:1.3.6.1.4.1.1347.43.5.1.1.1.1"),
    # a better-ranked name without the variant's letters loses to the full model
    ([("snmp:device-id", "HP LaserJet 400 M401"), ("snmp:hrDeviceDescr",
                                                   "HP LaserJet 400 M401dne")],
     "HP LaserJet 400 M401dne", "snmp:hrDeviceDescr"),
    ([("snmp:sysDescr", "Samsung C480W; V3.00.01.19"),
      ("snmp:hrDeviceDescr", "Samsung C48x Series")], "Samsung C480W", "snmp:sysDescr"),
    ([("snmp:device-id", "HP LaserJet Pro MFP M225-M226"),
      ("snmp:hrDeviceDescr", "HP LaserJet Pro MFP M225dw")], "HP LaserJet Pro MFP M225dw",
     "snmp:hrDeviceDescr"),
    # a different number is another model, not a variant: the preference decides
    ([("snmp:device-id", "HP LaserJet M40"), ("snmp:hrDeviceDescr", "HP LaserJet M401")],
     "HP LaserJet M40", "snmp:device-id"),
    # the more specific model inside a series wins
    ([("ipp:printer-make-and-model", "Brother HL-L2350DW series"),
      ("snmp:hrDeviceDescr", "Brother HL-L2350DWX")], "Brother HL-L2350DWX",
     "snmp:hrDeviceDescr"),
])
def test_the_best_candidate_wins(pairs: list[tuple[str, str]], expected: str,
                                 source: str) -> None:
    winner = choose_model(names(*pairs))
    assert winner is not None
    assert (winner.name, winner.source) == (expected, source)


def test_ipp_replaces_only_a_worse_name() -> None:
    """SNMP is mapped first: IPP's make-and-model replaces a series name it refines, never the
    vendor's model object."""
    offers = names(("ipp:printer-make-and-model", "Samsung M4080FX"))
    better = better_model("Samsung M408x", "snmp:hrDeviceDescr", offers)
    assert better is not None and better.name == "Samsung M4080FX"
    assert better_model("LBP6670", "snmp:1.3.6.1.4.1.1602.1.1.1.1.0",
                        names(("ipp:printer-make-and-model", "Canon LBP6670/6680"))) is None
    assert better_model(None, None, offers) == offers[0]
    assert better_model("HP LaserJet MFP M130nw", "snmp:hrDeviceDescr",
                        names(("ipp:printer-device-id", "HP LaserJet MFP M129-M134"))) is None
