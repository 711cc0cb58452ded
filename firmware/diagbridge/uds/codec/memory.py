# Layouts of ReadMemoryByAddress 0x23 and WriteMemoryByAddress 0x3D (§11.3,
# §11.8) and the addressAndLengthFormatIdentifier (ALFID) shared with
# RequestDownload/Upload and DynamicallyDefineDataIdentifier: high nibble =
# bytes of memorySize, low nibble = bytes of memoryAddress (§11.3.1).
from diagbridge.uds.codec.ints import put_uint, get_uint, alfid  # noqa: F401
from diagbridge.uds.sid import SID_RMBA, SID_WMBA

MAX_FIELD = 4               # address/size fields this implementation manages


def alfid_valid(a):
    """Both nibbles 1..4 (0, or more than 4 bytes, is rejected with 0x31, H.1)."""
    al = a & 0x0F
    sl = a >> 4
    return 1 <= al <= MAX_FIELD and 1 <= sl <= MAX_FIELD


def put_address_and_size(out, pos, addr, size, addr_len, size_len):
    """ALFID, memoryAddress, memorySize at out[pos]; the position after them."""
    out[pos] = alfid(addr_len, size_len)
    put_uint(out, pos + 1, addr, addr_len)
    put_uint(out, pos + 1 + addr_len, size, size_len)
    return pos + 1 + addr_len + size_len


def get_address(data, pos):
    """memoryAddress after the ALFID at data[pos]."""
    return get_uint(data, pos + 1, data[pos] & 0x0F)


def get_size(data, pos):
    return get_uint(data, pos + 1 + (data[pos] & 0x0F), data[pos] >> 4)


def fields_len(a):
    """Bytes of ALFID + address + size."""
    return 1 + (a & 0x0F) + (a >> 4)


# ---- 0x23 -------------------------------------------------------------------------
def build_rmba_request(out, addr, size, addr_len=4, size_len=2):
    out[0] = SID_RMBA
    return put_address_and_size(out, 1, addr, size, addr_len, size_len)


def parse_rmba_response(data, n):
    """The dataRecord bytes, or None."""
    if n < 1 or data[0] != SID_RMBA + 0x40:
        return None
    return bytes(data[1:n])


# ---- 0x3D -------------------------------------------------------------------------
def build_wmba_request(out, addr, record, addr_len=4, size_len=2):
    out[0] = SID_WMBA
    pos = put_address_and_size(out, 1, addr, len(record), addr_len, size_len)
    for i in range(len(record)):
        out[pos + i] = record[i]
    return pos + len(record)


def parse_wmba_response(data, n):
    """(address, size) echoed by the server, or None."""
    if n < 4 or data[0] != SID_WMBA + 0x40 or not alfid_valid(data[1]) \
            or n != 1 + fields_len(data[1]):
        return None
    return get_address(data, 1), get_size(data, 1)
