"""The standard data identifiers of ISO 14229-1 Annex C.1 (F180-F19F) by name
and how their bytes read, for the laptop side (the CLI's decoded output).

    describe(0xF190, b"W0L000043MB541326") -> ("VIN", "W0L000043MB541326")
    describe(0xF18B, b"\\x24\\x03\\x15")      -> ("ECUManufacturingDate", "2024-03-15")

A DID outside the table, or a value whose length does not fit its format,
reads as hex.
"""
from __future__ import annotations

from typing import Optional, Tuple

__all__ = ["STANDARD_DIDS", "did_name", "describe"]

# did -> (name as in Annex C.1, format): "ascii", "bcd_date" (YYMMDD), "session", "hex"
STANDARD_DIDS = {
    0xF180: ("BootSoftwareIdentification", "hex"),
    0xF181: ("ApplicationSoftwareIdentification", "hex"),
    0xF182: ("ApplicationDataIdentification", "hex"),
    0xF183: ("BootSoftwareFingerprint", "hex"),
    0xF184: ("ApplicationSoftwareFingerprint", "hex"),
    0xF185: ("ApplicationDataFingerprint", "hex"),
    0xF186: ("ActiveDiagnosticSession", "session"),
    0xF187: ("ManufacturerSparePartNumber", "ascii"),
    0xF188: ("ManufacturerECUSoftwareNumber", "ascii"),
    0xF189: ("ManufacturerECUSoftwareVersionNumber", "ascii"),
    0xF18A: ("SystemSupplierIdentifier", "ascii"),
    0xF18B: ("ECUManufacturingDate", "bcd_date"),
    0xF18C: ("ECUSerialNumber", "ascii"),
    0xF18D: ("SupportedFunctionalUnits", "hex"),
    0xF18E: ("ManufacturerKitAssemblyPartNumber", "ascii"),
    0xF18F: ("RegulationXSoftwareIdentificationNumbers", "hex"),
    0xF190: ("VIN", "ascii"),
    0xF191: ("ManufacturerECUHardwareNumber", "ascii"),
    0xF192: ("SystemSupplierECUHardwareNumber", "ascii"),
    0xF193: ("SystemSupplierECUHardwareVersionNumber", "ascii"),
    0xF194: ("SystemSupplierECUSoftwareNumber", "ascii"),
    0xF195: ("SystemSupplierECUSoftwareVersionNumber", "ascii"),
    0xF196: ("ExhaustRegulationOrTypeApprovalNumber", "ascii"),
    0xF197: ("SystemNameOrEngineType", "ascii"),
    0xF198: ("RepairShopCodeOrTesterSerialNumber", "ascii"),
    0xF199: ("ProgrammingDate", "bcd_date"),
    0xF19A: ("CalibrationRepairShopCodeOrCalibrationEquipmentSerialNumber", "ascii"),
    0xF19B: ("CalibrationDate", "bcd_date"),
    0xF19C: ("CalibrationEquipmentSoftwareNumber", "ascii"),
    0xF19D: ("ECUInstallationDate", "bcd_date"),
    0xF19E: ("ODXFile", "ascii"),
    0xF19F: ("Entity", "hex"),
}

_SESSIONS = {0x01: "defaultSession", 0x02: "programmingSession",
             0x03: "extendedDiagnosticSession", 0x04: "safetySystemDiagnosticSession"}


def did_name(did: int) -> Optional[str]:
    """The Annex C.1 name of ``did``, or None."""
    e = STANDARD_DIDS.get(did)
    return None if e is None else e[0]


def _bcd(b: int) -> Optional[int]:
    hi, lo = b >> 4, b & 0x0F
    return None if hi > 9 or lo > 9 else hi * 10 + lo


def describe(did: int, value: bytes) -> Tuple[Optional[str], str]:
    """(name or None, the value as text) of a DID's record."""
    name, fmt = STANDARD_DIDS.get(did, (None, "hex"))
    v = bytes(value)
    if fmt == "ascii" and v and all(32 <= b < 127 or b == 0 for b in v):
        return name, v.rstrip(b"\x00 ").decode("ascii")
    if fmt == "bcd_date" and len(v) == 3:
        y, m, d = (_bcd(b) for b in v)
        if None not in (y, m, d) and 1 <= m <= 12 and 1 <= d <= 31:
            return name, "20%02d-%02d-%02d" % (y, m, d)
    if fmt == "session" and len(v) == 1:
        return name, _SESSIONS.get(v[0], "session 0x%02X" % v[0])
    return name, v.hex(" ").upper()
