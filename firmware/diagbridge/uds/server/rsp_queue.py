# RspQueue: the UDS server's outbound queue (uds/server/core.py), allocated once.
#
# A fixed ring of (kind, sid, nrc) items.  At most one item is a full
# response: its bytes stay in the server's rsp buffer (rsp[0:rsp_len]) and
# `rsp_queued` keeps the server busy (0x21) until pop() hands it out.  Every
# other item is a 3-byte negative response `7F SID NRC` (0x21 busy, 0x78
# pending, or a final NRC).  A push onto a full ring is refused (False) and
# the caller counts it; nothing is ever allocated after __init__.
from diagbridge._compat import const
from diagbridge.errors import UsageError

_K_RSP = const(0)           # queued item: the response in rsp
_K_NR = const(1)            # queued item: a 3-byte negative response


class RspQueue:
    def __init__(self, rsp, items):
        self._rsp = rsp
        self._q = bytearray(items * 3)  # ring of (kind, sid, nrc)
        self._head = 0
        self.count = 0
        self.rsp_len = 0
        self.rsp_queued = False

    def clear(self):
        """Power-up / reset: everything queued is gone."""
        self.count = 0
        self.rsp_queued = False

    def push_rsp(self, sid, n):
        """The positive response rsp[0:n]; False if the ring was full."""
        self.rsp_len = n
        ok = self._push(_K_RSP, sid, 0)
        self.rsp_queued = True
        return ok

    def push_nr(self, sid, nrc):
        """`7F sid nrc`; False if the ring was full."""
        return self._push(_K_NR, sid, nrc)

    def pop(self, out):
        """Copy the oldest item into out; its length, or 0 (empty)."""
        if not self.count:
            return 0
        q = self._q
        i = self._head * 3
        if q[i] == _K_RSP:
            n = self.rsp_len
            if len(out) < n:
                raise UsageError("buffer too small")
            rsp = self._rsp
            for j in range(n):
                out[j] = rsp[j]
            self.rsp_queued = False
        else:
            if len(out) < 3:
                raise UsageError("buffer too small")
            out[0] = 0x7F
            out[1] = q[i + 1]
            out[2] = q[i + 2]
            n = 3
        self._head += 1
        if self._head * 3 == len(q):
            self._head = 0
        self.count -= 1
        return n

    def _push(self, kind, sid, nrc):
        q = self._q
        if self.count * 3 == len(q):
            return False
        i = self._head + self.count
        if i * 3 >= len(q):
            i -= len(q) // 3
        i *= 3
        q[i] = kind
        q[i + 1] = sid
        q[i + 2] = nrc
        self.count += 1
        return True
