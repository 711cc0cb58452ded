# The gateway's reassembly of FRAGMENT messages (wire format: proto.py
# "Frame size and fragments"), in one buffer of max_message bytes made here.
#
#   a = Reassembler(max_message)
#   ev = a.feed(src, body, end, busy)    one FRAGMENT whose body is src[body:end]
#        F_MORE    more pieces to come (or a refused message's rest dropped)
#        F_DONE    the message is a.view[0:a.length]
#        F_FAULT   a.result (LINK_MALFORMED, LINK_OVERSIZE, LINK_TRUNCATED,
#                  LINK_NO_CREDIT) and a.text; a.ref is the request's id when
#                  its head could be read (else -1); nothing is kept
#        F_STRAY   a piece of no message in progress (LINK_TRUNCATED): counted,
#                  not answered (its message's fault was, or it never began)
#        after any feed(): a.cut is True when this piece (OFFSET 0, or a bad one) cut the
#        message before it short: a fault to report (LINK_TRUNCATED, a.cut_ref)
#   a.abort()                            another message came in the middle:
#                                        True if that is a fault to report
#                                        (LINK_TRUNCATED, a.ref)
#   a.reset()                            the session ended
#
# Pieces must come in order from OFFSET 0, each copied in place (no
# allocation).  A message whose TOTAL is beyond max_message, or that starts
# while `busy` (the buffer still holds a request body not handed out), is
# refused at its first piece and its later pieces are dropped quietly.
from diagbridge._compat import const, copy_into
from diagbridge.codes import OK, LINK_MALFORMED, LINK_OVERSIZE, LINK_TRUNCATED, LINK_NO_CREDIT
from diagbridge.link import proto as P
from diagbridge.link.msgpack import Reader, T_MAP, T_BIN

F_MORE = const(0)
F_DONE = const(1)
F_FAULT = const(2)
F_STRAY = const(3)

T_OVERSIZE = b"message longer than the gateway's max_frame / max_message"
T_CUT = b"fragments out of order, missing or interrupted"
T_FRAGMENT = b"bad fragment: not {OFFSET, TOTAL, DATA}, or nested"
T_LONG = b"one fragmented request at a time"


def request_ref(r, src, start, end):
    """The id of the request whose message starts at src[start:end], or -1
    (not a request, or no readable head).  r: a Reader to use."""
    r.reset(src, start, end)
    r.read_array()
    kind = r.read_int()
    ref = r.read_int()
    if not r.ok or ref < 0 or not P.is_request(kind):
        return -1
    return ref


class Reassembler:
    def __init__(self, max_message):
        self._max = max_message
        self.buf = bytearray(max_message)
        self.view = memoryview(self.buf)
        self.length = 0                     # F_DONE: the message's length
        self.result = OK                    # F_FAULT: why
        self.text = b""
        self.ref = -1                       # the request id read from the first piece
        self.cut = False                    # feed(): the message before was cut short
        self.cut_ref = -1                   # ... its request id
        self._total = 0                     # the message in pieces: its length (0: none)
        self._next = 0                      # ... the next offset expected
        self._skip = False                  # ... refused: its pieces are dropped
        self._r = Reader()

    @property
    def active(self):
        return self._total != 0

    def reset(self):
        self._total = 0
        self._skip = False

    def abort(self):
        if self._total == 0:
            return False
        refused = self._skip
        self.reset()
        if refused:
            return False                    # already answered
        self.result = LINK_TRUNCATED
        self.text = T_CUT
        return True

    def _int(self, src, start, end, key):
        r = self._r
        r.reset(src, start, end)
        if r.head() != T_MAP or not r.seek_key(key, r.n):
            return -1
        v = r.read_int()
        return v if r.ok and v >= 0 else -1

    def _fail(self, code, text, skip=False, upto=0):
        # a fault of the message in pieces (or of a lone bad piece)
        self.result = code
        self.text = text
        self._skip = skip
        self._next = upto
        if not skip:
            self._total = 0
        return F_FAULT

    def feed(self, src, body, end, busy):
        off = self._int(src, body, end, P.K_OFFSET)
        total = self._int(src, body, end, P.K_TOTAL)
        r = self._r
        r.reset(src, body, end)
        dlen = -1
        if r.head() == T_MAP and r.seek_key(P.K_DATA, r.n) and r.head() == T_BIN:
            dlen = r.n
        dstart = r.start
        if off < 0 or total <= 0 or dlen <= 0:
            # a bad piece; a message in pieces before it is cut short
            self.cut = self._total != 0 and not self._skip
            self.cut_ref = self.ref
            self.reset()
            self.ref = -1
            return self._fail(LINK_MALFORMED, T_FRAGMENT)
        self.cut = False
        if off == 0:
            if self._total and not self._skip:
                self.cut = True             # the one before was cut short
                self.cut_ref = self.ref
            self.reset()
            self.ref = request_ref(r, src, dstart, dstart + dlen)
            self._total = total
            self._next = 0
            self._skip = False
            if total > self._max:
                return self._fail(LINK_OVERSIZE, T_OVERSIZE, dlen < total, dlen)
            if busy:
                return self._fail(LINK_NO_CREDIT, T_LONG, dlen < total, dlen)
        elif self._total == 0 or off != self._next or total != self._total:
            refused = self._skip
            active = self._total != 0
            self.reset()
            if refused:
                return F_MORE               # the rest of a refused message: answered already
            if not active:
                self.result = LINK_TRUNCATED
                return F_STRAY
            return self._fail(LINK_TRUNCATED, T_CUT)
        if off + dlen > total:
            if self._skip:
                self.reset()
                return F_MORE
            return self._fail(LINK_OVERSIZE, T_OVERSIZE)
        self._next = off + dlen
        if self._skip:
            if self._next == total:
                self.reset()
            return F_MORE
        copy_into(self.buf, off, src, dstart, dlen)
        if self._next < total:
            return F_MORE
        self._total = 0
        r.reset(self.view, 0, total)
        r.read_array()
        if r.read_int() == P.MSG_FRAGMENT and r.ok:
            return self._fail(LINK_MALFORMED, T_FRAGMENT)
        self.length = total
        return F_DONE
