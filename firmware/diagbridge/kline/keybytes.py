# Key bytes (SSF 14230-2 5.1.2.1, Tables 3 and 4): what a StartCommunication
# positive response (or a 5-baud init) tells the tester about the ECU.
#
#   KB1 bit 0 AL0  length in the format byte supported
#       bit 1 AL1  additional length byte supported
#       bit 2 HB0  1-byte header supported
#       bit 3 HB1  header with target and source supported
#       bit 4 TP0, bit 5 TP1: (0, 1) normal timing set, (1, 0) extended
#       bit 6 always 1, bit 7 odd parity
#   KB2 = 0x8F (0x0F with odd parity)
#   keyword = (KB2 & 0x7F) * 2**7 + (KB1 & 0x7F): EA 8F = 2026, the only pair
#   the SSF allows (length byte, addresses, normal timing).  E9 8F = 2025
#   (length in the format byte), EF 8F = 2031 (both forms, both headers).
from diagbridge._compat import const

KB1_SSF = const(0xEA)
KB2_SSF = const(0x8F)

KB_AL0 = const(0x01)
KB_AL1 = const(0x02)
KB_HB0 = const(0x04)
KB_HB1 = const(0x08)
KB_TP0 = const(0x10)
KB_TP1 = const(0x20)
_KB_ONE = const(0x40)
_KB2_VALUE = const(0x0F)


def odd_parity(b):
    """True if the 8-bit value b has an odd number of 1 bits."""
    b ^= b >> 4
    b ^= b >> 2
    b ^= b >> 1
    return b & 1 == 1


def keyword(kb1, kb2):
    return ((kb2 & 0x7F) << 7) | (kb1 & 0x7F)


def key_bytes_valid(kb1, kb2):
    """Parity of both, KB1 bit 6 set, a defined timing set, KB2 = 0x8F, and a
    usable header: the header with target and source and at least one length
    form (this link always sends addresses)."""
    if not odd_parity(kb1) or not odd_parity(kb2):
        return False
    if kb1 & _KB_ONE == 0 or kb2 & 0x7F != _KB2_VALUE:
        return False
    tp = kb1 & (KB_TP0 | KB_TP1)
    if tp != KB_TP1 and tp != KB_TP0:
        return False
    return kb1 & KB_HB1 != 0 and kb1 & (KB_AL0 | KB_AL1) != 0


def supports_fmt_length(kb1):
    return kb1 & KB_AL0 != 0


def supports_length_byte(kb1):
    return kb1 & KB_AL1 != 0


def extended_timing(kb1):
    return kb1 & (KB_TP0 | KB_TP1) == KB_TP0


def with_parity(b7):
    """A 7-bit value with bit 7 set for odd parity (to build key bytes)."""
    b7 &= 0x7F
    return b7 if odd_parity(b7) else b7 | 0x80
