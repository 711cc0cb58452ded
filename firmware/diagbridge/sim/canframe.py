# Bit-exact length of a CAN data frame on the wire (ISO 11898-1:2015), so the
# virtual bus spends exactly as long on a frame as a real one would.
#
# A frame is built as its unstuffed bit list (a bytearray of 0/1: this is
# simulation, not a hot path), then the stuff bits are counted on that real
# bitstream.  Dominant = 0, recessive = 1, every field MSB first.  Every count
# returned INCLUDES the 3-bit intermission (IFS) that must follow a frame
# before the next SOF, so back-to-back frames are simply laid end to end.
#
# Classical frame (data frame, RTR dominant):
#   SOF | ID(11) RTR | IDE r0 | DLC(4) | data | CRC-15        <- dynamic stuffing
#   SOF | ID[28:18] SRR IDE ID[17:0] RTR | r1 r0 | DLC | data | CRC-15
#   then CRC delimiter, ACK slot, ACK delimiter, EOF(7), IFS(3)  (13, unstuffed)
# FD frame (ISO CRC, "ISO CAN FD"):
#   SOF | ID(11) RRS | IDE FDF res BRS ESI DLC(4) | data      <- dynamic stuffing
#   SOF | ID[28:18] SRR IDE ID[17:0] RRS | FDF res BRS ESI DLC | data
#   then stuff count (3-bit Gray + parity) and CRC-17 (data <= 16 bytes) or
#   CRC-21, with FIXED stuff bits: one before the stuff count and one after
#   every 4 bits after it, 1 + (4 + crc_len) // 4 = 6 (CRC-17) or 7 (CRC-21);
#   then the same 13-bit tail.  The fixed bits do not depend on the CRC value,
#   so FD CRCs are not computed.
from diagbridge._compat import const
from diagbridge.can import DLC_LENGTHS
from diagbridge.errors import UsageError


CRC15_POLY = const(0x4599)      # x^15+x^14+x^10+x^8+x^7+x^4+x^3+1
# After the stuffed part: CRC delimiter, ACK slot, ACK delimiter, EOF, IFS.
TAIL_BITS = const(13)
EOF_IFS_BITS = const(10)        # EOF(7) + IFS(3): the part of the tail after ACK delimiter
ERROR_FRAME_BITS = const(14)    # error flag (6) + error delimiter (8)
IFS_BITS = const(3)

_MAX_BASE_ID = const(0x7FF)
_MAX_EXT_ID = const(0x1FFFFFFF)
_STUFF_RUN = const(5)           # a complementary bit after 5 equal bits
_STUFF_COUNT_BITS = const(4)    # FD: 3-bit Gray-coded count + parity
_CRC17_MAX_LEN = const(16)      # FD data up to 16 bytes: CRC-17, above: CRC-21
# Not const(): 10**9 is no small int on a 32-bit port (the sim is not a hot path).
_NS_PER_S = 1000000000


def dlc_for_len(n):
    """DLC for a data length; n must be one of DLC_LENGTHS (0..8 for classical)."""
    for dlc in range(16):
        if DLC_LENGTHS[dlc] == n:
            return dlc
    raise UsageError("not a valid CAN FD data length")


def len_for_dlc(dlc):
    """Data length for a 4-bit DLC as CAN FD defines it (9..15 -> 12..64).
    A classical frame with DLC 9..15 carries 8 bytes; that case is never built
    here because classical frames use DLC = n."""
    if not isinstance(dlc, int) or not 0 <= dlc <= 15:
        raise UsageError("dlc must be 0..15")
    return DLC_LENGTHS[dlc]


def check_frame(can_id, extended, fd, brs, n):
    """UsageError unless the id, length and flags make a valid data frame."""
    if not isinstance(can_id, int) or can_id < 0:
        raise UsageError("can_id must be a non-negative int")
    if can_id > (_MAX_EXT_ID if extended else _MAX_BASE_ID):
        raise UsageError("can_id too large for its format")
    if brs and not fd:
        raise UsageError("brs needs fd")
    if not isinstance(n, int) or n < 0:
        raise UsageError("n must be a non-negative int")
    if fd:
        dlc_for_len(n)
    elif n > 8:
        raise UsageError("classical frame carries at most 8 bytes")


def crc15(bits, start=0, end=None):
    """CRC-15/CAN of bits[start:end] (ints 0/1), as ISO 11898-1 defines it:
    shift register initialised to 0, no final XOR."""
    if end is None:
        end = len(bits)
    crc = 0
    for i in range(start, end):
        nxt = bits[i] ^ (crc >> 14)
        crc = (crc << 1) & 0x7FFF
        if nxt:
            crc ^= CRC15_POLY
    return crc


def _put(bits, value, width):
    for i in range(width - 1, -1, -1):
        bits.append((value >> i) & 1)


