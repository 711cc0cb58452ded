# Big-endian integer fields and the addressAndLengthFormatIdentifier, once for
# every UDS layout.  Plain loops over caller buffers: no slices, no allocation.


def put_u16(out, pos, v):
    out[pos] = (v >> 8) & 0xFF
    out[pos + 1] = v & 0xFF
    return pos + 2


def get_u16(data, pos):
    return (data[pos] << 8) | data[pos + 1]


def put_u24(out, pos, v):
    out[pos] = (v >> 16) & 0xFF
    out[pos + 1] = (v >> 8) & 0xFF
    out[pos + 2] = v & 0xFF
    return pos + 3


def get_u24(data, pos):
    return (data[pos] << 16) | (data[pos + 1] << 8) | data[pos + 2]


def put_uint(out, pos, v, k):
    """v big-endian in k bytes at out[pos] (the low k bytes of v); the next position."""
    for i in range(k - 1, -1, -1):
        out[pos + i] = v & 0xFF
        v >>= 8
    return pos + k


def get_uint(data, pos, k):
    """Big-endian unsigned int of k bytes at data[pos]."""
    v = 0
    for i in range(k):
        v = (v << 8) | data[pos + i]
    return v


def uint_len(v):
    """Bytes needed for v (at least 1)."""
    n = 1
    while v > 0xFF:
        v >>= 8
        n += 1
    return n


def alfid(addr_len, size_len):
    """addressAndLengthFormatIdentifier: high nibble = size bytes, low = address bytes (§9.1)."""
    return ((size_len & 0x0F) << 4) | (addr_len & 0x0F)
