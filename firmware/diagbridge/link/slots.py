# Host requests held by the gateway (LinkSession): admission, and one slot
# per request credit (the credits granted to the host in AUTH_OK).
#
#   add(role, kind, ref, src, start, end)
#                                    admit a request: a known kind, allowed for
#                                    the role, a new id and a free credit; its
#                                    id is then outstanding and its body waits
#                                    in a slot.  Else the code and text of the
#                                    ERROR to answer
#   take() / release()               poll() hands the oldest body out (id,
#                                    kind, buf[start:end]) and frees its slot
#                                    at the next poll()
#   finish(ref)                      respond()/error(): the id is answered
#
# An id stays outstanding from add() until finish(), so the host can have at
# most `credits` requests unanswered.  Allocation-free.
#
# Slots are max_frame bytes: a body longer than that came in FRAGMENTs and
# stays where the session reassembled it (`big`, its max_message buffer)
# until the next poll(): one long request at a time (proto.py: a host has
# one fragmented request unanswered at most), so the session never
# reassembles over a body not yet handed out (big_busy).
#
# The role is judged on the body the handler will decode, so add() first
# refuses any body it cannot judge unambiguously (LINK_MALFORMED): a map
# whose top-level keys are not ints 0..255 each present once, or a
# malformed item.  Otherwise a body holding K_DATA twice would be judged on
# one copy and executed with the other (the decoder keeps the last).
from diagbridge.codes import (OK, LINK_NO_CREDIT, LINK_UNEXPECTED, LINK_REFUSED,
                              LINK_UNSUPPORTED, LINK_MALFORMED)
from diagbridge.link import proto as P
from diagbridge.link.msgpack import Reader, T_MAP, T_INT, T_NIL

_T_KIND = b"unknown message kind"
_T_PRIV = b"role too low for this request"
_T_CREDIT = b"no request credit left"
_T_ID = b"request id already in use"
_T_LONG = b"one fragmented request at a time"
_T_BODY = b"body: not a map of unique int keys 0..255"


class RequestSlots:
    def __init__(self, credits, size, big=None):
        self.credits = credits
        self._mf = size                     # a slot: max_frame bytes
        self._buf = bytearray(credits * size)
        self.buf = memoryview(self._buf)
        self._big = big                     # the long body's buffer (the session's)
        self.big_busy = False               # it holds a body not yet released
        self._is_big = bytearray(credits)   # per slot: its body is in _big
        self._bstart = [0] * credits
        self.src = self.buf                 # the buffer of the body take() handed out
        self._len = [0] * credits
        self._id = [0] * credits
        self._kind = [0] * credits
        self._first = 0                     # oldest slot
        self._n = 0                         # slots in use
        self._taken = False                 # the oldest is handed out
        self._out = [-1] * credits          # ids awaiting an answer
        self.id = 0                         # the request take() handed out
        self.kind = 0
        self.start = 0
        self.end = 0
        self.text = b""                     # why add() refused
        self._rd = Reader()
        self._seen = bytearray(32)          # key bitmap for _body_ok()

    def clear(self):
        for j in range(self.credits):
            self._out[j] = -1
        self._n = 0
        self._first = 0
        self._taken = False
        self.big_busy = False

    def add(self, role, kind, ref, src, start, end):
        """Admit request [kind, ref, body] (body: src[start:end]) from a host
        with this role.  OK, or the ERROR code for it with the reason in text:
        LINK_UNSUPPORTED, LINK_REFUSED (role too low), LINK_UNEXPECTED (ref
        already outstanding), LINK_NO_CREDIT (every slot in use)."""
        if not P.is_known_request(kind):
            self.text = _T_KIND
            return LINK_UNSUPPORTED
        if not self._body_ok(src, start, end):
            self.text = _T_BODY
            return LINK_MALFORMED
        sid = -1
        sub = -1
        if kind == P.MSG_REQ_UDS or kind == P.MSG_REQ_KWP:
            r = self._rd
            r.reset(src, start, end)
            if r.head() == T_MAP and r.seek_key(P.K_DATA, r.n) and r.read_bin() > 0:
                sid = r.buf[r.start]
                if r.n > 1:
                    sub = r.buf[r.start + 1]
        if role < P.required_role(kind, sid, sub):
            self.text = _T_PRIV
            return LINK_REFUSED
        ids = self._out
        free = -1
        for j in range(len(ids)):
            if ids[j] == ref:
                self.text = _T_ID
                return LINK_UNEXPECTED
            if ids[j] < 0:
                free = j
        if free < 0:
            self.text = _T_CREDIT
            return LINK_NO_CREDIT
        n = end - start
        long = n > self._mf
        if long and (src is not self._big or self.big_busy):
            self.text = _T_LONG
            return LINK_NO_CREDIT
        ids[free] = ref
        m = self.credits
        i = self._first + self._n
        if i >= m:
            i -= m
        self._is_big[i] = 1 if long else 0
        if long:
            self.big_busy = True
            self._bstart[i] = start
        else:
            base = i * self._mf
            dst = self._buf
            for k in range(n):
                dst[base + k] = src[start + k]
        self._len[i] = n
        self._id[i] = ref
        self._kind[i] = kind
        self._n += 1
        return OK

    def _body_ok(self, src, start, end):
        """True if the body is nil (no keys) or one map whose top-level keys
        are ints 0..255, each once, with every value well formed and nothing
        after the map."""
        r = self._rd
        r.reset(src, start, end)
        t = r.head()
        if t == T_NIL:
            return r.pos == end
        if t != T_MAP:
            return False
        seen = self._seen
        for j in range(len(seen)):
            seen[j] = 0
        for _ in range(r.n):
            if r.head() != T_INT or not 0 <= r.n <= 255:
                return False
            k = r.n
            bit = 1 << (k & 7)
            if seen[k >> 3] & bit:
                return False
            seen[k >> 3] |= bit
            if not r.skip():
                return False
        return r.ok and r.pos == end

    def release(self):
        """Free the slot of the request take() handed out, if any."""
        if self._taken:
            self._taken = False
            if self._is_big[self._first]:
                self.big_busy = False
            self._first += 1
            if self._first == self.credits:
                self._first = 0
            self._n -= 1

    def take(self):
        """Hand out the oldest request: id, kind, buf[start:end]."""
        i = self._first
        self.id = self._id[i]
        self.kind = self._kind[i]
        if self._is_big[i]:
            self.src = self._big
            self.start = self._bstart[i]
        else:
            self.src = self.buf
            self.start = i * self._mf
        self.end = self.start + self._len[i]
        self._taken = True

    def finish(self, ref):
        """ref is answered; False if it was not outstanding."""
        ids = self._out
        for j in range(len(ids)):
            if ids[j] == ref and ref >= 0:
                ids[j] = -1
                return True
        return False