def frame_bitstream(can_id, extended, fd, brs, data, n):
    """(bits, brs_index): the unstuffed bits of the dynamically stuffed part
    of the frame (SOF .. CRC-15 for classical, SOF .. data for FD) and the
    index of the BRS bit (-1 for classical frames)."""
    check_frame(can_id, extended, fd, brs, n)
    if len(data) < n:
        raise UsageError("data shorter than n")
    bits = bytearray()
    bits.append(0)                                  # SOF
    if extended:
        _put(bits, can_id >> 18, 11)                # base ID = ID[28:18]
        bits.append(1)                              # SRR
        bits.append(1)                              # IDE
        _put(bits, can_id & 0x3FFFF, 18)            # ID[17:0]
        bits.append(0)                              # RTR (classical) / RRS (FD)
    else:
        _put(bits, can_id, 11)
        bits.append(0)                              # RTR / RRS
        bits.append(0)                              # IDE
    brs_index = -1
    if fd:
        bits.append(1)                              # FDF
        bits.append(0)                              # res
        brs_index = len(bits)
        bits.append(1 if brs else 0)                # BRS
        bits.append(0)                              # ESI: error-active
        _put(bits, dlc_for_len(n), 4)
    else:
        if extended:
            bits.append(0)                          # r1
        bits.append(0)                              # r0 (FDF = 0: classical)
        _put(bits, n, 4)
    for i in range(n):
        _put(bits, data[i], 8)
    if not fd:
        _put(bits, crc15(bits), 15)
    return bits, brs_index


def count_stuff(bits, split=-1, trailing=True):
    """Stuff bits the transmitter inserts into `bits`: (before, after), split
    at the bit with index `split` (a stuff bit right after that bit counts as
    `after`; split=-1 puts everything in `after`).  A stuff bit counts toward
    the next run.  With trailing=False a stuff bit due after the very last bit
    is not inserted (FD: the first fixed stuff bit takes its place)."""
    before = 0
    after = 0
    run = 0
    prev = -1
    last = len(bits) - 1
    for i in range(len(bits)):
        b = bits[i]
        if b == prev:
            run += 1
        else:
            prev = b
            run = 1
        if run == _STUFF_RUN:
            if i == last and not trailing:
                break
            if i < split:
                before += 1
            else:
                after += 1
            prev = 1 - b                            # the stuff bit starts the next run
            run = 1
    return before, after


def fixed_stuff_bits(n):
    """FD fixed stuff bits in the CRC field for n data bytes (6 or 7)."""
    return 1 + (_STUFF_COUNT_BITS + _crc_len_fd(n)) // 4


def _crc_len_fd(n):
    return 17 if n <= _CRC17_MAX_LEN else 21


def frame_bits(can_id, extended, fd, brs, data, n):
    """(nominal_bits, data_phase_bits) of a data frame, stuff bits and IFS
    included.  data_phase_bits is 0 unless fd and brs.

    Bit-rate switch (simplified at the bit, not the sample point): the bits
    after BRS (ESI first) through the last CRC bit go at the data rate, the
    CRC delimiter and everything else at the nominal rate.  Really the rate
    switches at BRS's sample point and back at the CRC delimiter's, so each
    boundary bit is part nominal, part data; the two errors nearly cancel."""
    bits, brs_index = frame_bitstream(can_id, extended, fd, brs, data, n)
    if not fd:
        before, after = count_stuff(bits)
        return len(bits) + after + TAIL_BITS, 0
    crc_field = _STUFF_COUNT_BITS + _crc_len_fd(n) + fixed_stuff_bits(n)
    if not brs:
        before, after = count_stuff(bits, -1, False)
        return len(bits) + after + crc_field + TAIL_BITS, 0
    before, after = count_stuff(bits, brs_index, False)
    nominal = brs_index + 1 + before + TAIL_BITS
    data_phase = len(bits) - brs_index - 1 + after + crc_field
    return nominal, data_phase


def bits_time_ns(bitrate, data_bitrate, nominal_bits, data_bits):
    """Exact time of nominal_bits at bitrate plus data_bits at data_bitrate,
    rounded up to the nanosecond (integer math, no floats)."""
    if bitrate <= 0 or data_bitrate <= 0:
        raise UsageError("bit rates must be > 0")
    num = (nominal_bits * data_bitrate + data_bits * bitrate) * _NS_PER_S
    return -(-num // (bitrate * data_bitrate))


def frame_time_ns(bitrate, data_bitrate, can_id, extended, fd, brs, data, n):
    """Time the frame occupies the bus, IFS included, in ns (rounded up)."""
    nominal, data_bits = frame_bits(can_id, extended, fd, brs, data, n)
    return bits_time_ns(bitrate, data_bitrate, nominal, data_bits)
