# ISO 15765-2 N_PCI codec: frame types, lengths, STmin, CAN FD data lengths.
#
#   N_PDU   byte off+0        byte off+1   off+2 .. off+5        payload from
#   SF      0x0 | SF_DL       data ...                            off+1   (CAN_DL <= 8)
#   SF      0x00              SF_DL        data ...               off+2   (CAN_DL > 8, escape)
#   FF      0x1 | FF_DL hi    FF_DL lo     data ...               off+2   (FF_DL <= 4095)
#   FF      0x10              0x00         FF_DL (32 bit, BE)     off+6   (FF_DL > 4095, escape)
#   CF      0x2 | SN          data ...                            off+1
#   FC      0x3 | FS          BS           STmin                  -
#
# `off` is the addressing prefix: 0 (normal, normal fixed) or 1 (extended: N_TA,
# mixed: N_AE).  Every function here is allocation-free: it reads and writes
# caller buffers with index loops and returns small ints.
from diagbridge._compat import const
from diagbridge.can import DLC_LENGTHS

PCI_SF = const(0x00)
PCI_FF = const(0x10)
PCI_CF = const(0x20)
PCI_FC = const(0x30)

FS_CTS = const(0)       # ContinueToSend
FS_WAIT = const(1)      # wait
FS_OVFLW = const(2)     # overflow

# decode() results
K_INVALID = const(-1)   # a frame the standard says to ignore
K_SF = const(0)
K_FF = const(1)
K_CF = const(2)
K_FC = const(3)

FF_DL_12BIT_MAX = const(4095)
PAD_DEFAULT = const(0xCC)
_STMIN_MAX_US = const(127000)



def fd_len(n):
    """Smallest valid CAN FD data length >= n (0 <= n <= 64)."""
    if n <= 8:
        return n
    for dlc in range(9, 16):
        if DLC_LENGTHS[dlc] >= n:
            return DLC_LENGTHS[dlc]
    return 64


def len_to_dlc(n):
    """DLC for a valid CAN (FD) data length n, else -1."""
    for dlc in range(16):
        if DLC_LENGTHS[dlc] == n:
            return dlc
    return -1


def is_valid_len(n):
    return len_to_dlc(n) >= 0


def stmin_to_us(b):
    """STmin byte -> us. Reserved values (0x80-0xF0, 0xFA-0xFF) mean 127 ms."""
    if b <= 0x7F:
        return b * 1000
    if 0xF1 <= b <= 0xF9:
        return (b - 0xF0) * 100
    return _STMIN_MAX_US


def stmin_from_us(us):
    """us -> STmin byte, or -1 when the value has no exact encoding."""
    if us is None or us < 0:
        return -1
    if us % 1000 == 0 and us <= _STMIN_MAX_US:
        return us // 1000
    if us % 100 == 0 and 100 <= us <= 900:
        return 0xF0 + us // 100
    return -1


def sf_capacity(off, dl):
    """Largest SF payload in a frame of at most `dl` bytes."""
    if dl <= 8:
        return dl - 1 - off
    return dl - 2 - off


def ff_dl_min(off, rx_dl):
    """Smallest FF_DL a sender may use for frames of rx_dl bytes (else it fits an SF)."""
    if rx_dl <= 8:
        return 8 - off
    return rx_dl - 1 - off


def pad_len(end, padding):
    """CAN data length of a frame whose data ends at `end` (see pad)."""
    if padding is None or end > 8:
        return fd_len(end)
    return 8


def pad(out, end, padding):
    """Pad a frame whose data ends at `end`; returns the CAN data length.

    padding None: CAN frame data optimisation, the shortest valid length
    (still padded with 0xCC above 8 bytes, where padding is mandatory).
    padding 0..255: at least 8 bytes, padded with that value."""
    n = pad_len(end, padding)
    if padding is None:
        padding = PAD_DEFAULT
    for i in range(end, n):
        out[i] = padding
    return n


def put_fc(out, off, fs, bs, stmin):
    out[off] = PCI_FC | fs
    out[off + 1] = bs
    out[off + 2] = stmin
    return off + 3


class Pdu:
    """Decoded N_PCI of one received frame; one instance reused for every frame."""

    def __init__(self):
        self.kind = K_INVALID
        self.dl = 0         # SF_DL or FF_DL (FF_DL > max_pdu may be clipped, see big)
        self.big = False    # FF_DL >= 2**30: larger than any receive buffer
        self.start = 0      # index of the first payload byte
        self.sn = 0
        self.fs = 0
        self.bs = 0
        self.stmin = 0      # raw STmin byte

    def decode(self, data, n, off):
        """Classify data[0:n] (PCI at data[off]); K_INVALID for frames to ignore."""
        self.kind = K_INVALID
        if n <= off or n > 64:
            return K_INVALID
        b = data[off]
        t = b & 0xF0
        low = b & 0x0F
        if t == PCI_SF:
            if n <= 8:
                # 4-bit SF_DL; 0 (the escape) is only valid for CAN_DL > 8.
                if low == 0 or low > n - 1 - off:
                    return K_INVALID
                self.dl = low
                self.start = off + 1
            else:
                # CAN_DL > 8: byte must be exactly 0x00, SF_DL in the next byte.
                # SF_DL is not checked against a lower bound, so a sender that
                # pads to a fixed CAN_DL is accepted.
                if low != 0 or n < off + 3:
                    return K_INVALID
                dl = data[off + 1]
                if dl == 0 or dl > n - 2 - off:
                    return K_INVALID
                self.dl = dl
                self.start = off + 2
            self.kind = K_SF
            return K_SF
        if t == PCI_FF:
            # A FF always fills its frame: CAN_DL 8 or a valid FD length > 8.
            if n < 8 or not is_valid_len(n):
                return K_INVALID
            dl = (low << 8) | data[off + 1]
            self.big = False
            if dl != 0:
                self.start = off + 2
            else:
                if n < off + 7:
                    return K_INVALID
                top = data[off + 2]
                if top >= 0x40:
                    self.big = True       # >= 2**30: no int math (would allocate)
                    dl = 0x3FFFFFFF
                else:
                    dl = (top << 24) | (data[off + 3] << 16) | (data[off + 4] << 8) | data[off + 5]
                    if dl <= FF_DL_12BIT_MAX:
                        return K_INVALID   # escape used for a length that fits 12 bits
                self.start = off + 6
            if dl < ff_dl_min(off, n):
                return K_INVALID
            self.dl = dl
            self.kind = K_FF
            return K_FF
        if t == PCI_CF:
            self.sn = low
            self.start = off + 1
            self.kind = K_CF
            return K_CF
        if t == PCI_FC:
            if n < off + 3:
                return K_INVALID
            self.fs = low
            self.bs = data[off + 1]
            self.stmin = data[off + 2]
            self.kind = K_FC
            return K_FC
        return K_INVALID
