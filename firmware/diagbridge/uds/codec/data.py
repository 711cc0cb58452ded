# Layouts of ReadDataByIdentifier 0x22, ReadScalingDataByIdentifier 0x24 and
# WriteDataByIdentifier 0x2E (§11.2, 11.4, 11.7), plus the scaling-byte
# helpers of Annex C.2/C.3.  Pure functions shared by client and server.
from diagbridge.uds.codec.ints import put_u16, get_u16, put_uint, get_uint  # noqa: F401 (also data's names)
from diagbridge.uds.sid import SID_RDBI, SID_RSDBI, SID_WDBI


# ---- 0x22 -------------------------------------------------------------------------
def build_rdbi_request(out, dids):
    out[0] = SID_RDBI
    for i in range(len(dids)):
        put_u16(out, 1 + 2 * i, dids[i])
    return 1 + 2 * len(dids)


def parse_rdbi_response(data, n, lengths):
    """[(did, bytes)] in response order; `lengths` maps DID -> record length
    (the response carries no lengths, §11.2).  None if malformed."""
    if n < 1 or data[0] != SID_RDBI + 0x40:
        return None
    out = []
    pos = 1
    while pos < n:
        if pos + 2 > n:
            return None
        did = get_u16(data, pos)
        k = lengths.get(did)
        if k is None or pos + 2 + k > n:
            return None
        out.append((did, bytes(data[pos + 2:pos + 2 + k])))
        pos += 2 + k
    return out


# ---- 0x2E -------------------------------------------------------------------------
def build_wdbi_request(out, did, record):
    out[0] = SID_WDBI
    put_u16(out, 1, did)
    for i in range(len(record)):
        out[3 + i] = record[i]
    return 3 + len(record)


def write_wdbi_response(out, did):
    out[0] = SID_WDBI + 0x40
    put_u16(out, 1, did)
    return 3


def parse_wdbi_response(data, n):
    """The echoed DID, or -1."""
    if n != 3 or data[0] != SID_WDBI + 0x40:
        return -1
    return get_u16(data, 1)


# ---- 0x24 -------------------------------------------------------------------------
def build_rsdbi_request(out, did):
    out[0] = SID_RSDBI
    put_u16(out, 1, did)
    return 3


def parse_rsdbi_response(data, n):
    """(did, scaling bytes) or None."""
    if n < 4 or data[0] != SID_RSDBI + 0x40:
        return None
    return get_u16(data, 1), bytes(data[3:n])


# ---- scaling (Annex C.2/C.3) ----------------------------------------------------
SCALING_UNSIGNED = 0x0
SCALING_SIGNED = 0x1
SCALING_BITMAP_NO_MASK = 0x2
SCALING_BITMAP_MASK = 0x3
SCALING_BCD = 0x4
SCALING_STATE = 0x5
SCALING_ASCII = 0x6
SCALING_FLOAT = 0x7
SCALING_PACKET = 0x8
SCALING_FORMULA = 0x9
SCALING_UNIT = 0xA
SCALING_STATE_CONN = 0xB


def scaling_byte(kind, nbytes):
    """High nibble the type, low nibble the length (or extension bytes)."""
    return (kind << 4) | nbytes


def encode_constant(mantissa, exponent):
    """C = M * 10**E as 2 bytes (C.3.2): E signed 4 bits high, M signed 12 bits."""
    if not -2048 <= mantissa <= 2047 or not -8 <= exponent <= 7:
        raise ValueError("constant out of range")
    v = ((exponent & 0xF) << 12) | (mantissa & 0xFFF)
    return bytes(((v >> 8) & 0xFF, v & 0xFF))


def decode_constant(hi, lo):
    """(mantissa, exponent) of a 2-byte formula constant."""
    e = hi >> 4
    if e & 0x8:
        e -= 16
    m = ((hi & 0x0F) << 8) | lo
    if m & 0x800:
        m -= 4096
    return m, e


def formula_scaling(data_len, formula_id, constants, signed=False):
    """Scaling bytes for a numeric parameter with a formula (C.3.2), e.g.
    y = 0.75 x + 30: formula_scaling(1, 0, ((75, -2), (30, 0))) ->
    01 95 00 E0 4B 00 1E (unit bytes follow separately)."""
    out = bytearray()
    out.append(scaling_byte(SCALING_SIGNED if signed else SCALING_UNSIGNED, data_len))
    out.append(scaling_byte(SCALING_FORMULA, 1 + 2 * len(constants)))
    out.append(formula_id)
    for m, e in constants:
        out.extend(encode_constant(m, e))
    return bytes(out)


def unit_scaling(unit):
    """One unit/format scaling byte pair (C.3.3): A1 unit."""
    return bytes((scaling_byte(SCALING_UNIT, 1), unit))
