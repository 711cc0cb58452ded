# Layouts of DynamicallyDefineDataIdentifier 0x2C (§11.6, uds-digest §10.5).
# Pure functions shared by the client and the server role.
#
#   01 defineByIdentifier     2C 01 DDDID(2) {sourceDID(2) position(1) memorySize(1)}
#   02 defineByMemoryAddress  2C 02 DDDID(2) ALFID(1) {memoryAddress memorySize}
#   03 clear                  2C 03 [DDDID(2)]          (no DDDID: clear all [K])
#   response                  6C SF [DDDID(2)]          (DDDID echoed when sent)
# position is 1-based (a 2-byte DID element: position 1, size = its length,
# §11.6.1).  Tables 236-242 are missing from the source: layouts [K].
from diagbridge._compat import const
from diagbridge.uds.codec.ints import put_u16, get_u16, put_uint, get_uint
from diagbridge.uds.codec.ints import alfid
from diagbridge.uds.codec.memory import put_address_and_size
from diagbridge.uds.sid import SID_DDDI

DEFINE_BY_IDENTIFIER = const(0x01)
DEFINE_BY_MEMORY_ADDRESS = const(0x02)
CLEAR_DDDID = const(0x03)

DDDID_FIRST = const(0xF200)     # C.1 [K]; F2xx can also be read with 0x2A
DDDID_LAST = const(0xF3FF)

_RSID = const(0x6C)


def is_dddid(did):
    return DDDID_FIRST <= did <= DDDID_LAST


def build_define_by_identifier(out, dddid, elements, sprmib=False):
    """elements: [(source_did, position (1-based), size), ...]."""
    out[0] = SID_DDDI
    out[1] = DEFINE_BY_IDENTIFIER | (0x80 if sprmib else 0)
    put_u16(out, 2, dddid)
    p = 4
    for src, pos, size in elements:
        put_u16(out, p, src)
        out[p + 2] = pos
        out[p + 3] = size
        p += 4
    return p


def build_define_by_memory_address(out, dddid, elements, addr_len=4, size_len=2, sprmib=False):
    """elements: [(address, size), ...] sharing one ALFID."""
    out[0] = SID_DDDI
    out[1] = DEFINE_BY_MEMORY_ADDRESS | (0x80 if sprmib else 0)
    put_u16(out, 2, dddid)
    if not elements:
        out[4] = alfid(addr_len, size_len)
        return 5
    p = put_address_and_size(out, 4, elements[0][0], elements[0][1], addr_len, size_len)
    for i in range(1, len(elements)):
        put_uint(out, p, elements[i][0], addr_len)
        put_uint(out, p + addr_len, elements[i][1], size_len)
        p += addr_len + size_len
    return p


def build_clear(out, dddid=None, sprmib=False):
    out[0] = SID_DDDI
    out[1] = CLEAR_DDDID | (0x80 if sprmib else 0)
    if dddid is None:
        return 2
    put_u16(out, 2, dddid)
    return 4


def memory_element(data, pos, a):
    """(address, size) of the element at data[pos] for ALFID a."""
    al = a & 0x0F
    return get_uint(data, pos, al), get_uint(data, pos + al, a >> 4)


def write_dddid_response(out, sf, dddid=-1):
    out[0] = _RSID
    out[1] = sf & 0x7F
    if dddid < 0:
        return 2
    put_u16(out, 2, dddid)
    return 4


def parse_dddid_response(data, n):
    """(sf, dddid or None) or None if malformed."""
    if n < 2 or data[0] != _RSID or (n != 2 and n != 4):
        return None
    return data[1], (get_u16(data, 2) if n == 4 else None)
