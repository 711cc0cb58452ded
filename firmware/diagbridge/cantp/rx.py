# CAN-TP receiver: SF and FF + CFs into one buffer allocated by the channel.
#
# Sans-I/O.  A flow control is decided when the channel pops it, so an
# application that calls hold() on EV_RX_FF still gets FC.WAIT instead of
# FC.CTS.  While held, an FC.WAIT goes out every n_br_ms; after wft_max
# WAITs in a row the reception fails with N_WFT_OVRN (ISO 15765-2: the
# receiver cannot meet the performance requirement for an FC.CTS).
#
# Timers (one slot: started at tick `_t0`, runs `_dur` us; _t0 None = off):
#   FC_DUE/FC_SENT: N_Ar   WAIT_CF: N_Cr   HOLD: N_Br
from diagbridge._compat import const, copy_into
from diagbridge.clock import ticks_add, ticks_diff
from diagbridge.codes import (N_OK, N_TIMEOUT_A, N_TIMEOUT_CR, N_WRONG_SN,
                              N_UNEXP_PDU, N_WFT_OVRN, N_ERROR)
from diagbridge.cantp.pci import (FS_CTS, FS_WAIT, FS_OVFLW, K_SF, K_CF, put_fc,
                                  stmin_from_us)
from diagbridge.cantp.events import (EV_RX_FF, EV_RX_DONE, EV_RX_FAILED,
                                     T_RESULT, T_IGNORED, IGN_LENGTH,
                                     IGN_UNEXPECTED, IGN_TOO_LONG)

# States
_R_IDLE = const(0)
_R_FC_DUE = const(1)    # an FC is ready for pop_frame (N_Ar runs)
R_FC_DUE = const(1)     # (the channel looks at it before it calls pop)
_R_FC_SENT = const(2)   # FC popped, awaiting its tx confirmation (N_Ar runs)
_R_WAIT_CF = const(3)   # awaiting the next CF (N_Cr runs)
_R_HOLD = const(4)      # FC.WAIT sent; next FC after N_Br or on ready()
N_STATES = const(5)

# Inputs
_I_SF = const(0)
_I_FF = const(1)
_I_CF = const(2)
_I_POP = const(3)
_I_CONF_OK = const(4)
_I_CONF_FAIL = const(5)
_I_TIMER = const(6)
_I_READY = const(7)
N_INPUTS = const(8)

# Actions (next states in brackets)
_A_IGNORE = const(0)    # [same]
_A_SF = const(1)        # [IDLE]   a running reception fails with N_UNEXP_PDU first
_A_FF = const(2)        # [FC_DUE] a running reception fails with N_UNEXP_PDU first
_A_CF = const(3)        # [IDLE done | WAIT_CF | FC_DUE] or [IDLE] N_WRONG_SN
_A_CF_EARLY = const(4)  # CF before the FC.CTS confirmation: as CONF_OK, then CF
_A_POP = const(5)       # [FC_SENT] or [IDLE] N_WFT_OVRN
_A_FC_SENT = const(6)   # [WAIT_CF (CTS) | HOLD (WAIT) | IDLE (OVFLW)]
_A_FAIL_L = const(7)    # [IDLE]   N_ERROR: the CAN controller did not send the FC
_A_TIMEOUT_A = const(8)     # [IDLE] N_TIMEOUT_A
_A_TIMEOUT_CR = const(9)    # [IDLE] N_TIMEOUT_CR
_A_HOLD_TICK = const(10)    # [FC_DUE] or [IDLE] N_WFT_OVRN
_A_READY = const(11)        # [FC_DUE]

TABLE = bytes((
    # SF     FF     CF           POP     CONF_OK     CONF_FAIL  TIMER          READY
    _A_SF, _A_FF, _A_IGNORE, _A_IGNORE, _A_IGNORE, _A_IGNORE, _A_IGNORE, _A_IGNORE,  # IDLE
    _A_SF, _A_FF, _A_IGNORE, _A_POP, _A_IGNORE, _A_IGNORE, _A_TIMEOUT_A, _A_IGNORE,  # FC_DUE
    _A_SF, _A_FF, _A_CF_EARLY, _A_IGNORE, _A_FC_SENT, _A_FAIL_L, _A_TIMEOUT_A, _A_IGNORE,  # FC_SENT
    _A_SF, _A_FF, _A_CF, _A_IGNORE, _A_IGNORE, _A_IGNORE, _A_TIMEOUT_CR, _A_IGNORE,  # WAIT_CF
    _A_SF, _A_FF, _A_IGNORE, _A_IGNORE, _A_IGNORE, _A_IGNORE, _A_HOLD_TICK, _A_READY,  # HOLD
))


