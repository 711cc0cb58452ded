# The gateway's outbound side of the host link: messages are built in one
# staging buffer, wait in two bounded queues, and leave COBS-framed through
# pop_bytes() (wire format: proto.py).
#
#   control  HELLO_ACK, CHALLENGE, AUTH_OK, RESPONSE, ERROR, HEARTBEAT, BYE:
#            sent first and without credits; a full queue refuses the message
#            (push_ctl() returns False, the session counts it).
#   events   EV_*: only while the link is up, one host credit each, numbered
#            with a uint16 seq as they are sent.  A full queue drops the event,
#            counted per kind in `dropped`; the drops not yet reported go out
#            as one EV_DROPPED {COUNTS} at the place of the first lost event.
#
# Builders (response(), error(), can_rx() ...) write a message into `stage`
# and return its length for push_ctl()/push_event(); a message that cannot
# fit raises UsageError.  Everything here is allocation-free except
# pack_obj() (any msgpack-able body) and, on ports whose hash objects have no
# copy(), the frame MAC's hashing (mac.py).
#
# Frame MAC: a message is signed when it is framed, so the implicit sequence
# numbers follow the order on the wire.  start_mac(key) signs everything
# after the control messages already queued (AUTH_OK, the last unsigned
# one); end_mac() signs what is queued now (the session's final BYE) and
# then stops; clear() stops at once unless told to keep the key for that BYE.
from diagbridge._compat import const
from diagbridge.errors import UsageError
from diagbridge.link import proto as P
from diagbridge.link.auth import WHO_GATEWAY
from diagbridge.link.cobs import encode_frame, frame_size
from diagbridge.link.msgpack import (pack_int, pack_uint16, pack_bin, pack_str, pack_map_header,
                                     pack_obj)
from diagbridge.link.ring import MsgRing

_MAX_CREDITS = const(0xFFFFFF)
_EV_OVERHEAD = const(48)        # header and keys of an event, bin data excluded


