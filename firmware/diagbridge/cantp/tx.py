# CAN-TP sender: one N_USData.request at a time, SF or FF + CFs.
#
# Sans-I/O.  The next frame is written straight into the caller's buffer when
# the channel pops it (no frame buffer here, no copy of the message: the
# caller's data object is read in place until EV_TX_DONE / EV_TX_FAILED).
#
# Timers (one slot: started at tick `_t0`, runs `_dur` us; _t0 None = off; a
# restart is two stores, the deadline is added up only when asked for):
#   DUE/SENT: N_As   WAIT_FC: N_Bs   WAIT_ST: STmin
#
# ABORT (abort_tx: the application gave up, e.g. its own timeout ran out)
# takes any busy state to IDLE without an event: the application asked for it
# and knows; an event would only have to be told apart from the next
# request's.  A confirmation still owed for a popped frame is kept, so it is
# not mistaken for one of the next transfer's frames.
from diagbridge._compat import const, copy_into
from diagbridge.clock import ticks_add, ticks_diff
from diagbridge.codes import (N_OK, N_TIMEOUT_A, N_TIMEOUT_BS, N_INVALID_FS,
                              N_WFT_OVRN, N_BUFFER_OVFLW, N_ERROR)
from diagbridge.errors import UsageError
from diagbridge.cantp.pci import (PCI_SF, PCI_FF, PCI_CF, FS_CTS, FS_WAIT, FS_OVFLW,
                                  K_SF, K_FF, K_CF, FF_DL_12BIT_MAX, sf_capacity,
                                  stmin_to_us)
from diagbridge.cantp.events import EV_TX_DONE, EV_TX_FAILED, T_RESULT

# States
_S_IDLE = const(0)
_S_DUE = const(1)       # next frame ready for pop_frame (N_As runs)
_S_SENT = const(2)      # frame popped, awaiting its tx confirmation (N_As runs)
_S_WAIT_FC = const(3)   # awaiting a flow control (N_Bs runs)
_S_WAIT_ST = const(4)   # STmin gap before the next CF
N_STATES = const(5)

# Inputs
_I_REQUEST = const(0)
_I_POP = const(1)
_I_CONF_OK = const(2)
_I_CONF_FAIL = const(3)
_I_FC_CTS = const(4)
_I_FC_WAIT = const(5)
_I_FC_OVFLW = const(6)
_I_FC_BAD = const(7)    # reserved flow status
_I_TIMER = const(8)
_I_ABORT = const(9)     # the application abandons the transfer
N_INPUTS = const(10)

# Actions (next states in brackets)
_A_IGNORE = const(0)    # [same]  not awaited: ignored, no indication
_A_BUSY = const(1)      # [same]  caller's mistake: UsageError
_A_START = const(2)     # [DUE]
_A_POP = const(3)       # [SENT]  (or the next step at once with tx_confirm=False)
_A_SENT = const(4)      # [IDLE done | WAIT_FC | WAIT_ST | DUE]
_A_FAIL_L = const(5)    # [IDLE]  N_ERROR: the CAN controller did not send the frame
_A_CTS = const(6)       # [DUE]
_A_WAIT = const(7)      # [WAIT_FC] N_Bs restarted | [IDLE] N_WFT_OVRN
_A_OVFLW = const(8)     # [IDLE]  N_BUFFER_OVFLW
_A_BAD_FS = const(9)    # [IDLE]  N_INVALID_FS
_A_TIMEOUT_A = const(10)   # [IDLE] N_TIMEOUT_A
_A_TIMEOUT_BS = const(11)  # [IDLE] N_TIMEOUT_BS
_A_ST_DUE = const(12)   # [DUE]
_A_EARLY_FC = const(13)  # FC before the FF / block-end CF is confirmed: as CONF_OK,
#                          then the FC (the FC proves the frame was sent); else ignored
_A_ABORT = const(14)    # [IDLE]  no event, no result (abort_tx)

