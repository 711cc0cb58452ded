# TpConfig: the timing, flow-control and frame parameters of one CAN-TP channel.
#
# Unit-suffixed ints, defaults from ISO 15765-2, validated at construction;
# a bad field raises ConfigError naming it.  No side effects.
from diagbridge.errors import ConfigError, config_int as _int
from diagbridge.cantp.pci import is_valid_len, stmin_from_us

_MS_MAX = 200000            # 200 s: well under half the 2**29 us tick period
_PDU_MAX = 0x3FFFFFFE       # FF_DL above this is always an overflow (small ints only)


def _ms(name, v):
    if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= _MS_MAX:
        raise ConfigError(name)
    return v


def _bool(name, v):
    if v is not True and v is not False:
        raise ConfigError(name)
    return v


class TpConfig:
    """Parameters of one channel (both its sender and its receiver).

    Timeouts (ISO 15765-2 defaults 1000 ms):
      n_as_ms   sender: frame queued -> tx confirmation      (N_TIMEOUT_A)
      n_ar_ms   receiver: FC queued -> tx confirmation       (N_TIMEOUT_A)
      n_bs_ms   sender: FF/last CF of a block sent, or FC.WAIT received -> next FC
                                                             (N_TIMEOUT_BS)
      n_cr_ms   receiver: FC sent or CF received -> next CF  (N_TIMEOUT_CR)
    Performance values (the standard gives no fixed value):
      n_br_ms   receiver: period of FC.WAIT frames while the application holds
                reception; keep n_br + n_ar < 0.9 * the peer's N_Bs
      n_cs_ms   sender: upper bound for tx_stmin_override_us (a CF is queued
                the moment STmin has elapsed, so N_Cs = STmin)
    Flow control:
      block_size     BS this receiver advertises (0 = no further FC)
      stmin_us       STmin this receiver advertises: 0..127000 in whole ms, or
                     100..900 in steps of 100 us
      tx_stmin_override_us  None: the sender honours the peer's STmin; else the
                     sender uses this gap (us) instead
      wft_max        receiver: FC.WAIT frames in a row before it gives up with
                     N_WFT_OVRN (0: the receiver never sends WAIT)
      tx_wft_max     sender: None = any number of FC.WAIT (ISO: each restarts
                     N_Bs); else more WAITs in a row than this -> N_WFT_OVRN
    Frames:
      max_pdu        receive buffer size; a longer FF_DL is answered FC.OVFLW
      padding        0..255 pad byte (default 0xCC), None = CAN frame data
                     optimisation (frames > 8 bytes are still padded, with 0xCC)
      fd             CAN FD frames; tx_dl: 8 (classic or FD) or 12..64 (FD only)
      brs            FD bit rate switch flag on transmitted frames
      full_duplex    the unexpected-N_PDU table to use (False = half duplex)
      tx_confirm     True: the adapter reports every transmitted frame with
                     confirm(); False: a frame counts as sent when popped
      events         event queue depth
    """

    def __init__(self, n_as_ms=1000, n_ar_ms=1000, n_bs_ms=1000, n_br_ms=500,
                 n_cs_ms=500, n_cr_ms=1000, block_size=8, stmin_us=0,
                 tx_stmin_override_us=None, wft_max=8, tx_wft_max=None,
                 max_pdu=4095, padding=0xCC, fd=False, tx_dl=8, brs=True,
                 full_duplex=False, tx_confirm=True, events=8):
        self.n_as_ms = _ms("n_as_ms", n_as_ms)
        self.n_ar_ms = _ms("n_ar_ms", n_ar_ms)
        self.n_bs_ms = _ms("n_bs_ms", n_bs_ms)
        self.n_br_ms = _ms("n_br_ms", n_br_ms)
        self.n_cs_ms = _ms("n_cs_ms", n_cs_ms)
        self.n_cr_ms = _ms("n_cr_ms", n_cr_ms)
        self.block_size = _int("block_size", block_size, 0, 0xFF)
        if not isinstance(stmin_us, int) or stmin_from_us(stmin_us) < 0:
            raise ConfigError("stmin_us")
        self.stmin_us = stmin_us
        if tx_stmin_override_us is not None:
            _int("tx_stmin_override_us", tx_stmin_override_us, 0, n_cs_ms * 1000)
        self.tx_stmin_override_us = tx_stmin_override_us
        self.wft_max = _int("wft_max", wft_max, 0, 0xFF)
        if tx_wft_max is not None:
            _int("tx_wft_max", tx_wft_max, 0, 0xFFFF)
        self.tx_wft_max = tx_wft_max
        self.max_pdu = _int("max_pdu", max_pdu, 1, _PDU_MAX)
        if padding is not None:
            _int("padding", padding, 0, 0xFF)
        self.padding = padding
        self.fd = _bool("fd", fd)
        if not isinstance(tx_dl, int) or not is_valid_len(tx_dl) or tx_dl < 8 \
                or (tx_dl > 8 and not fd):
            raise ConfigError("tx_dl")
        self.tx_dl = tx_dl
        self.brs = _bool("brs", brs)
        self.full_duplex = _bool("full_duplex", full_duplex)
        self.tx_confirm = _bool("tx_confirm", tx_confirm)
        self.events = _int("events", events, 2, 255)