class OutQueue:
    def __init__(self, max_frame, requests, event_queue, event_queue_bytes, mac=None):
        self.stage = bytearray(max_frame)   # the message being built
        self._msg = bytearray(max_frame + P.TAG_LEN)    # the message being framed, its tag
        self._msg_mv = memoryview(self._msg)
        self._txf = bytearray(frame_size(max_frame + P.TAG_LEN))
        self._mac = mac                     # FrameMac (mac.py) or None: never signed
        self._mac_skip = 0                  # control messages still to send unsigned
        self._mac_left = -1                 # frames still to sign before the MAC stops (-1: all)
        self._tx_len = 0
        self._tx_pos = 0
        self._ctl = MsgRing((requests + 2) * (max_frame + 2), 4 * requests + 16)
        self._evq = MsgRing(event_queue_bytes, event_queue)
        self.event_credits = 0
        self.dropped = [0] * P.N_EV_KINDS   # events dropped, per kind - MSG_EV_FIRST
        self._unrep = [0] * P.N_EV_KINDS    # ... not yet reported to the host
        self._unrep_total = 0
        self._before_gap = 0                # queued events older than the drops
        self._seq = 0

    def clear(self, keep_mac=False):
        """Forget the host: both queues, credits, unreported drops, seq, and the
        frame MAC unless keep_mac (end_mac() follows).  A frame already half
        sent is finished."""
        if not keep_mac:
            self._mac_off()
        self.event_credits = 0
        self._ctl.clear()
        self._evq.clear()
        for j in range(P.N_EV_KINDS):
            self._unrep[j] = 0
        self._unrep_total = 0
        self._before_gap = 0
        self._seq = 0

    def add_credits(self, c):
        self.event_credits += c
        if self.event_credits > _MAX_CREDITS:
            self.event_credits = _MAX_CREDITS

    def ctl_count(self):
        return self._ctl.count

    # ---- frame MAC ----------------------------------------------------------------
    def start_mac(self, key):
        """Sign every frame after the control messages queued now."""
        if self._mac is None:
            raise UsageError("no frame MAC")
        self._mac.start(key, WHO_GATEWAY)
        self._mac_skip = self._ctl.count
        self._mac_left = -1

    def end_mac(self):
        """Sign the control messages queued now, then stop."""
        m = self._mac
        if m is None or not m.on:
            return
        self._mac_skip = 0
        self._mac_left = self._ctl.count
        if self._mac_left == 0:
            self._mac_off()

    @property
    def signing(self):
        return self._mac is not None and self._mac.on

    def _mac_off(self):
        if self._mac is not None and self._mac.on:
            self._mac.stop()
        self._mac_skip = 0
        self._mac_left = -1

    # ---- queueing -------------------------------------------------------------
    def push_ctl(self, n):
        """Queue stage[0:n] as a control message; False if the queue is full."""
        if self._ctl.fits(n):
            self._ctl.push(self.stage, n)
            return True
        return False

    def push_event(self, kind, n):
        """Queue stage[0:n] as an event of this kind; False if dropped (counted)."""
        if self._evq.fits(n):
            self._evq.push(self.stage, n)
            return True
        k = kind - P.MSG_EV_FIRST
        if self._unrep_total == 0:
            self._before_gap = self._evq.count
        self._unrep[k] += 1
        self._unrep_total += 1
        self.dropped[k] += 1
        return False

    # ---- framing ----------------------------------------------------------------
    def has_output(self, ready):
        return (self._tx_pos < self._tx_len or self._ctl.count > 0
                or (ready and self.event_credits > 0
                    and (self._evq.count > 0 or self._unrep_total > 0)))

    def pop_bytes(self, out, ready):
        """Bytes for the host into out; returns how many (0: nothing to send).
        Events go out only while ready (the link is up)."""
        cap = len(out)
        w = 0
        txf = self._txf
        while w < cap:
            p = self._tx_pos
            if p == self._tx_len:
                if not self._next_frame(ready):
                    break
                p = 0
            k = self._tx_len - p
            if k > cap - w:
                k = cap - w
            for j in range(k):
                out[w + j] = txf[p + j]
            w += k
            self._tx_pos = p + k
        return w

    def _next_frame(self, ready):
        msg = self._msg
        n = self._ctl.pop_into(msg)
        ctl = n >= 0
        if n < 0:
            if not ready or self.event_credits <= 0:
                return False
            if self._unrep_total and self._before_gap == 0:
                n = self._dropped_report(msg)
            else:
                n = self._evq.pop_into(msg)
                if n < 0:
                    return False
                if self._unrep_total:
                    self._before_gap -= 1
            msg[3] = self._seq >> 8
            msg[4] = self._seq & 0xFF
            self._seq = (self._seq + 1) & 0xFFFF
            self.event_credits -= 1
        m = self._mac
        if m is not None and m.on:
            if ctl and self._mac_skip > 0:
                self._mac_skip -= 1
            else:
                n = m.sign(self._msg_mv, n)
                if self._mac_left > 0:
                    self._mac_left -= 1
                    if self._mac_left == 0:
                        self._mac_off()
        self._tx_len = encode_frame(msg, n, self._txf, 0)
        self._tx_pos = 0
        return True

    def _dropped_report(self, s):
        i = begin(s, P.MSG_EV_DROPPED, -1)
        s[i] = 0x81
        s[i + 1] = P.K_COUNTS
        i += 2
        kinds = 0
        for k in range(P.N_EV_KINDS):
            if self._unrep[k]:
                kinds += 1
        i = pack_map_header(s, i, kinds)
        for k in range(P.N_EV_KINDS):
            c = self._unrep[k]
            if c:
                i = pack_int(s, i, P.MSG_EV_FIRST + k)
                i = pack_int(s, i, c)
                self._unrep[k] = 0
        self._unrep_total = 0
        return i

    # ---- building messages in stage: each returns the length --------------------
    def begin(self, kind, ref):
        return begin(self.stage, kind, ref)

    def pack_obj(self, kind, ref, body):
        s = self.stage
        try:
            return pack_obj(s, begin(s, kind, ref), body)
        except IndexError:
            raise UsageError("message larger than max_frame")

    def response(self, ref, result, data, n):
        """RESPONSE {RESULT, DATA: data[0:n]} (no DATA if data is None)."""
        if n + _EV_OVERHEAD > len(self.stage):
            raise UsageError("response larger than max_frame")
        s = self.stage
        i = begin(s, P.MSG_RESPONSE, ref)
        i = pack_map_header(s, i, 1 if data is None else 2)
        s[i] = P.K_RESULT
        i = pack_int(s, i + 1, result)
        if data is not None:
            s[i] = P.K_DATA
            i = pack_bin(s, i + 1, data, n)
        return i

    def error(self, ref, code, text):
        s = self.stage
        i = begin(s, P.MSG_ERROR, ref)
        s[i] = 0x82
        s[i + 1] = P.K_CODE
        i = pack_int(s, i + 2, code)
        s[i] = P.K_TEXT
        return pack_str(s, i + 1, text, len(text))

    def heartbeat(self, now):
        s = self.stage
        i = begin(s, P.MSG_HEARTBEAT, 0)
        s[i] = 0x81
        s[i + 1] = P.K_TS_US
        return pack_int(s, i + 2, now)

    def bye(self, code):
        s = self.stage
        i = begin(s, P.MSG_BYE, 0)
        s[i] = 0x81
        s[i + 1] = P.K_CODE
        return pack_int(s, i + 2, code)

    def can_rx(self, ts_us, bus, can_id, flags, data, n):
        if n > 64:
            raise UsageError("CAN data longer than 64 bytes")
        s = self.stage
        i = begin(s, P.MSG_EV_CAN_RX, -1)
        s[i] = 0x85
        s[i + 1] = P.K_BUS
        i = pack_int(s, i + 2, bus)
        s[i] = P.K_TS_US
        i = pack_int(s, i + 1, ts_us)
        s[i] = P.K_ID
        i = pack_int(s, i + 1, can_id)
        s[i] = P.K_FLAGS
        i = pack_int(s, i + 1, flags)
        s[i] = P.K_DATA
        return pack_bin(s, i + 1, data, n)

    def bytes_event(self, kind, bus, ts_us, data, n):
        if not P.is_event(kind) or n + _EV_OVERHEAD > len(self.stage):
            raise UsageError("bad event kind or too long")
        s = self.stage
        i = begin(s, kind, -1)
        s[i] = 0x83
        s[i + 1] = P.K_BUS
        i = pack_int(s, i + 2, bus)
        s[i] = P.K_TS_US
        i = pack_int(s, i + 1, ts_us)
        s[i] = P.K_DATA
        return pack_bin(s, i + 1, data, n)

    def progress(self, ref, done, total):
        s = self.stage
        i = begin(s, P.MSG_EV_PROGRESS, -1)
        s[i] = 0x83
        s[i + 1] = P.K_REF
        i = pack_int(s, i + 2, ref)
        s[i] = P.K_DONE
        i = pack_int(s, i + 1, done)
        s[i] = P.K_TOTAL
        return pack_int(s, i + 1, total)


def begin(s, kind, ref):
    # [kind, ref, ...]: events (ref < 0) get a uint16 seq patched when sent
    s[0] = 0x93
    s[1] = kind
    if ref < 0:
        return pack_uint16(s, 2, 0)
    return pack_int(s, 2, ref)
