# K-Line message structure (SSF 14230-2 section 4): header, data field, checksum.
#
#   | Fmt | Tgt | Src | [Len] | SId | data ... | CS |
#   Fmt = A1 A0 L5..L0: A1A0 = 10 physical (HM2), 11 functional (HM3, requests
#   only); L5..L0 = data length 1..63, or 0 = an additional length byte follows
#   (data length 1..255).  CS = 8-bit sum of every byte before it.
#
# Build and parse work on caller buffers; nothing here allocates, so the
# per-byte paths of the link machines can call it.  A malformed frame from a
# peer is a result code (K_HEADER_ERROR, K_CHECKSUM_ERROR); a caller's mistake
# (a data length out of range, a buffer too small) raises UsageError.
#
# The next layer (KWP2000 services) sees only the data field: SId + parameters
# in `FrameInfo`'s data_off/data_len range of the link's buffer.
from diagbridge._compat import const, copy_into
from diagbridge.codes import OK, K_HEADER_ERROR, K_CHECKSUM_ERROR
from diagbridge.errors import UsageError

FMT_MODE_MASK = const(0xC0)
FMT_LEN_MASK = const(0x3F)
FMT_PHYSICAL = const(0x80)      # A1A0 = 10: header with address info, physical target
FMT_FUNCTIONAL = const(0xC0)    # A1A0 = 11: functional target (requests only)

MAX_DATA = const(255)           # data field: SId + up to 254 parameter bytes
MAX_FMT_LEN = const(63)         # longest data field whose length fits in Fmt
MAX_FRAME = const(260)          # 4-byte header + 255 data bytes + checksum

# Service identifiers of the data-link services (SSF 14230-2 section 5).
SID_START_COMMUNICATION = const(0x81)
SID_START_COMMUNICATION_PR = const(0xC1)
SID_STOP_COMMUNICATION = const(0x82)
SID_STOP_COMMUNICATION_PR = const(0xC2)
SID_ACCESS_TIMING_PARAMETER = const(0x83)
SID_ACCESS_TIMING_PARAMETER_PR = const(0xC3)
SID_NEGATIVE_RESPONSE = const(0x7F)
# Response codes the data link itself sends or reacts to.
RC_GENERAL_REJECT = const(0x10)                 # generalReject
RC_SUB_FUNCTION_NOT_SUPPORTED = const(0x12)     # subFunctionNotSupported-invalidFormat
RC_REQUEST_OUT_OF_RANGE = const(0x31)           # requestOutOfRange (ISO 14230-3)
RC_RESPONSE_PENDING = const(0x78)               # requestCorrectlyReceived-ResponsePending


def checksum(buf, start, n):
    """8-bit sum of buf[start:start+n] (SSF 14230-2 4.3)."""
    s = 0
    for i in range(start, start + n):
        s += buf[i]
    return s & 0xFF


def header_len(fmt):
    """Header length implied by a format byte: 3, or 4 with the length byte."""
    return 4 if fmt & FMT_LEN_MASK == 0 else 3


def build(out, functional, tgt, src, data, d_off, n, len_in_fmt=False):
    """Write the frame carrying data[d_off:d_off+n] into out; returns its length.

    The length goes into the additional length byte (the SSF rule) unless
    len_in_fmt asks for it in the format byte (StartCommunication, and peers
    whose key bytes support only that form)."""
    if not 1 <= n <= MAX_DATA:
        raise UsageError("data length must be 1..255")
    if len_in_fmt and n > MAX_FMT_LEN:
        raise UsageError("a length in the format byte must be 1..63")
    hdr = 3 if len_in_fmt else 4
    total = hdr + n + 1
    if len(out) < total:
        raise UsageError("buffer too small")
    fmt = FMT_FUNCTIONAL if functional else FMT_PHYSICAL
    if len_in_fmt:
        out[0] = fmt | n
    else:
        out[0] = fmt
        out[3] = n
    out[1] = tgt & 0xFF
    out[2] = src & 0xFF
    copy_into(out, hdr, data, d_off, n)
    out[hdr + n] = checksum(out, 0, hdr + n)
    return total


class FrameInfo:
    """What parse() found: written in place, one object per link machine."""

    def __init__(self):
        self.fmt = 0
        self.tgt = 0
        self.src = 0
        self.functional = False
        self.len_in_fmt = False
        self.data_off = 0
        self.data_len = 0
        self.total = 0


def expected_total(buf, k):
    """Frame length once enough header bytes are in (k bytes received):
    the total, 0 = not known yet, -1 = a header no length can come from."""
    if k < 1:
        return 0
    fmt = buf[0]
    if fmt & FMT_MODE_MASK != FMT_PHYSICAL and fmt & FMT_MODE_MASK != FMT_FUNCTIONAL:
        return -1       # HM0 / HM1: not defined in SSF 14230-2
    ln = fmt & FMT_LEN_MASK
    if ln:
        return 3 + ln + 1
    if k < 4:
        return 0
    if buf[3] == 0:
        return -1       # a length byte of 0: no data field
    return 4 + buf[3] + 1


def parse(buf, n, info, allow_fmt_len=True, allow_len_byte=True):
    """Check a complete frame buf[0:n] and describe it in info.

    Returns OK, K_HEADER_ERROR (address mode HM0/HM1, length byte 0, a length
    form the key bytes do not allow, n not the length the header gives) or
    K_CHECKSUM_ERROR."""
    total = expected_total(buf, n)
    if total <= 0 or total != n:
        return K_HEADER_ERROR
    fmt = buf[0]
    in_fmt = fmt & FMT_LEN_MASK != 0
    if (in_fmt and not allow_fmt_len) or (not in_fmt and not allow_len_byte):
        return K_HEADER_ERROR
    if checksum(buf, 0, n - 1) != buf[n - 1]:
        return K_CHECKSUM_ERROR
    hdr = 3 if in_fmt else 4
    info.fmt = fmt
    info.tgt = buf[1]
    info.src = buf[2]
    info.functional = fmt & FMT_MODE_MASK == FMT_FUNCTIONAL
    info.len_in_fmt = in_fmt
    info.data_off = hdr
    info.data_len = n - hdr - 1
    info.total = n
    return OK
