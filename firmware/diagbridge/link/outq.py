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
# Fragments (proto.py "Frame size and fragments"): a message longer than
# the frame size agreed at HELLO (set_sizes()) leaves as consecutive
# FRAGMENT frames built in a frame-sized buffer, nothing in between; each
# fragment is a frame of its own for the MAC.  clear() abandons the rest of
# a fragmented message (the host sees it cut short: LINK_TRUNCATED there).
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
                                     pack_obj, pack_bin_header)
from diagbridge.link.ring import MsgRing

_MAX_CREDITS = const(0xFFFFFF)
_EV_OVERHEAD = const(48)        # header and keys of an event, bin data excluded


class OutQueue:
    def __init__(self, max_frame, requests, event_queue, event_queue_bytes, mac=None,
                 max_message=0):
        mm = max_message if max_message > max_frame else max_frame
        self._max_frame = max_frame
        self._max_message = mm
        self.frame = max_frame              # frame size toward the host (set_sizes)
        self.message = mm                   # the longest message the host takes
        self.stage = bytearray(mm)          # the message being built
        self._frag = bytearray(max_frame + P.TAG_LEN)   # the frame being sent: message, tag
        self._frag_mv = memoryview(self._frag)
        # A message longer than a frame stays at the front of its ring while
        # its fragments are built from it (no second max_message buffer).
        self._f_ring = None                 # that ring
        self._f_total = 0                   # ... the message's length (0: none)
        self._f_off = 0                     # ... what has gone
        self._f_sign = False                # ... its fragments are signed
        self._f_seq = -1                    # ... an event's seq (patched into its bytes 3-4)
        self._txf = bytearray(frame_size(max_frame + P.TAG_LEN))
        self._mac = mac                     # FrameMac (mac.py) or None: never signed
        self._mac_skip = 0                  # control messages still to send unsigned
        self._mac_left = -1                 # frames still to sign before the MAC stops (-1: all)
        self._tx_len = 0
        self._tx_pos = 0
        self._ctl = MsgRing(requests * (mm + 2) + 2 * (max_frame + 2), 4 * requests + 16)
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
        self._f_total = 0
        self._f_ring = None
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

    def set_sizes(self, frame, message):
        """The frame size and longest message agreed with the host (HELLO),
        each at most this queue's own."""
        self.frame = frame if frame < self._max_frame else self._max_frame
        self.message = message if message < self._max_message else self._max_message

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
        if n <= self.message and self._evq.fits(n):
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
        return (self._tx_pos < self._tx_len or self._ctl.count > 0 or self._f_total > 0
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
        if self._f_total:
            self._fragment()
            return True
        f = self._frag
        ring = self._ctl
        n = ring.front_len()
        ctl = n >= 0
        seq = -1
        if n < 0:
            if not ready or self.event_credits <= 0:
                return False
            if self._unrep_total and self._before_gap == 0:
                ring = None
                n = self._dropped_report(f, self.frame)
            else:
                ring = self._evq
                n = ring.front_len()
                if n < 0:
                    return False
                if self._unrep_total:
                    self._before_gap -= 1
            seq = self._seq
            self._seq = (seq + 1) & 0xFFFF
            self.event_credits -= 1
        m = self._mac
        sign = False
        if m is not None and m.on:
            if ctl and self._mac_skip > 0:
                self._mac_skip -= 1
            else:
                sign = True
        if n > self.frame:                  # (never the drop report: made to fit)
            self._f_ring = ring
            self._f_total = n
            self._f_off = 0
            self._f_sign = sign
            self._f_seq = seq
            self._fragment()
            return True
        if ring is not None:
            ring.pop_into(f)
        if seq >= 0:
            f[3] = seq >> 8
            f[4] = seq & 0xFF
        if sign:
            n = m.sign(self._frag_mv, n)
            self._signed()
        self._tx_len = encode_frame(f, n, self._txf, 0)
        self._tx_pos = 0
        return True

    def _signed(self):
        # one more message signed: the last before end_mac() stops the MAC?
        if self._mac_left > 0:
            self._mac_left -= 1
            if self._mac_left == 0:
                self._mac_off()

    def _fragment(self):
        # the next FRAGMENT of the front message of _f_ring into _txf
        f = self._frag
        off = self._f_off
        total = self._f_total
        f[0] = 0x93
        f[1] = P.MSG_FRAGMENT
        f[2] = 0
        f[3] = 0x83
        f[4] = P.K_OFFSET
        i = pack_int(f, 5, off)
        f[i] = P.K_TOTAL
        i = pack_int(f, i + 1, total)
        f[i] = P.K_DATA
        i += 1
        c = total - off
        room = self.frame - i - 3           # a bin16 header at most (frame <= 65535)
        if c > room:
            c = room
        i = pack_bin_header(f, i, c)
        ring = self._f_ring
        ring.peek_into(f, i, off, c)
        seq = self._f_seq
        if off == 0 and seq >= 0:           # the first piece holds the seq (c > 5)
            f[i + 3] = seq >> 8
            f[i + 4] = seq & 0xFF
        n = i + c
        self._f_off = off + c
        if self._f_sign:
            n = self._mac.sign(self._frag_mv, n)
        if self._f_off >= total:
            ring.drop()
            self._f_total = 0
            self._f_ring = None
            if self._f_sign:
                self._signed()
        self._tx_len = encode_frame(f, n, self._txf, 0)
        self._tx_pos = 0

    def _dropped_report(self, s, cap):
        # EV_DROPPED {COUNTS} within cap bytes: the kinds that do not fit (a
        # tiny frame size) go in the next report, right behind this one
        i = begin(s, P.MSG_EV_DROPPED, -1)
        s[i] = 0x81
        s[i + 1] = P.K_COUNTS
        i += 2
        fit = (cap - i - 3) // 6            # map16 header, kind + uint32 count each
        kinds = 0
        for k in range(P.N_EV_KINDS):
            if self._unrep[k] and kinds < fit:
                kinds += 1
        i = pack_map_header(s, i, kinds)
        for k in range(P.N_EV_KINDS):
            c = self._unrep[k]
            if c and kinds > 0:
                kinds -= 1
                i = pack_int(s, i, P.MSG_EV_FIRST + k)
                i = pack_int(s, i, c)
                self._unrep[k] = 0
                self._unrep_total -= c
        return i

    # ---- building messages in stage: each returns the length --------------------
    def begin(self, kind, ref):
        return begin(self.stage, kind, ref)

    def pack_obj(self, kind, ref, body):
        s = self.stage
        try:
            return pack_obj(s, begin(s, kind, ref), body)
        except IndexError:
            raise UsageError("message larger than max_message")

    def response(self, ref, result, data, n):
        """RESPONSE {RESULT, DATA: data[0:n]} (no DATA if data is None)."""
        if n + _EV_OVERHEAD > len(self.stage):
            raise UsageError("response larger than max_message")
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
