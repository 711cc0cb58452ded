# K-Line link events, line actions and the event ring that carries each
# event's result and peer address.
#
# Details of the event just polled are attributes of the machine: `result`
# (a codes.py code), `peer` (the other node's address).  Message contents
# (`payload`, `data_off`, `data_len`) stay valid until the next message
# completes, which is never sooner than P2min after this one.
from diagbridge._compat import const

# Tester events.
EV_KEY_BYTES = const(1)     # a StartCommunication positive response / 5-baud key bytes: kb1, kb2, peer
EV_RESPONSE = const(2)      # a response: payload[data_off:data_off+data_len], peer
EV_PENDING = const(3)       # 7F SId 78: P2* runs until the next response
EV_DONE = const(4)          # the exchange is over (no more responses in P2): request() allowed
EV_FAILED = const(5)        # the exchange or init failed for good: result
EV_ERROR = const(6)         # a fault the link handles itself (ignored, repeated): result
EV_STOPPED = const(7)       # communication ended: OK (StopCommunication) or K_TIMEOUT_P3MAX
# ECU events.
EV_INIT = const(8)          # initialised (StartCommunication answered, or 5-baud init done): peer
EV_REQUEST = const(9)       # a request for the application: payload[...], peer, functional
EV_SENT = const(10)         # a response went out whole (every echo matched)
EV_TIMING = const(11)       # AccessTimingParameter changed the active timing

# Line actions (pop_line): the adapter drives the K-Line low or releases it.
LINE_NONE = const(0)
LINE_LOW = const(1)
LINE_HIGH = const(2)


class EventRing:
    def __init__(self, size=8):
        self._kind = bytearray(size)
        self._res = bytearray(size)
        self._peer = bytearray(size)
        self._size = size
        self._head = 0
        self.count = 0
        self.dropped = 0
        self.result = 0
        self.peer = 0

    def push(self, kind, result, peer):
        if self.count == self._size:
            self.dropped += 1
            return
        i = self._head + self.count
        if i >= self._size:
            i -= self._size
        self._kind[i] = kind
        self._res[i] = result
        self._peer[i] = peer
        self.count += 1

    def pop(self):
        if self.count == 0:
            return 0
        i = self._head
        self.result = self._res[i]
        self.peer = self._peer[i]
        self._head = i + 1 if i + 1 < self._size else 0
        self.count -= 1
        return self._kind[i]
