# One CAN-TP link (ISO 15765-2): addressing + a Sender + a Receiver, and the
# standard's handling of unexpected N_PDUs for half- and full-duplex.
#
#                      received N_PDU (for this channel's address)
#   status             SF            FF (physical)   CF              FC
#   idle               new rx        new rx          ignore          ignore
#   tx segmenting      half: ignore  half: ignore    (rx row if a    to the sender
#                      full: rx row  full: rx row     rx runs) else  if awaited,
#                                                     ignore          else ignore
#   rx in progress     N_UNEXP_PDU,  N_UNEXP_PDU,    to the receiver ignore
#                      new rx        new rx          if awaited, else ignore
#
# A functionally addressed FF, CF or FC is ignored; a functional SF goes to its
# own small buffer and does not disturb a physical reception.  Frames with an
# unknown N_PCI type or a malformed N_PCI are ignored.  Ignored frames are
# never indicated to the application (trace T_IGNORED only).
#
# Verbs (sans-I/O, allocation-free after __init__):
#   feed_frame(now, can_id, data, n, flags=0)  flags: FLAG_EXT | FLAG_FD | FLAG_BRS
#   on_timer(now) · deadline() · poll() · pop_frame(out) · confirm(now, ok, tag)
#   request(now, data, n, ta_type=TA_PHYSICAL) · abort_tx() · hold() · ready(now)
from diagbridge._compat import copy_into
from diagbridge.clock import earliest
from diagbridge.errors import UsageError
from diagbridge.codes import N_OK
from diagbridge.cantp.addr import TA_PHYSICAL, TA_FUNCTIONAL, FLAG_EXT, FLAG_FD, FLAG_BRS
from diagbridge.cantp.pci import (Pdu, K_INVALID, K_SF, K_CF, K_FC, PCI_CF,
                                  PAD_DEFAULT, pad_len)
from diagbridge.cantp.events import (EventRing, EV_RX_DONE, EV_RX_FF, T_RX, T_TX,
                                     T_IGNORED, T_RESULT, IGN_INVALID,
                                     IGN_UNEXPECTED, IGN_FUNCTIONAL)
from diagbridge.cantp.tx import Sender
from diagbridge.cantp.rx import Receiver, R_FC_DUE

TAG_TX = 0      # tx_tag of frames from the sender (SF, FF, CF)
TAG_RX = 1      # tx_tag of frames from the receiver (FC)

_FUNC_SF_MAX = 62   # largest SF payload (CAN FD, normal addressing)