# Transition table: row = state, column = input.
TABLE = bytes((
    # REQUEST   POP     CONF_OK  CONF_FAIL  FC_CTS  FC_WAIT  FC_OVFLW  FC_BAD  TIMER  ABORT
    _A_START, _A_IGNORE, _A_IGNORE, _A_IGNORE, _A_IGNORE, _A_IGNORE, _A_IGNORE, _A_IGNORE,
    _A_IGNORE, _A_IGNORE,  # IDLE
    _A_BUSY, _A_POP, _A_IGNORE, _A_IGNORE, _A_IGNORE, _A_IGNORE, _A_IGNORE, _A_IGNORE,
    _A_TIMEOUT_A, _A_ABORT,  # DUE
    _A_BUSY, _A_IGNORE, _A_SENT, _A_FAIL_L, _A_EARLY_FC, _A_EARLY_FC, _A_EARLY_FC, _A_EARLY_FC,
    _A_TIMEOUT_A, _A_ABORT,  # SENT
    _A_BUSY, _A_IGNORE, _A_IGNORE, _A_IGNORE, _A_CTS, _A_WAIT, _A_OVFLW, _A_BAD_FS,
    _A_TIMEOUT_BS, _A_ABORT,  # WAIT_FC
    _A_BUSY, _A_IGNORE, _A_IGNORE, _A_IGNORE, _A_IGNORE, _A_IGNORE, _A_IGNORE, _A_IGNORE,
    _A_ST_DUE, _A_ABORT,  # WAIT_ST
))


