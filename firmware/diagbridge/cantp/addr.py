# ISO 15765-2 addressing formats: where the network address information goes.
#
#   format              CAN id                              first data byte
#   NORMAL_11 / _29     tx_id / rx_id as given              N_PCI
#   NORMAL_FIXED        prio|0xDA|TA|SA phys, 0xDB func     N_PCI       (29-bit)
#   EXTENDED_11 / _29   tx_id / rx_id as given              N_TA, then N_PCI
#   MIXED_11            tx_id / rx_id as given              N_AE, then N_PCI
#   MIXED_29            prio|0xCE|TA|SA phys, 0xCD func     N_AE, then N_PCI
#
# One Address describes both directions of a channel: what it transmits
# (physical and, optionally, functional) and which frames it accepts.
# ta is the peer's address, sa our own; the fixed formats derive
#   tx: prio<<26 | PF<<16 | ta<<8 | sa      rx: PF<<16 | sa<<8 | ta
# and ignore the priority bits on receive.  Functional target address type
# frames are sent with SF only; a functional FF is ignored on receive.
from diagbridge._compat import const
from diagbridge.can import FLAG_EXT, FLAG_FD, FLAG_BRS  # noqa: F401 (also the cantp face's)
from diagbridge.errors import ConfigError

ADDR_NORMAL_11 = const(0)
ADDR_NORMAL_29 = const(1)
ADDR_NORMAL_FIXED = const(2)
ADDR_EXTENDED_11 = const(3)
ADDR_EXTENDED_29 = const(4)
ADDR_MIXED_11 = const(5)
ADDR_MIXED_29 = const(6)

TA_PHYSICAL = const(0)
TA_FUNCTIONAL = const(1)

# Frame flags (feed_frame's optional 5th argument, pop_frame's tx_flags): diagbridge.can.

_PF_FIXED_PHYS = const(0xDA)
_PF_FIXED_FUNC = const(0xDB)
_PF_MIXED_PHYS = const(0xCE)
_PF_MIXED_FUNC = const(0xCD)
_MASK_NO_PRIO = const(0x03FFFFFF)
_MASK_ALL = const(0x1FFFFFFF)


def _byte(name, v):
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 0xFF:
        raise ConfigError(name)
    return v


def _id(name, v, ext):
    top = 0x1FFFFFFF if ext else 0x7FF
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= top:
        raise ConfigError(name)
    return v


def _absent(name, v):
    if v is not None:
        raise ConfigError(name)


class Address:
    """Addressing of one channel.

    NORMAL_11/_29: tx_id, rx_id; optional func_tx_id, func_rx_id.
    NORMAL_FIXED:  ta, sa, priority (0..7, default 6); optional func_ta.
    EXTENDED_11/_29: tx_id, rx_id, ta (sent as first byte), sa (first byte of
                   accepted frames); optional func_tx_id/func_rx_id with func_ta.
    MIXED_11:      tx_id, rx_id, ae; optional func_tx_id, func_rx_id.
    MIXED_29:      ta, sa, ae, priority; optional func_ta.
    """

    def __init__(self, fmt, tx_id=None, rx_id=None, ta=None, sa=None, ae=None,
                 func_tx_id=None, func_rx_id=None, func_ta=None, priority=6):
        if not isinstance(fmt, int) or not ADDR_NORMAL_11 <= fmt <= ADDR_MIXED_29:
            raise ConfigError("fmt")
        self.fmt = fmt
        ext = fmt in (ADDR_NORMAL_29, ADDR_NORMAL_FIXED, ADDR_EXTENDED_29, ADDR_MIXED_29)
        self.ext = ext
        self.prefix_len = 1 if fmt >= ADDR_EXTENDED_11 else 0
        self.ta = ta
        self.sa = sa
        self.ae = ae
        self.func_ta = func_ta
        self.priority = priority
        # Filled below: -1 = none / no check.
        self.tx_prefix = -1
        self.ftx_id = -1
        self.ftx_prefix = -1
        self.rx_prefix = -1
        self.rx_mask = _MASK_ALL
        self.frx_id = -1
        self.frx_prefix = -1
        if fmt == ADDR_NORMAL_FIXED or fmt == ADDR_MIXED_29:
            _absent("tx_id", tx_id)
            _absent("rx_id", rx_id)
            _absent("func_tx_id", func_tx_id)
            _absent("func_rx_id", func_rx_id)
            _byte("ta", ta)
            _byte("sa", sa)
            if not isinstance(priority, int) or not 0 <= priority <= 7:
                raise ConfigError("priority")
            if fmt == ADDR_NORMAL_FIXED:
                _absent("ae", ae)
                pf, pff = _PF_FIXED_PHYS, _PF_FIXED_FUNC
            else:
                _byte("ae", ae)
                pf, pff = _PF_MIXED_PHYS, _PF_MIXED_FUNC
                self.tx_prefix = self.ftx_prefix = self.rx_prefix = self.frx_prefix = ae
            p = priority << 26
            self.tx_id = p | (pf << 16) | (ta << 8) | sa
            self.rx_id = (pf << 16) | (sa << 8) | ta
            self.rx_mask = _MASK_NO_PRIO
            if func_ta is not None:
                _byte("func_ta", func_ta)
                self.ftx_id = p | (pff << 16) | (func_ta << 8) | sa
                self.frx_id = (pff << 16) | (func_ta << 8) | ta
            return
        self.tx_id = _id("tx_id", tx_id, ext)
        self.rx_id = _id("rx_id", rx_id, ext)
        if func_tx_id is not None:
            self.ftx_id = _id("func_tx_id", func_tx_id, ext)
        if func_rx_id is not None:
            self.frx_id = _id("func_rx_id", func_rx_id, ext)
        if fmt == ADDR_EXTENDED_11 or fmt == ADDR_EXTENDED_29:
            _absent("ae", ae)
            self.tx_prefix = _byte("ta", ta)
            self.rx_prefix = _byte("sa", sa)
            if func_tx_id is not None or func_rx_id is not None:
                self.ftx_prefix = self.frx_prefix = _byte("func_ta", func_ta)
            else:
                _absent("func_ta", func_ta)
        elif fmt == ADDR_MIXED_11:
            _absent("ta", ta)
            _absent("sa", sa)
            _absent("func_ta", func_ta)
            self.tx_prefix = self.ftx_prefix = self.rx_prefix = self.frx_prefix = _byte("ae", ae)
        else:
            _absent("ta", ta)
            _absent("sa", sa)
            _absent("ae", ae)
            _absent("func_ta", func_ta)
        self.rx_mask = _MASK_ALL

    def match(self, can_id, flags, data, n):
        """TA_PHYSICAL / TA_FUNCTIONAL when a received frame is for us, else -1."""
        if ((flags & FLAG_EXT) != 0) != self.ext:
            return -1
        if (can_id & self.rx_mask) == self.rx_id:
            p = self.rx_prefix
            if p < 0 or (n > 0 and data[0] == p):
                return TA_PHYSICAL
            return -1
        if self.frx_id >= 0 and (can_id & self.rx_mask) == self.frx_id:
            p = self.frx_prefix
            if p < 0 or (n > 0 and data[0] == p):
                return TA_FUNCTIONAL
        return -1
