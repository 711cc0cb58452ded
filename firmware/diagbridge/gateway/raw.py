# Raw CAN transmit slots (REQ_CAN_SEND): frames the hosts asked for, waiting
# for their bus and then for the controller's confirmation.  A fixed table
# of GatewayConfig.raw_tx slots shared by every host slot, allocated once;
# each frame remembers the host slot and request it answers.  Frames go out
# in the order they were asked for, over all hosts.
#
#   r = RawSlots(n)
#   r.free()                      a slot is free
#   r.queue(req, bus, can_id, flags, data, host)  False when all are taken
#   s = r.pop(out)                the oldest queued frame into out: its slot
#                                 (then r.bus[s], r.can_id[s], r.flags[s],
#                                 r.length[s]), -1: none
#   r.sent(s) -> True when s was on the wire; r.done(s): free again
#   r.drop(host)                  host left: its queued frames go, and its
#                                 frame on the wire answers nobody (req -1)
# Allocation-free after construction.
from diagbridge._compat import const

_FREE = const(0)
_QUEUED = const(1)
_SENT = const(2)


class RawSlots:
    def __init__(self, n):
        self.state = bytearray(n)
        self.bus = bytearray(n)
        self.flags = bytearray(n)
        self.length = bytearray(n)
        self.host = bytearray(n)
        self.can_id = [0] * n
        self.req = [0] * n
        self._seq_of = [0] * n
        self._data = bytearray(n * 64)
        self._seq = 0
        self.queued = 0

    def free(self):
        for s in self.state:
            if s == _FREE:
                return True
        return False

    def queue(self, req, bus, can_id, flags, data, host):
        st = self.state
        for s in range(len(st)):
            if st[s] == _FREE:
                st[s] = _QUEUED
                self.bus[s] = bus
                self.can_id[s] = can_id
                self.flags[s] = flags
                self.length[s] = len(data)
                self.req[s] = req
                self.host[s] = host
                self._seq += 1
                self._seq_of[s] = self._seq
                base = s * 64
                for i in range(len(data)):
                    self._data[base + i] = data[i]
                self.queued += 1
                return True
        return False

    def pop(self, out):
        st = self.state
        best = -1
        for s in range(len(st)):
            if st[s] == _QUEUED and (best < 0 or self._seq_of[s] < self._seq_of[best]):
                best = s
        if best < 0:
            return -1
        s = best
        base = s * 64
        for i in range(self.length[s]):
            out[i] = self._data[base + i]
        self.queued -= 1
        st[s] = _SENT
        return s

    def sent(self, s):
        return 0 <= s < len(self.state) and self.state[s] == _SENT

    def done(self, s):
        self.state[s] = _FREE

    def drop(self, host):
        st = self.state
        for s in range(len(st)):
            if self.host[s] != host:
                continue
            if st[s] == _QUEUED:
                st[s] = _FREE
                self.queued -= 1
            self.req[s] = -1