class Channel:
    """One logical link: cfg (TpConfig), addr (Address), trace(code, a, b) or None.

    After poll(): result (N_* code), length (bytes of the message, or FF_DL for
    EV_RX_FF), ta_type (TA_PHYSICAL / TA_FUNCTIONAL) and, for EV_RX_DONE,
    payload (a memoryview; payload[0:length] is the message).  The payload is
    valid until the next poll() or feed_frame().
    After pop_frame(): tx_id, tx_flags and tx_tag of the frame; give tx_tag
    back with confirm() (unless cfg.tx_confirm is False).
    events.count > 0 tells that poll() has something (a runner may read it
    instead of calling poll() after every frame)."""

    def __init__(self, cfg, addr, trace=None):
        self.cfg = cfg
        self.addr = addr
        off = addr.prefix_len
        self._off = off
        self._full = cfg.full_duplex
        self._padding = cfg.padding
        self._padbuf = bytearray(64)        # the pad bytes, copied after a short frame
        for i in range(64):
            self._padbuf[i] = PAD_DEFAULT if cfg.padding is None else cfg.padding
        self._tx_dl = cfg.tx_dl
        # physical receive address, for feed_frame's fast path (else addr.match)
        self._rx_id = addr.rx_id
        self._rx_mask = addr.rx_mask
        self._rx_ext = FLAG_EXT if addr.ext else 0
        self._rx_prefix = addr.rx_prefix
        self._tx_id = addr.tx_id
        self._tx_prefix = addr.tx_prefix
        self._trace = trace
        self._now = 0
        self._ev = EventRing(cfg.events)
        self.events = self._ev          # events.count > 0: poll() has something
        self._pdu = Pdu()
        self._buf = bytearray(cfg.max_pdu)
        self._view = memoryview(self._buf)
        if addr.frx_id >= 0:
            self._fbuf = bytearray(_FUNC_SF_MAX)
            self._fview = memoryview(self._fbuf)
        else:
            self._fbuf = None
            self._fview = None
        self._tx = Sender(cfg, off, self._ev, trace)
        self._rx = Receiver(cfg, off, self._buf, self._ev, trace)
        flags = FLAG_EXT if addr.ext else 0
        if cfg.fd:
            flags |= FLAG_FD
            if cfg.brs:
                flags |= FLAG_BRS
        self._flags = flags
        # event details (valid until the next poll)
        self.result = N_OK
        self.length = 0
        self.ta_type = TA_PHYSICAL
        self.payload = self._view
        # frame details (valid until the next pop_frame)
        self.tx_id = addr.tx_id
        self.tx_flags = flags
        self.tx_tag = TAG_TX

    # -- queries ---------------------------------------------------------
    def tx_busy(self):
        return self._tx.busy()

    def rx_busy(self):
        return self._rx.busy()

    def sf_max(self):
        """Largest message sent as a single frame (the limit for functional requests)."""
        return self._tx.sf_max()

    @property
    def dropped(self):
        """Events lost because the application did not poll."""
        return self._ev.dropped

    @property
    def overflows(self):
        """First frames answered with FC.OVFLW (FF_DL > max_pdu)."""
        return self._rx.overflows

    # -- application -----------------------------------------------------
    def request(self, now, data, n, ta_type=TA_PHYSICAL):
        """N_USData.request: send data[0:n]; EV_TX_DONE or EV_TX_FAILED follows.

        data is read in place until then: do not change it."""
        self._now = now
        if not isinstance(n, int) or n < 1 or n > len(data) or n > 0x3FFFFFFF:
            raise UsageError("n")
        if ta_type == TA_FUNCTIONAL:
            if self.addr.ftx_id < 0:
                raise UsageError("no functional address configured")
            if n > self._tx.sf_max():
                raise UsageError("functional requests are single frames only")
        elif ta_type != TA_PHYSICAL:
            raise UsageError("ta_type")
        if (not self._full and self._rx.busy() and n > self._tx.sf_max()):
            raise UsageError("half duplex: reception in progress")
        self._tx.request(now, data, n, ta_type)

    def abort_tx(self):
        """Abandon the transmission in progress (the application gave up on
        it): the sender goes idle at once, pops no further frame and queues no
        event; a reception is not touched.  An FC arriving for it later is
        ignored as unexpected.  Returns True if a transmission was dropped,
        False if none was running (its EV_TX_* may then be queued already)."""
        return self._tx.abort_tx(self._now)

    def hold(self):
        """The application cannot take more data yet: answer with FC.WAIT."""
        self._rx.hold()

    def ready(self, now):
        """End hold(): the next flow control is FC.CTS."""
        self._now = now
        self._rx.ready(now)

    def reset(self):
        """Abandon both directions without events (e.g. the bus went off)."""
        self._tx.abort()
        self._rx.abort()
        self._ev.clear()

    # -- inputs ----------------------------------------------------------
    def feed_frame(self, now, can_id, data, n, flags=0):
        """One received CAN frame; frames for other addresses are skipped."""
        off = self._off
        if ((can_id & self._rx_mask) == self._rx_id and (flags & FLAG_EXT) == self._rx_ext
                and (off == 0 or (n > 0 and data[0] == self._rx_prefix))):
            # physical: the same answer as addr.match, without the call
            self._now = now
            if off < n <= 64:
                b = data[off]
                if (b & 0xF0) == PCI_CF:    # the common case: no Pdu decode
                    if self._trace is not None:
                        self._trace(T_RX, K_CF, n)
                    self._rx.cf(now, data, n, b & 0x0F)
                    return True
            ta = TA_PHYSICAL
        else:
            ta = self.addr.match(can_id, flags, data, n)
            if ta < 0:
                return False
            self._now = now
        pdu = self._pdu
        k = pdu.decode(data, n, off)
        trace = self._trace
        if k == K_INVALID:
            if trace is not None:
                trace(T_IGNORED, -1, IGN_INVALID)
            return True
        if trace is not None:
            trace(T_RX, k, n)
        if ta == TA_FUNCTIONAL and k != K_SF:
            if trace is not None:
                trace(T_IGNORED, k, IGN_FUNCTIONAL)
            return True
        if k == K_FC:
            if not self._tx.segmenting():
                if trace is not None:
                    trace(T_IGNORED, k, IGN_UNEXPECTED)
                return True
            self._tx.on_fc(now, pdu.fs, pdu.bs, pdu.stmin)
        elif k == K_CF:
            self._rx.cf(now, data, n, pdu.sn)
        elif not self._full and self._tx.segmenting():
            # half duplex: a SF/FF while our segmented transmission runs
            if trace is not None:
                trace(T_IGNORED, k, IGN_UNEXPECTED)
        elif ta == TA_FUNCTIONAL:
            self._functional_sf(data, pdu)
        elif k == K_SF:
            self._rx.on_sf(now, data, pdu)
        else:
            self._rx.on_ff(now, data, n, pdu)
        return True

    def _functional_sf(self, data, pdu):
        fbuf = self._fbuf
        p = pdu.start
        dl = pdu.dl
        for i in range(dl):
            fbuf[i] = data[p + i]
        self._ev.push(EV_RX_DONE, N_OK, dl, TA_FUNCTIONAL)
        if self._trace is not None:
            self._trace(T_RESULT, EV_RX_DONE, N_OK)

    def on_timer(self, now):
        self._now = now
        self._tx.on_timer(now)
        self._rx.on_timer(now)

    def confirm(self, now, ok, tag):
        """The CAN controller sent (ok True) or gave up on (False) a popped frame."""
        self._now = now
        if tag == TAG_RX:
            self._rx.confirm(now, ok)
        else:
            self._tx.confirm(now, ok)

    # -- outputs ---------------------------------------------------------
    def poll(self):
        if self._ev.count == 0:
            return 0
        ev = self._ev.pop(self)
        if ev == EV_RX_DONE or ev == EV_RX_FF:
            self.payload = self._fview if self.ta_type == TA_FUNCTIONAL else self._view
        return ev

    def pop_frame(self, out):
        """Next frame into out (>= 64 bytes); returns its CAN data length, 0 = none.

        A flow control goes first: it paces the peer."""
        off = self._off
        end = 0
        if self._rx.state == R_FC_DUE:
            end = self._rx.pop(out, off, self._now)
        if end:
            tag = TAG_RX
            ta = TA_PHYSICAL
        else:
            tx = self._tx
            end = tx.pop(out, off, self._now)
            if not end:
                return 0
            tag = TAG_TX
            ta = tx.ta_type
        if ta == TA_FUNCTIONAL:
            addr = self.addr
            if off:
                out[0] = addr.ftx_prefix
            self.tx_id = addr.ftx_id
        else:
            if off:
                out[0] = self._tx_prefix
            self.tx_id = self._tx_id
        if end == self._tx_dl:
            n = end                     # a full frame (every CF but the last)
        else:
            n = pad_len(end, self._padding)
            copy_into(out, end, self._padbuf, 0, n - end)
        self.tx_tag = tag               # (tx_flags never changes)
        if self._trace is not None:
            self._trace(T_TX, out[off], n)
        return n

    def deadline(self):
        return earliest(self._tx.deadline(), self._rx.deadline())
