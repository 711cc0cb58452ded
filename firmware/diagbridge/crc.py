# The project's CRCs, one copy each (a leaf: every folder may use it).
#
# CRC-16/IBM-3740 (also called CRC-16/CCITT-FALSE): poly 0x1021, init 0xFFFF,
# not reflected, no final XOR; check value crc16(b"123456789") == 0x29B1.
# Users: the host link's frame check, the checksum routine 0x0202 of the
# memory store, the flasher's verification.
#
# CRC-32/IEEE (zlib.crc32, check value 0xCBF43926): Crc32, the flasher's
# image check, kept as two 16-bit halves so it never makes a long int.
#
# The host link appends CRC-16 big-endian to every message before COBS framing.
# Because the CRC is not reflected and has no final XOR, running it over a
# message followed by its own CRC gives 0 (the residue), so a decoder can
# check a frame in the same pass that decodes it.
#
# 16 bits, not 32: every value stays a small int on 32-bit MicroPython ports
# (a CRC-32 would allocate a long int per byte).  For frames up to 4 KiB it
# detects every burst of up to 16 bits and every odd number of bit errors.
from diagbridge._compat import const

CRC16_INIT = const(0xFFFF)
CRC16_CHECK = const(0x29B1)     # crc16 of b"123456789"

# CRC16_TABLE[2*i], CRC16_TABLE[2*i+1]: high and low byte of the CRC of byte i.
CRC16_TABLE = (
    b"\x00\x00\x10\x21\x20\x42\x30\x63\x40\x84\x50\xa5\x60\xc6\x70\xe7"
    b"\x81\x08\x91\x29\xa1\x4a\xb1\x6b\xc1\x8c\xd1\xad\xe1\xce\xf1\xef"
    b"\x12\x31\x02\x10\x32\x73\x22\x52\x52\xb5\x42\x94\x72\xf7\x62\xd6"
    b"\x93\x39\x83\x18\xb3\x7b\xa3\x5a\xd3\xbd\xc3\x9c\xf3\xff\xe3\xde"
    b"\x24\x62\x34\x43\x04\x20\x14\x01\x64\xe6\x74\xc7\x44\xa4\x54\x85"
    b"\xa5\x6a\xb5\x4b\x85\x28\x95\x09\xe5\xee\xf5\xcf\xc5\xac\xd5\x8d"
    b"\x36\x53\x26\x72\x16\x11\x06\x30\x76\xd7\x66\xf6\x56\x95\x46\xb4"
    b"\xb7\x5b\xa7\x7a\x97\x19\x87\x38\xf7\xdf\xe7\xfe\xd7\x9d\xc7\xbc"
    b"\x48\xc4\x58\xe5\x68\x86\x78\xa7\x08\x40\x18\x61\x28\x02\x38\x23"
    b"\xc9\xcc\xd9\xed\xe9\x8e\xf9\xaf\x89\x48\x99\x69\xa9\x0a\xb9\x2b"
    b"\x5a\xf5\x4a\xd4\x7a\xb7\x6a\x96\x1a\x71\x0a\x50\x3a\x33\x2a\x12"
    b"\xdb\xfd\xcb\xdc\xfb\xbf\xeb\x9e\x9b\x79\x8b\x58\xbb\x3b\xab\x1a"
    b"\x6c\xa6\x7c\x87\x4c\xe4\x5c\xc5\x2c\x22\x3c\x03\x0c\x60\x1c\x41"
    b"\xed\xae\xfd\x8f\xcd\xec\xdd\xcd\xad\x2a\xbd\x0b\x8d\x68\x9d\x49"
    b"\x7e\x97\x6e\xb6\x5e\xd5\x4e\xf4\x3e\x13\x2e\x32\x1e\x51\x0e\x70"
    b"\xff\x9f\xef\xbe\xdf\xdd\xcf\xfc\xbf\x1b\xaf\x3a\x9f\x59\x8f\x78"
    b"\x91\x88\x81\xa9\xb1\xca\xa1\xeb\xd1\x0c\xc1\x2d\xf1\x4e\xe1\x6f"
    b"\x10\x80\x00\xa1\x30\xc2\x20\xe3\x50\x04\x40\x25\x70\x46\x60\x67"
    b"\x83\xb9\x93\x98\xa3\xfb\xb3\xda\xc3\x3d\xd3\x1c\xe3\x7f\xf3\x5e"
    b"\x02\xb1\x12\x90\x22\xf3\x32\xd2\x42\x35\x52\x14\x62\x77\x72\x56"
    b"\xb5\xea\xa5\xcb\x95\xa8\x85\x89\xf5\x6e\xe5\x4f\xd5\x2c\xc5\x0d"
    b"\x34\xe2\x24\xc3\x14\xa0\x04\x81\x74\x66\x64\x47\x54\x24\x44\x05"
    b"\xa7\xdb\xb7\xfa\x87\x99\x97\xb8\xe7\x5f\xf7\x7e\xc7\x1d\xd7\x3c"
    b"\x26\xd3\x36\xf2\x06\x91\x16\xb0\x66\x57\x76\x76\x46\x15\x56\x34"
    b"\xd9\x4c\xc9\x6d\xf9\x0e\xe9\x2f\x99\xc8\x89\xe9\xb9\x8a\xa9\xab"
    b"\x58\x44\x48\x65\x78\x06\x68\x27\x18\xc0\x08\xe1\x38\x82\x28\xa3"
    b"\xcb\x7d\xdb\x5c\xeb\x3f\xfb\x1e\x8b\xf9\x9b\xd8\xab\xbb\xbb\x9a"
    b"\x4a\x75\x5a\x54\x6a\x37\x7a\x16\x0a\xf1\x1a\xd0\x2a\xb3\x3a\x92"
    b"\xfd\x2e\xed\x0f\xdd\x6c\xcd\x4d\xbd\xaa\xad\x8b\x9d\xe8\x8d\xc9"
    b"\x7c\x26\x6c\x07\x5c\x64\x4c\x45\x3c\xa2\x2c\x83\x1c\xe0\x0c\xc1"
    b"\xef\x1f\xff\x3e\xcf\x5d\xdf\x7c\xaf\x9b\xbf\xba\x8f\xd9\x9f\xf8"
    b"\x6e\x17\x7e\x36\x4e\x55\x5e\x74\x2e\x93\x3e\xb2\x0e\xd1\x1e\xf0"
)


