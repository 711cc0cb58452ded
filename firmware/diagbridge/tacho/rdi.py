# The recordDataIdentifiers of the tachograph calibration protocol (EU
# Annex IB App. 8 Table 28 / Tables 39-42 and Annex IC App. 8 Table 28 /
# Tables 39-47; tacho-digest 3): one table for the vehicle unit and the
# workshop tester.  Multi-byte fields are big-endian (digest 2.2).
#
#   RDIS[rdi] = Rdi(rdi, name, mnemonic, length, kind, unit, annex, ib, ic)
#     annex "1B": defined in both annexes; "1C": Annex IC only (F9D0-F9D8)
#     ib / ic: the access in that annex: "rw", "r" or None (not defined)
#   decode(rdi, data) -> value       encode(rdi, value) -> bytes
#
# Values per kind (unit in the table):
#   timedate  F90B  (year, month, day, hour, minute, second, offset_min, offset_hour)
#                   second 0..59 (the quarter seconds are dropped on decode)
#   date3     F922  (year, month, day)
#   scaled    F912 km (5 m/bit), F918 / F91D imp/km (0.001 pulse/m/bit),
#                   F91C mm (1/8 mm/bit), F92C km/h (1/256 km/h/bit):
#                   an int when exact, else a float; encode rounds to the
#                   resolution and refuses values above the valid range (Table 38)
#   ascii     F921 F97D F190 F9D8: str, space padded to the length on encode
#   vrn       F97E  (code_page, str of up to 13 characters)
#   u8        F9D5  0 undefined, 1 goods, 2 passengers
#   u16       F9D6  0x0000 Gen1 cards usable, 0xA5E3 not usable
#   raw       F9D0-F9D4 F9D7: bytes of the exact length
# A wrong value (type, range, length) raises UsageError naming the RDI; an
# unknown RDI raises UsageError as well (the VU answers 7F 22 31 itself).
from diagbridge.errors import UsageError

TD = 0xF90B
HRTVD = 0xF912
KF = 0xF918
LF = 0xF91C
WVCF = 0xF91D
TS = 0xF921
NCD = 0xF922
SA = 0xF92C
RMS = 0xF97D
VRN = 0xF97E
VIN = 0xF190
SSN = 0xF9D0
RCSN = 0xF9D1
GSSN = 0xF9D2
SDV = 0xF9D3
VSN = 0xF9D4
BDLT = 0xF9D5
TCG1S = 0xF9D6
VP = 0xF9D7
CC = 0xF9D8

VRN_CODE_PAGES = (1, 2, 3, 5, 7, 9, 13, 15, 16, 80, 85)


class Rdi:
    def __init__(self, rdi, name, mnemonic, length, kind, unit, annex, ib, ic,
                 num=1, den=1):
        self.rdi = rdi
        self.name = name
        self.mnemonic = mnemonic
        self.length = length
        self.kind = kind
        self.unit = unit
        self.annex = annex
        self.ib = ib
        self.ic = ic
        self.num = num          # scaled: value = raw * num / den
        self.den = den

    def access(self, annex):
        """"rw", "r" or None for regulation version `annex` ("1B" / "1C")."""
        if annex == "1B":
            return self.ib
        if annex == "1C":
            return self.ic
        raise UsageError("annex must be '1B' or '1C'")