class Receiver:
    def __init__(self, cfg, off, buf, events, trace=None):
        self._off = off
        self._buf = buf
        self._max = len(buf)
        self._bs_cfg = cfg.block_size
        self._stmin = stmin_from_us(cfg.stmin_us)
        self._wft_max = cfg.wft_max
        self._n_ar_us = cfg.n_ar_ms * 1000
        self._n_br_us = cfg.n_br_ms * 1000
        self._n_cr_us = cfg.n_cr_ms * 1000
        self._confirm = cfg.tx_confirm
        self._ev = events
        self._trace = trace
        self.state = _R_IDLE
        self._t0 = None
        self._dur = 0
        self._active = False    # an N_USData_FF.ind was issued: a reception is running
        self._ovf = False       # the FC to send is OVFLW
        self._hold = False
        self._len = 0
        self._pos = 0
        self._sn = 0
        self._rx_dl = 8
        self._cf_room = 7 - off         # payload bytes of a full CF (from the FF)
        self._cf_start = off + 1
        self._bs_cnt = 0
        self._wft_cnt = 0
        self._fs = FS_CTS       # FS of the FC in flight
        self._pend = 0
        self.overflows = 0      # FC.OVFLW sent (no indication: no FF.ind was issued)

    # -- queries ---------------------------------------------------------
    def busy(self):
        return self.state != _R_IDLE

    def deadline(self):
        t0 = self._t0
        return None if t0 is None else ticks_add(t0, self._dur)

    # -- application -----------------------------------------------------
    def hold(self):
        """Not ready for more data: flow controls become FC.WAIT."""
        self._hold = True

    def ready(self, now):
        self._hold = False
        self._step(now, _I_READY, None, 0, None)

    # -- inputs ----------------------------------------------------------
    def on_sf(self, now, data, pdu):
        if pdu.dl > self._max:
            self._ignore(K_SF, IGN_TOO_LONG)
            return
        self._step(now, _I_SF, data, 0, pdu)

    def on_ff(self, now, data, n, pdu):
        self._step(now, _I_FF, data, n, pdu)

    def on_cf(self, now, data, n, pdu):
        self.cf(now, data, n, pdu.sn)

    def cf(self, now, data, n, sn):
        """A CF with sequence number sn (the channel's fast path: no Pdu)."""
        if self.state != _R_WAIT_CF:    # the only state whose CF action is _A_CF
            self._step(now, _I_CF, data, n, sn)
            return
        pos = self._pos
        c = self._len - pos
        room = self._cf_room
        if c > room:
            c = room
        p = self._cf_start
        if n > self._rx_dl or n - p < c:
            self._ignore(K_CF, IGN_LENGTH)
            return
        if sn != self._sn:
            self._fail(N_WRONG_SN)
            return
        copy_into(self._buf, pos, data, p, c)
        pos += c
        self._pos = pos
        self._sn = (sn + 1) & 0x0F
        if pos >= self._len:
            self.state = _R_IDLE
            self._t0 = None
            self._active = False
            self._ev.push(EV_RX_DONE, N_OK, self._len, 0)
            if self._trace is not None:
                self._trace(T_RESULT, EV_RX_DONE, N_OK)
            return
        bs = self._bs_cfg
        if bs != 0:
            k = self._bs_cnt + 1
            if k >= bs:
                self._bs_cnt = 0
                self._set(_R_FC_DUE, now, self._n_ar_us)
                return
            self._bs_cnt = k
        self._t0 = now
        self._dur = self._n_cr_us     # state stays WAIT_CF

    def on_timer(self, now):
        t0 = self._t0
        if t0 is not None and ticks_diff(now, t0) >= self._dur:
            self._step(now, _I_TIMER, None, 0, None)

    def confirm(self, now, ok):
        if self._pend == 0:
            return
        self._pend -= 1
        if self._pend != 0:
            return
        self._step(now, _I_CONF_OK if ok else _I_CONF_FAIL, None, 0, None)

    def pop(self, out, off, now):
        """Write the due FC at out[off:]; returns its end, 0 = none."""
        if TABLE[self.state * N_INPUTS + _I_POP] != _A_POP:
            return 0
        if self._ovf:
            fs = FS_OVFLW
        elif self._hold:
            if self._wft_cnt >= self._wft_max:
                self._fail(N_WFT_OVRN)
                return 0
            self._wft_cnt += 1
            fs = FS_WAIT
        else:
            self._wft_cnt = 0
            fs = FS_CTS
        self._fs = fs
        self.state = _R_FC_SENT
        if self._confirm:
            self._pend += 1
        else:
            self._fc_sent(now)
        return put_fc(out, off, fs, self._bs_cfg, self._stmin)

    # -- machine ---------------------------------------------------------
    def _step(self, now, inp, data, n, pdu):
        # pdu: the decoded Pdu of a SF / FF, the sequence number of a CF
        a = TABLE[self.state * N_INPUTS + inp]
        if a == _A_IGNORE:
            if inp == _I_CF:
                self._ignore(K_CF, IGN_UNEXPECTED)
            return
        if a == _A_CF:
            self.cf(now, data, n, pdu)
        elif a == _A_CF_EARLY:
            if self._fs != FS_CTS:
                self._ignore(K_CF, IGN_UNEXPECTED)
                return
            self._fc_sent(now)          # the CF proves the FC.CTS was sent
            self.cf(now, data, n, pdu)
        elif a == _A_FC_SENT:
            self._fc_sent(now)
        elif a == _A_SF:
            self._interrupt()
            buf = self._buf
            dl = pdu.dl
            copy_into(buf, 0, data, pdu.start, dl)
            self._ev.push(EV_RX_DONE, N_OK, dl, 0)
            if self._trace is not None:
                self._trace(T_RESULT, EV_RX_DONE, N_OK)
        elif a == _A_FF:
            self._ff(now, data, n, pdu)
        elif a == _A_HOLD_TICK:
            if self._hold and self._wft_cnt >= self._wft_max:
                self._fail(N_WFT_OVRN)
            else:
                self._set(_R_FC_DUE, now, self._n_ar_us)
        elif a == _A_READY:
            self._set(_R_FC_DUE, now, self._n_ar_us)
        elif a == _A_TIMEOUT_A:
            self._pend = 0
            self._fail(N_TIMEOUT_A)
        elif a == _A_TIMEOUT_CR:
            self._fail(N_TIMEOUT_CR)
        elif a == _A_FAIL_L:
            self._fail(N_ERROR)

    def _interrupt(self):
        """A new SF/FF ends the running reception (N_UNEXP_PDU)."""
        if self.state != _R_IDLE:
            self._fail(N_UNEXP_PDU)

    def _ff(self, now, data, n, pdu):
        self._interrupt()
        self._wft_cnt = 0
        if pdu.big or pdu.dl > self._max:
            self._ovf = True
            self._active = False
            self.overflows += 1
            self._set(_R_FC_DUE, now, self._n_ar_us)
            return
        self._ovf = False
        self._active = True
        self._len = pdu.dl
        self._rx_dl = n
        self._cf_room = n - 1 - self._off
        p = pdu.start
        c = n - p
        copy_into(self._buf, 0, data, p, c)
        self._pos = c
        self._sn = 1
        self._bs_cnt = 0
        self._ev.push(EV_RX_FF, N_OK, pdu.dl, 0)
        self._set(_R_FC_DUE, now, self._n_ar_us)

    def _fc_sent(self, now):
        fs = self._fs
        if fs == FS_CTS:
            self._set(_R_WAIT_CF, now, self._n_cr_us)
        elif fs == FS_WAIT:
            self._set(_R_HOLD, now, self._n_br_us)
        else:
            self._ovf = False
            self._set(_R_IDLE, None, 0)

    def _set(self, state, t0, dur):
        self.state = state
        self._t0 = t0
        self._dur = dur

    def _ignore(self, kind, reason):
        if self._trace is not None:
            self._trace(T_IGNORED, kind, reason)

    def _fail(self, result):
        was_active = self._active
        self.state = _R_IDLE
        self._t0 = None
        self._active = False
        self._ovf = False
        if was_active:
            self._ev.push(EV_RX_FAILED, result, self._len, 0)
            if self._trace is not None:
                self._trace(T_RESULT, EV_RX_FAILED, result)

    def abort(self):
        self.state = _R_IDLE
        self._t0 = None
        self._active = False
        self._ovf = False