def crc16_update(crc, data, start, end):
    """CRC over data[start:end] continuing from crc (no slices, no allocation)."""
    t = CRC16_TABLE
    for i in range(start, end):
        j = (((crc >> 8) ^ data[i]) & 0xFF) << 1
        crc = (((crc << 8) & 0xFF00) ^ (t[j] << 8) ^ t[j + 1])
    return crc


def crc16(data, n=-1):
    """CRC of the first n bytes of data (all of it when n < 0)."""
    if n < 0:
        n = len(data)
    return crc16_update(CRC16_INIT, data, 0, n)


def crc16_byte(crc, b):
    """One byte into the CRC: for decoders that see a byte at a time."""
    j = (((crc >> 8) ^ b) & 0xFF) << 1
    t = CRC16_TABLE
    return ((crc << 8) & 0xFF00) ^ (t[j] << 8) ^ t[j + 1]


def crc16_ccitt(data, off, count, crc=CRC16_INIT):
    """CRC-16/CCITT-FALSE over data[off:off+count], continuing from crc."""
    return crc16_update(crc, data, off, off + count)


def _crc32_tables():
    hi = [0] * 256
    lo = [0] * 256
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        hi[i] = c >> 16
        lo[i] = c & 0xFFFF
    return hi, lo


class Crc32:
    """CRC-32/IEEE (zlib.crc32), fed incrementally in 16-bit halves (small
    ints on 32-bit ports).  The tables are built per instance, on use."""

    def __init__(self):
        self._thi, self._tlo = _crc32_tables()
        self.reset()

    def reset(self):
        self._hi = 0xFFFF
        self._lo = 0xFFFF

    def update(self, data, off, count):
        thi = self._thi
        tlo = self._tlo
        hi = self._hi
        lo = self._lo
        for i in range(off, off + count):
            j = (lo ^ data[i]) & 0xFF
            lo = (((lo >> 8) | ((hi & 0xFF) << 8)) ^ tlo[j])
            hi = (hi >> 8) ^ thi[j]
        self._hi = hi
        self._lo = lo

    def value(self):
        return ((self._hi ^ 0xFFFF) << 16) | (self._lo ^ 0xFFFF)