_ALL = (
    Rdi(TD, "TimeDate", "RDI_TD", 8, "timedate", "", "1B", "rw", "rw"),
    Rdi(HRTVD, "HighResolutionTotalVehicleDistance", "RDI_HRTVD", 4, "scaled", "km",
        "1B", "rw", "rw", 5, 1000),
    Rdi(KF, "Kfactor", "RDI_KF", 2, "scaled", "imp/km", "1B", "rw", "rw"),
    Rdi(LF, "LfactorTyreCircumference", "RDI_LF", 2, "scaled", "mm", "1B", "rw", "rw", 1, 8),
    Rdi(WVCF, "WvehicleCharacteristicFactor", "RDI_WVCF", 2, "scaled", "imp/km",
        "1B", "rw", "rw"),
    Rdi(TS, "TyreSize", "RDI_TS", 15, "ascii", "", "1B", "rw", "rw"),
    Rdi(NCD, "NextCalibrationDate", "RDI_NCD", 3, "date3", "", "1B", "rw", "rw"),
    Rdi(SA, "SpeedAuthorised", "RDI_SA", 2, "scaled", "km/h", "1B", "rw", "rw", 1, 256),
    Rdi(RMS, "RegisteringMemberState", "RDI_RMS", 3, "ascii", "", "1B", "rw", "rw"),
    Rdi(VRN, "VehicleRegistrationNumber", "RDI_VRN", 14, "vrn", "", "1B", "rw", "rw"),
    Rdi(VIN, "VIN", "RDI_VIN", 17, "ascii", "", "1B", "rw", "rw"),
    Rdi(SSN, "MotionSensorSerialNumber", "RDI_SSN", 8, "raw", "", "1C", None, "r"),
    Rdi(RCSN, "RemoteCommunicationFacilitySerialNumber", "RDI_RCSN", 8, "raw", "", "1C",
        None, "r"),
    Rdi(GSSN, "ExternalGNSSFacilitySerialNumber", "RDI_GSSN", 8, "raw", "", "1C", None, "r"),
    Rdi(SDV, "SmartTachographSealsSerialNumber", "RDI_SDV", 55, "raw", "", "1C", None, "rw"),
    Rdi(VSN, "VuSerialNumber", "RDI_VSN", 8, "raw", "", "1C", None, "r"),
    Rdi(BDLT, "ByDefaultLoadType", "RDI_BDLT", 1, "u8", "", "1C", None, "rw"),
    Rdi(TCG1S, "TachographCardsGen1Suppression", "RDI_TCG1S", 2, "u16", "", "1C", None, "rw"),
    Rdi(VP, "VehiclePosition", "RDI_VP", 14, "raw", "", "1C", None, "r"),
    Rdi(CC, "CalibrationCountry", "RDI_CC", 3, "ascii", "", "1C", None, "r"),
)

RDIS = {}
for _r in _ALL:
    RDIS[_r.rdi] = _r
ORDER = tuple(r.rdi for r in _ALL)      # Table 28's order


def ids(annex):
    """The RDIs regulation version `annex` defines, in Table 28's order."""
    return tuple(r.rdi for r in _ALL if r.access(annex) is not None)


def get(rdi):
    d = RDIS.get(rdi)
    if d is None:
        raise UsageError("unknown recordDataIdentifier 0x%04X" % rdi)
    return d


def _bad(d, why):
    raise UsageError("%s (0x%04X): %s" % (d.name, d.rdi, why))


def _int(d, v, lo, hi, what):
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        _bad(d, "%s %r outside %d..%d" % (what, v, lo, hi))
    return v


def _uint(b, off, n):
    v = 0
    for i in range(n):
        v = (v << 8) | b[off + i]
    return v


def _put(out, off, v, n):
    for i in range(n):
        out[off + n - 1 - i] = (v >> (8 * i)) & 0xFF


def _max_raw(n):
    return 0xFA if n == 1 else (0xFA << (8 * (n - 1))) | ((1 << (8 * (n - 1))) - 1)


def _day(raw):
    return (raw + 3) // 4       # 1..4 = 1st, 5..8 = 2nd (digest 3.2); 0 = null