class Sender:
    def __init__(self, cfg, off, events, trace=None):
        self._off = off                     # addressing prefix length (PCI offset)
        self._tx_dl = cfg.tx_dl
        self._cf_room = cfg.tx_dl - off - 1     # payload bytes of a full CF
        self._sf_max = sf_capacity(off, cfg.tx_dl)
        self._n_as_us = cfg.n_as_ms * 1000
        self._n_bs_us = cfg.n_bs_ms * 1000
        self._st_override = cfg.tx_stmin_override_us
        self._wft_max = cfg.tx_wft_max
        self._confirm = cfg.tx_confirm
        self._ev = events
        self._trace = trace
        self.state = _S_IDLE
        self._t0 = None
        self._dur = 0
        self._data = None
        self._len = 0
        self._pos = 0
        self._kind = K_SF       # kind of the frame due / in flight
        self._sn = 0
        self._bs = 0            # from the last FC.CTS
        self._bs_cnt = 0
        self._st_us = 0
        self._wft_cnt = 0
        self._pend = 0          # popped frames whose confirmation is still to come
        self.ta_type = 0
        self.fc_bs = 0          # last FC received (diagnostics)
        self.fc_stmin = 0

    # -- queries ---------------------------------------------------------
    def busy(self):
        return self.state != _S_IDLE

    def segmenting(self):
        """A segmented transmission (FF + CFs) is in progress."""
        return self.state != _S_IDLE and self._kind != K_SF

    def sf_max(self):
        return self._sf_max

    def deadline(self):
        t0 = self._t0
        return None if t0 is None else ticks_add(t0, self._dur)

    # -- inputs ----------------------------------------------------------
    def request(self, now, data, n, ta_type):
        if TABLE[self.state * N_INPUTS + _I_REQUEST] != _A_START:
            raise UsageError("transmission in progress")
        self._data = data
        self._len = n
        self._pos = 0
        self._sn = 1
        self._bs_cnt = 0
        self._wft_cnt = 0
        self.ta_type = ta_type
        self._kind = K_SF if n <= self._sf_max else K_FF
        self._set(_S_DUE, now, self._n_as_us)

    def on_timer(self, now):
        t0 = self._t0
        if t0 is not None and ticks_diff(now, t0) >= self._dur:
            self._step(now, _I_TIMER)

    def abort_tx(self, now):
        """The application abandons the transfer: IDLE, no event.  True if
        one was running."""
        busy = self.state != _S_IDLE
        self._step(now, _I_ABORT)
        return busy

    def on_fc(self, now, fs, bs, stmin):
        self.fc_bs = bs
        self.fc_stmin = stmin
        if fs == FS_CTS:
            self._step(now, _I_FC_CTS)
        elif fs == FS_WAIT:
            self._step(now, _I_FC_WAIT)
        elif fs == FS_OVFLW:
            self._step(now, _I_FC_OVFLW)
        else:
            self._step(now, _I_FC_BAD)

    def confirm(self, now, ok):
        if self._pend == 0:
            return                      # nothing in flight: stale
        p = self._pend - 1
        self._pend = p
        if p != 0:
            return                      # confirms an older frame
        if (ok and self.state == _S_SENT and self._kind == K_CF and self._st_us == 0
                and self._pos < self._len and (self._bs == 0 or self._bs_cnt != self._bs)):
            # fast path of _step(CONF_OK) -> _sent(): a CF of a running block,
            # no STmin: the next CF is due at once
            self.state = _S_DUE
            self._t0 = now
            self._dur = self._n_as_us
            return
        self._step(now, _I_CONF_OK if ok else _I_CONF_FAIL)

    def pop(self, out, off, now):
        """Write the due frame's N_PCI + data at out[off:]; returns its end, 0 = none."""
        if self.state != _S_DUE:        # the only state whose POP action is _A_POP
            return 0
        data = self._data
        k = self._kind
        if k == K_CF:                   # the common case first
            sn = self._sn
            out[off] = PCI_CF | sn
            self._sn = (sn + 1) & 0x0F
            pos = self._pos
            c = self._len - pos
            room = self._cf_room
            if c > room:
                c = room
            p = off + 1
            copy_into(out, p, data, pos, c)
            self._pos = pos + c
            self._bs_cnt += 1
            end = p + c
        elif k == K_SF:
            n = self._len
            if n <= 7 - off:
                out[off] = PCI_SF | n
                p = off + 1
            else:
                out[off] = PCI_SF
                out[off + 1] = n
                p = off + 2
            copy_into(out, p, data, 0, n)
            end = p + n
            self._pos = n
        else:
            n = self._len
            if n <= FF_DL_12BIT_MAX:
                out[off] = PCI_FF | (n >> 8)
                out[off + 1] = n & 0xFF
                p = off + 2
            else:
                out[off] = PCI_FF
                out[off + 1] = 0
                out[off + 2] = (n >> 24) & 0xFF
                out[off + 3] = (n >> 16) & 0xFF
                out[off + 4] = (n >> 8) & 0xFF
                out[off + 5] = n & 0xFF
                p = off + 6
            end = self._tx_dl
            copy_into(out, p, data, 0, end - p)
            self._pos = end - p
        self.state = _S_SENT
        if self._confirm:
            self._pend += 1
        else:
            self._sent(now)
        return end

    # -- machine ---------------------------------------------------------
    def _step(self, now, inp):
        a = TABLE[self.state * N_INPUTS + inp]
        if a == _A_IGNORE:
            return
        if a == _A_SENT:
            self._sent(now)
        elif a == _A_EARLY_FC:
            if self._needs_fc():
                self._sent(now)
                self._step(now, inp)
        elif a == _A_CTS:
            self._bs = self.fc_bs
            st = self._st_override
            self._st_us = stmin_to_us(self.fc_stmin) if st is None else st
            self._bs_cnt = 0
            self._wft_cnt = 0
            self._kind = K_CF
            self._set(_S_DUE, now, self._n_as_us)
        elif a == _A_WAIT:
            self._wft_cnt += 1
            if self._wft_max is not None and self._wft_cnt > self._wft_max:
                self._finish(N_WFT_OVRN)
            else:
                self._t0 = now
                self._dur = self._n_bs_us
        elif a == _A_ST_DUE:
            self._set(_S_DUE, now, self._n_as_us)
        elif a == _A_TIMEOUT_A:
            self._pend = 0              # the frame is lost; forget its confirmation
            self._finish(N_TIMEOUT_A)
        elif a == _A_TIMEOUT_BS:
            self._finish(N_TIMEOUT_BS)
        elif a == _A_OVFLW:
            self._finish(N_BUFFER_OVFLW)
        elif a == _A_BAD_FS:
            self._finish(N_INVALID_FS)
        elif a == _A_FAIL_L:
            self._finish(N_ERROR)
        elif a == _A_ABORT:
            self.abort()                # (_pend kept: see the top of the module)

    def _needs_fc(self):
        """The frame in flight is followed by a flow control."""
        if self._kind == K_FF:
            return True
        return (self._kind == K_CF and self._pos < self._len
                and self._bs != 0 and self._bs_cnt == self._bs)

    def _sent(self, now):
        k = self._kind
        if k == K_SF or self._pos >= self._len:
            self._finish(N_OK)
        elif self._needs_fc():
            self._kind = K_CF
            self._bs_cnt = 0
            self._wft_cnt = 0
            self._set(_S_WAIT_FC, now, self._n_bs_us)
        elif self._st_us == 0:
            self._set(_S_DUE, now, self._n_as_us)
        else:
            self._set(_S_WAIT_ST, now, self._st_us)

    def _set(self, state, t0, dur):
        self.state = state
        self._t0 = t0
        self._dur = dur

    def _finish(self, result):
        self.state = _S_IDLE
        self._t0 = None
        self._data = None
        ev = EV_TX_DONE if result == N_OK else EV_TX_FAILED
        self._ev.push(ev, result, self._len, self.ta_type)
        if self._trace is not None:
            self._trace(T_RESULT, ev, result)

    def abort(self):
        """Drop the transmission without an event (channel reset, abort_tx)."""
        self.state = _S_IDLE
        self._t0 = None
        self._data = None
