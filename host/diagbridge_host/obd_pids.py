"""The OBD-II mode 01 PID table (SAE J1979 / ISO 15031-5 Annex B) and the
SAE J2012 DTC form, for diagbridge_host.obd: each PID's python-OBD name,
description, data byte count, formula over the data bytes A, B, C, D and
unit; ``pid_by_name`` finds one by name or number (UsageError otherwise)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Union

from diagbridge_host.errors import UsageError

__all__ = ["Pid", "PIDS", "pid_by_name", "pid_length", "ObdDtc", "decode_dtc",
           "OBD_STANDARDS", "FUEL_TYPES", "bitmap"]


# ---- decoders: data bytes -> value ----------------------------------------------------------
def _u(b: bytes) -> int:
    return int.from_bytes(b, "big")


def _s16(b: bytes) -> int:
    return int.from_bytes(b, "big", signed=True)


def bitmap(base: int) -> Callable[[bytes], list]:
    """The decoder of supported-PID bitmap ``base`` (0x00, 0x20 ..): the PIDs
    whose bits are set, bit 31 first (PID base + 1)."""
    def dec(b: bytes) -> list:
        v = _u(b)
        return [base + i + 1 for i in range(32) if v & (1 << (31 - i))]
    return dec


def _status(b: bytes) -> dict:
    a, bb, c, d = b
    return {"mil": bool(a & 0x80), "dtc_count": a & 0x7F,
            "ignition": "compression" if bb & 0x08 else "spark",
            "tests_available": bb & 0x07, "tests_incomplete": (bb >> 4) & 0x07,
            "monitors_supported": c, "monitors_incomplete": d}


_FUEL_STATUS = {0x00: None, 0x01: "open loop: temperature too low",
                0x02: "closed loop", 0x04: "open loop: load or deceleration",
                0x08: "open loop: system failure", 0x10: "closed loop: feedback fault"}


def _fuel_status(b: bytes) -> list:
    return [_FUEL_STATUS.get(x, "0x%02X" % x) for x in b]


OBD_STANDARDS = {
    1: "OBD-II (CARB)", 2: "OBD (EPA)", 3: "OBD and OBD-II", 4: "OBD-I", 5: "not OBD compliant",
    6: "EOBD (Europe)", 7: "EOBD and OBD-II", 8: "EOBD and OBD", 9: "EOBD, OBD and OBD-II",
    10: "JOBD (Japan)", 11: "JOBD and OBD-II", 12: "JOBD and EOBD", 13: "JOBD, EOBD and OBD-II",
    17: "EMD", 18: "EMD+", 19: "HD OBD-C", 20: "HD OBD", 21: "WWH OBD", 23: "HD EOBD-I",
    24: "HD EOBD-I N", 25: "HD EOBD-II", 26: "HD EOBD-II N", 28: "OBDBr-1", 29: "OBDBr-2",
    30: "KOBD", 31: "IOBD I", 32: "IOBD II", 33: "HD EOBD-IV"}

FUEL_TYPES = {
    0: None, 1: "gasoline", 2: "methanol", 3: "ethanol", 4: "diesel", 5: "LPG", 6: "CNG",
    7: "propane", 8: "electric", 9: "bifuel gasoline", 10: "bifuel methanol",
    11: "bifuel ethanol", 12: "bifuel LPG", 13: "bifuel CNG", 14: "bifuel propane",
    15: "bifuel electric", 16: "bifuel electric and combustion", 17: "hybrid gasoline",
    18: "hybrid ethanol", 19: "hybrid diesel", 20: "hybrid electric",
    21: "hybrid electric and combustion", 22: "hybrid regenerative", 23: "bifuel diesel"}


def _o2(b: bytes) -> tuple:
    """O2 sensor (0x14-0x1B): (voltage V, short term fuel trim % or None if unused)."""
    return (b[0] / 200, None if b[1] == 0xFF else b[1] * 100 / 128 - 100)


@dataclass(frozen=True)
class Pid:
    """One mode 01 PID: ``pid``, python-OBD's ``name``, a ``description``,
    its data ``length`` in bytes, ``decode(bytes) -> value`` and the ``unit``."""
    pid: int
    name: str
    description: str
    length: int
    decode: Callable[[bytes], object]
    unit: Optional[str] = None


def _p(pid: Any, name: str, desc: Any, length: Any, decode: Any, unit: Any = None) -> Any:
    return Pid(pid, name, desc, length, decode, unit)


_PCT = lambda b: b[0] * 100 / 255                               # noqa: E731
_TRIM = lambda b: b[0] * 100 / 128 - 100                        # noqa: E731
_TEMP = lambda b: b[0] - 40                                     # noqa: E731
_A = lambda b: b[0]                                             # noqa: E731
_AB = _u
_CAT = lambda b: _u(b) / 10 - 40                                # noqa: E731

# SAE J1979 / ISO 15031-5 Annex B (mode 01): formula over the data bytes A, B, C, D.
PIDS: Dict[int, Pid] = {p.pid: p for p in (
    _p(0x00, "PIDS_A", "supported PIDs 01-20", 4, bitmap(0x00)),
    _p(0x01, "STATUS", "monitor status since DTCs cleared", 4, _status),
    _p(0x02, "FREEZE_DTC", "DTC that caused the freeze frame", 2,
       lambda b: decode_dtc(b[0], b[1]) if any(b) else None),
    _p(0x03, "FUEL_STATUS", "fuel system status", 2, _fuel_status),
    _p(0x04, "ENGINE_LOAD", "calculated engine load", 1, _PCT, "%"),
    _p(0x05, "COOLANT_TEMP", "engine coolant temperature", 1, _TEMP, "degC"),
    _p(0x06, "SHORT_FUEL_TRIM_1", "short term fuel trim, bank 1", 1, _TRIM, "%"),
    _p(0x07, "LONG_FUEL_TRIM_1", "long term fuel trim, bank 1", 1, _TRIM, "%"),
    _p(0x08, "SHORT_FUEL_TRIM_2", "short term fuel trim, bank 2", 1, _TRIM, "%"),
    _p(0x09, "LONG_FUEL_TRIM_2", "long term fuel trim, bank 2", 1, _TRIM, "%"),
    _p(0x0A, "FUEL_PRESSURE", "fuel pressure (gauge)", 1, lambda b: b[0] * 3, "kPa"),
    _p(0x0B, "INTAKE_PRESSURE", "intake manifold absolute pressure", 1, _A, "kPa"),
    _p(0x0C, "RPM", "engine speed", 2, lambda b: _u(b) / 4, "rpm"),
    _p(0x0D, "SPEED", "vehicle speed", 1, _A, "km/h"),
    _p(0x0E, "TIMING_ADVANCE", "timing advance before TDC", 1, lambda b: b[0] / 2 - 64, "deg"),
    _p(0x0F, "INTAKE_TEMP", "intake air temperature", 1, _TEMP, "degC"),
    _p(0x10, "MAF", "mass air flow rate", 2, lambda b: _u(b) / 100, "g/s"),
    _p(0x11, "THROTTLE_POS", "absolute throttle position", 1, _PCT, "%"),
    _p(0x12, "AIR_STATUS", "commanded secondary air status", 1, _A),
    _p(0x13, "O2_SENSORS", "oxygen sensors present (2 banks)", 1, _A),
    _p(0x14, "O2_B1S1", "O2 sensor bank 1 sensor 1: voltage, trim", 2, _o2, "V, %"),
    _p(0x15, "O2_B1S2", "O2 sensor bank 1 sensor 2: voltage, trim", 2, _o2, "V, %"),
    _p(0x16, "O2_B1S3", "O2 sensor bank 1 sensor 3: voltage, trim", 2, _o2, "V, %"),
    _p(0x17, "O2_B1S4", "O2 sensor bank 1 sensor 4: voltage, trim", 2, _o2, "V, %"),
    _p(0x18, "O2_B2S1", "O2 sensor bank 2 sensor 1: voltage, trim", 2, _o2, "V, %"),
    _p(0x19, "O2_B2S2", "O2 sensor bank 2 sensor 2: voltage, trim", 2, _o2, "V, %"),
    _p(0x1A, "O2_B2S3", "O2 sensor bank 2 sensor 3: voltage, trim", 2, _o2, "V, %"),
    _p(0x1B, "O2_B2S4", "O2 sensor bank 2 sensor 4: voltage, trim", 2, _o2, "V, %"),
    _p(0x1C, "OBD_COMPLIANCE", "OBD standard this vehicle conforms to", 1,
       lambda b: OBD_STANDARDS.get(b[0], "0x%02X" % b[0])),
    _p(0x1D, "O2_SENSORS_ALT", "oxygen sensors present (4 banks)", 1, _A),
    _p(0x1E, "AUX_INPUT_STATUS", "power take-off active", 1, lambda b: bool(b[0] & 1)),
    _p(0x1F, "RUN_TIME", "run time since engine start", 2, _AB, "s"),
    _p(0x20, "PIDS_B", "supported PIDs 21-40", 4, bitmap(0x20)),
    _p(0x21, "DISTANCE_W_MIL", "distance travelled with MIL on", 2, _AB, "km"),
    _p(0x22, "FUEL_RAIL_PRESSURE_VAC", "fuel rail pressure (relative to vacuum)", 2,
       lambda b: _u(b) * 0.079, "kPa"),
    _p(0x23, "FUEL_RAIL_PRESSURE_DIRECT", "fuel rail gauge pressure", 2,
       lambda b: _u(b) * 10, "kPa"),
    _p(0x2C, "COMMANDED_EGR", "commanded EGR", 1, _PCT, "%"),
    _p(0x2D, "EGR_ERROR", "EGR error", 1, _TRIM, "%"),
    _p(0x2E, "EVAPORATIVE_PURGE", "commanded evaporative purge", 1, _PCT, "%"),
    _p(0x2F, "FUEL_LEVEL", "fuel tank level input", 1, _PCT, "%"),
    _p(0x30, "WARMUPS_SINCE_DTC_CLEAR", "warm-ups since codes cleared", 1, _A, "count"),
    _p(0x31, "DISTANCE_SINCE_DTC_CLEAR", "distance travelled since codes cleared", 2, _AB,
       "km"),
    _p(0x32, "EVAP_VAPOR_PRESSURE", "evap. system vapor pressure", 2, lambda b: _s16(b) / 4,
       "Pa"),
    _p(0x33, "BAROMETRIC_PRESSURE", "absolute barometric pressure", 1, _A, "kPa"),
    _p(0x3C, "CATALYST_TEMP_B1S1", "catalyst temperature bank 1 sensor 1", 2, _CAT, "degC"),
    _p(0x3D, "CATALYST_TEMP_B2S1", "catalyst temperature bank 2 sensor 1", 2, _CAT, "degC"),
    _p(0x3E, "CATALYST_TEMP_B1S2", "catalyst temperature bank 1 sensor 2", 2, _CAT, "degC"),
    _p(0x3F, "CATALYST_TEMP_B2S2", "catalyst temperature bank 2 sensor 2", 2, _CAT, "degC"),
    _p(0x40, "PIDS_C", "supported PIDs 41-60", 4, bitmap(0x40)),
    _p(0x41, "STATUS_DRIVE_CYCLE", "monitor status this drive cycle", 4, _status),
    _p(0x42, "CONTROL_MODULE_VOLTAGE", "control module voltage", 2, lambda b: _u(b) / 1000,
       "V"),
    _p(0x43, "ABSOLUTE_LOAD", "absolute load value", 2, lambda b: _u(b) * 100 / 255, "%"),
    _p(0x44, "COMMANDED_EQUIV_RATIO", "commanded air-fuel equivalence ratio", 2,
       lambda b: _u(b) * 2 / 65536, "ratio"),
    _p(0x45, "RELATIVE_THROTTLE_POS", "relative throttle position", 1, _PCT, "%"),
    _p(0x46, "AMBIENT_AIR_TEMP", "ambient air temperature", 1, _TEMP, "degC"),
    _p(0x47, "THROTTLE_POS_B", "absolute throttle position B", 1, _PCT, "%"),
    _p(0x48, "THROTTLE_POS_C", "absolute throttle position C", 1, _PCT, "%"),
    _p(0x49, "ACCELERATOR_POS_D", "accelerator pedal position D", 1, _PCT, "%"),
    _p(0x4A, "ACCELERATOR_POS_E", "accelerator pedal position E", 1, _PCT, "%"),
    _p(0x4B, "ACCELERATOR_POS_F", "accelerator pedal position F", 1, _PCT, "%"),
    _p(0x4C, "THROTTLE_ACTUATOR", "commanded throttle actuator", 1, _PCT, "%"),
    _p(0x4D, "RUN_TIME_MIL", "time run with MIL on", 2, _AB, "min"),
    _p(0x4E, "TIME_SINCE_DTC_CLEARED", "time since trouble codes cleared", 2, _AB, "min"),
    _p(0x50, "MAX_MAF", "maximum mass air flow rate", 4, lambda b: b[0] * 10, "g/s"),
    _p(0x51, "FUEL_TYPE", "fuel type", 1, lambda b: FUEL_TYPES.get(b[0], "0x%02X" % b[0])),
    _p(0x52, "ETHANOL_PERCENT", "ethanol fuel", 1, _PCT, "%"),
    _p(0x53, "EVAP_VAPOR_PRESSURE_ABS", "absolute evap. system vapor pressure", 2,
       lambda b: _u(b) / 200, "kPa"),
    _p(0x54, "EVAP_VAPOR_PRESSURE_ALT", "evap. system vapor pressure", 2, lambda b: _s16(b),
       "Pa"),
    _p(0x59, "FUEL_RAIL_PRESSURE_ABS", "fuel rail absolute pressure", 2,
       lambda b: _u(b) * 10, "kPa"),
    _p(0x5A, "RELATIVE_ACCEL_POS", "relative accelerator pedal position", 1, _PCT, "%"),
    _p(0x5B, "HYBRID_BATTERY_REMAINING", "hybrid battery pack remaining life", 1, _PCT, "%"),
    _p(0x5C, "OIL_TEMP", "engine oil temperature", 1, _TEMP, "degC"),
    _p(0x5D, "FUEL_INJECT_TIMING", "fuel injection timing", 2, lambda b: _u(b) / 128 - 210,
       "deg"),
    _p(0x5E, "FUEL_RATE", "engine fuel rate", 2, lambda b: _u(b) / 20, "L/h"),
    _p(0x5F, "EMISSION_REQ", "emission requirements of the vehicle", 1, _A),
    _p(0x60, "PIDS_D", "supported PIDs 61-80", 4, bitmap(0x60)),
)}
_BY_NAME = {p.name: p for p in PIDS.values()}
_BY_NAME["AMBIANT_AIR_TEMP"] = PIDS[0x46]          # python-OBD's spelling

# data byte counts of the PIDs this table has no formula for (J1979 Annex B)
_OTHER_LEN = dict([(p, 4) for p in range(0x24, 0x2C)] + [(p, 4) for p in range(0x34, 0x3C)]
                  + [(0x4F, 4)] + [(p, 2) for p in range(0x55, 0x59)])


def pid_by_name(cmd: Union[str, int]) -> Pid:
    """A Pid from python-OBD's name (``"RPM"``, any case) or its number (``0x0C``)."""
    if isinstance(cmd, bool):
        raise UsageError("PID must be a name (RPM) or a number 0x00-0xFF")
    if isinstance(cmd, int):
        if not 0 <= cmd <= 0xFF:
            raise UsageError("PID 0x%X is out of range (0x00-0xFF)" % cmd)
        p = PIDS.get(cmd)
        if p is None:
            n = _OTHER_LEN.get(cmd)
            if n is None:
                raise UsageError("PID 0x%02X is not in the J1979 table (known: %s)"
                                 % (cmd, _known()))
            p = Pid(cmd, "PID_%02X" % cmd, "mode 01 PID 0x%02X" % cmd, n, bytes)
        return p
    if isinstance(cmd, str):
        p = _BY_NAME.get(cmd.strip().upper())
        if p is not None:
            return p
        t = cmd.strip().lower()
        try:
            return pid_by_name(int(t, 16))
        except ValueError:
            pass
        raise UsageError("unknown PID %r (a python-OBD name such as RPM, SPEED, COOLANT_TEMP "
                         "or a hex number such as 0C)" % cmd)
    raise UsageError("PID must be a name (RPM) or a number 0x00-0xFF, not %r" % (cmd,))


def _known() -> str:
    return "00-23, 2C-33, 3C-54, 59-60"


def pid_length(pid: int) -> Optional[int]:
    """The data byte count of mode 01 PID ``pid`` (J1979), None if unknown."""
    p = PIDS.get(pid)
    return p.length if p is not None else _OTHER_LEN.get(pid)


@dataclass(frozen=True)
class ObdDtc:
    """An emission-related DTC (SAE J2012): ``code`` "P0101", ``raw`` 0x0101."""
    code: str
    raw: int

    def __str__(self) -> str:
        return self.code


def decode_dtc(hi: int, lo: int) -> ObdDtc:
    """Two DTC bytes -> P/C/B/U code: bits 15-14 the system, then four hex digits."""
    return ObdDtc("%s%d%X%02X" % ("PCBU"[hi >> 6], (hi >> 4) & 3, hi & 0x0F, lo),
                  (hi << 8) | lo)