def decode(rdi, data):
    """The value of recordDataIdentifier `rdi` from its dataRecord bytes."""
    d = get(rdi)
    if len(data) != d.length:
        _bad(d, "%d bytes, expected %d" % (len(data), d.length))
    k = d.kind
    if k == "timedate":
        return (data[5] + 1985, data[3], _day(data[4]), data[2], data[1], data[0] // 4,
                data[6] - 125, data[7] - 125)
    if k == "date3":
        return (data[2] + 1985, data[0], _day(data[1]))
    if k == "scaled":
        raw = _uint(data, 0, d.length)
        v = raw * d.num
        if v % d.den == 0:
            return v // d.den
        return v / d.den
    if k == "ascii":
        return bytes(data).decode().rstrip(" ")
    if k == "vrn":
        return (data[0], bytes(data[1:]).decode().rstrip(" "))
    if k == "u8":
        return data[0]
    if k == "u16":
        return _uint(data, 0, 2)
    return bytes(data)


def _ascii(d, s, n):
    if isinstance(s, str):
        s = s.encode()
    if not isinstance(s, (bytes, bytearray)):
        _bad(d, "a string is needed")
    if len(s) > n:
        _bad(d, "%d characters, at most %d" % (len(s), n))
    for c in s:
        if not 0x20 <= c <= 0x7E or c == 0x2A:     # printable; '*' is reserved (CPR_073)
            _bad(d, "character 0x%02X not allowed" % c)
    return bytes(s) + b" " * (n - len(s))


def _date(d, out, off, y, mo, day):
    _int(d, y, 1985, 2235, "year")
    _int(d, mo, 1, 12, "month")
    _int(d, day, 1, 31, "day")
    out[off] = mo
    out[off + 1] = day * 4
    out[off + 2] = y - 1985


def encode(rdi, value):
    """The dataRecord bytes of `value` for recordDataIdentifier `rdi`,
    range-checked (UsageError naming the field)."""
    d = get(rdi)
    k = d.kind
    out = bytearray(d.length)
    if k == "timedate":
        if not isinstance(value, tuple) or len(value) != 8:
            _bad(d, "(year, month, day, hour, minute, second, offset_min, offset_hour)")
        y, mo, day, h, mi, s, om, oh = value
        _int(d, h, 0, 23, "hour")
        _int(d, mi, 0, 59, "minute")
        _int(d, s, 0, 59, "second")
        _int(d, om, -59, 59, "local offset minutes")
        _int(d, oh, -23, 23, "local offset hours")
        out[0] = s * 4
        out[1] = mi
        out[2] = h
        _date(d, out, 3, y, mo, day)
        out[6] = om + 125
        out[7] = oh + 125
    elif k == "date3":
        if not isinstance(value, tuple) or len(value) != 3:
            _bad(d, "(year, month, day)")
        _date(d, out, 0, value[0], value[1], value[2])
    elif k == "scaled":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            _bad(d, "a number of %s is needed" % d.unit)
        if isinstance(value, int):
            q, r = divmod(value * d.den, d.num)
            raw = q + (1 if 2 * r >= d.num else 0)
        else:
            raw = int(value * d.den / d.num + 0.5)
        top = _max_raw(d.length)
        if value < 0 or raw > top:
            _bad(d, "%r %s outside 0..%s" % (value, d.unit, decode(rdi, _be(top, d.length))))
        _put(out, 0, raw, d.length)
    elif k == "ascii":
        out[:] = _ascii(d, value, d.length)
    elif k == "vrn":
        if not isinstance(value, tuple) or len(value) != 2:
            _bad(d, "(code_page, number)")
        if value[0] not in VRN_CODE_PAGES:
            _bad(d, "code page %r unknown" % (value[0],))
        out[0] = value[0]
        out[1:] = _ascii(d, value[1], 13)
    elif k == "u8":
        out[0] = _int(d, value, 0, 2, "load type")
    elif k == "u16":
        if value != 0 and value != 0xA5E3:
            _bad(d, "0x0000 or 0xA5E3 only")
        _put(out, 0, value, 2)
    else:
        if not isinstance(value, (bytes, bytearray)) or len(value) != d.length:
            _bad(d, "%d bytes are needed" % d.length)
        out[:] = value
    return bytes(out)


def _be(v, n):
    out = bytearray(n)
    _put(out, 0, v, n)
    return out
