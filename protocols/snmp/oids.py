"""Numeric OIDs of the standard MIB objects the gateway reads.

Every name here is the MIB object's own name (SNMPv2-MIB, IF-MIB, HOST-RESOURCES-MIB, Printer-MIB
of RFC 3805); `tests/protocols/snmp/test_mibs.py` compiles the sources in `mibs/` and checks
each constant against them.  Numeric OIDs are used on the hot path: no MIB lookups at poll time.
"""

# SNMPv2-MIB system group (scalars: append ".0")
sysDescr = "1.3.6.1.2.1.1.1"
sysObjectID = "1.3.6.1.2.1.1.2"
sysUpTime = "1.3.6.1.2.1.1.3"
sysContact = "1.3.6.1.2.1.1.4"
sysName = "1.3.6.1.2.1.1.5"
sysLocation = "1.3.6.1.2.1.1.6"

# IF-MIB
ifType = "1.3.6.1.2.1.2.2.1.3"
ifPhysAddress = "1.3.6.1.2.1.2.2.1.6"

# HOST-RESOURCES-MIB
hrDeviceTable = "1.3.6.1.2.1.25.3.2"
hrDeviceEntry = "1.3.6.1.2.1.25.3.2.1"
hrDeviceIndex = "1.3.6.1.2.1.25.3.2.1.1"
hrDeviceType = "1.3.6.1.2.1.25.3.2.1.2"
hrDeviceDescr = "1.3.6.1.2.1.25.3.2.1.3"
hrDeviceID = "1.3.6.1.2.1.25.3.2.1.4"
hrDeviceStatus = "1.3.6.1.2.1.25.3.2.1.5"
hrDeviceErrors = "1.3.6.1.2.1.25.3.2.1.6"
hrPrinterTable = "1.3.6.1.2.1.25.3.5"
hrPrinterEntry = "1.3.6.1.2.1.25.3.5.1"
hrPrinterStatus = "1.3.6.1.2.1.25.3.5.1.1"
hrPrinterDetectedErrorState = "1.3.6.1.2.1.25.3.5.1.2"

# HOST-RESOURCES-TYPES: the hrDeviceType value of a printer
hrDevicePrinter = "1.3.6.1.2.1.25.3.1.5"

# Printer-MIB (RFC 3805)
printmib = "1.3.6.1.2.1.43"
prtGeneralTable = "1.3.6.1.2.1.43.5.1"
prtGeneralEntry = "1.3.6.1.2.1.43.5.1.1"
prtGeneralPrinterName = "1.3.6.1.2.1.43.5.1.1.16"
prtGeneralSerialNumber = "1.3.6.1.2.1.43.5.1.1.17"
prtMarkerTable = "1.3.6.1.2.1.43.10.2"
prtMarkerEntry = "1.3.6.1.2.1.43.10.2.1"
prtMarkerMarkTech = "1.3.6.1.2.1.43.10.2.1.2"
prtMarkerCounterUnit = "1.3.6.1.2.1.43.10.2.1.3"
prtMarkerLifeCount = "1.3.6.1.2.1.43.10.2.1.4"
prtMarkerPowerOnCount = "1.3.6.1.2.1.43.10.2.1.5"
prtMarkerProcessColorants = "1.3.6.1.2.1.43.10.2.1.6"
prtMarkerStatus = "1.3.6.1.2.1.43.10.2.1.15"
prtMarkerSuppliesTable = "1.3.6.1.2.1.43.11.1"
prtMarkerSuppliesEntry = "1.3.6.1.2.1.43.11.1.1"
prtMarkerSuppliesMarkerIndex = "1.3.6.1.2.1.43.11.1.1.2"
prtMarkerSuppliesColorantIndex = "1.3.6.1.2.1.43.11.1.1.3"
prtMarkerSuppliesClass = "1.3.6.1.2.1.43.11.1.1.4"
prtMarkerSuppliesType = "1.3.6.1.2.1.43.11.1.1.5"
prtMarkerSuppliesDescription = "1.3.6.1.2.1.43.11.1.1.6"
prtMarkerSuppliesSupplyUnit = "1.3.6.1.2.1.43.11.1.1.7"
prtMarkerSuppliesMaxCapacity = "1.3.6.1.2.1.43.11.1.1.8"
prtMarkerSuppliesLevel = "1.3.6.1.2.1.43.11.1.1.9"
prtMarkerColorantTable = "1.3.6.1.2.1.43.12.1"
prtMarkerColorantEntry = "1.3.6.1.2.1.43.12.1.1"
prtMarkerColorantMarkerIndex = "1.3.6.1.2.1.43.12.1.1.2"
prtMarkerColorantRole = "1.3.6.1.2.1.43.12.1.1.3"
prtMarkerColorantValue = "1.3.6.1.2.1.43.12.1.1.4"
prtMarkerColorantTonality = "1.3.6.1.2.1.43.12.1.1.5"
prtConsoleDisplayBufferText = "1.3.6.1.2.1.43.16.5.1.2"
prtAlertTable = "1.3.6.1.2.1.43.18.1"
prtAlertEntry = "1.3.6.1.2.1.43.18.1.1"
prtAlertSeverityLevel = "1.3.6.1.2.1.43.18.1.1.2"
prtAlertTrainingLevel = "1.3.6.1.2.1.43.18.1.1.3"
prtAlertGroup = "1.3.6.1.2.1.43.18.1.1.4"
prtAlertGroupIndex = "1.3.6.1.2.1.43.18.1.1.5"
prtAlertLocation = "1.3.6.1.2.1.43.18.1.1.6"
prtAlertCode = "1.3.6.1.2.1.43.18.1.1.7"
prtAlertDescription = "1.3.6.1.2.1.43.18.1.1.8"
prtAlertTime = "1.3.6.1.2.1.43.18.1.1.9"
