# CAN-TP events and the fixed ring that carries them with their details.
#
# Each queued event keeps its own result, length and target address type, so
# the attributes a channel exposes after poll() belong to the event just
# polled even when several were queued by one input (e.g. EV_RX_FAILED with
# N_UNEXP_PDU followed by EV_RX_FF of the frame that interrupted).
from diagbridge._compat import const

EV_TX_DONE = const(0x11)    # N_USData.con, N_OK
EV_TX_FAILED = const(0x12)  # N_USData.con, result = N_* code
EV_RX_FF = const(0x13)      # N_USData_FF.ind, length = FF_DL
EV_RX_DONE = const(0x14)    # N_USData.ind, N_OK: payload[0:length]
EV_RX_FAILED = const(0x15)  # N_USData.ind, result = N_* code

# Trace codes: trace(code, a, b), ints only.
T_RX = const(1)         # a frame for this channel was accepted: a = N_PCI kind, b = CAN_DL
T_IGNORED = const(2)    # a frame for this channel was ignored: a = kind (-1 invalid), b = reason
T_TX = const(3)         # a frame was popped: a = N_PCI byte, b = CAN_DL
T_RESULT = const(4)     # a message finished: a = event, b = N_* result

# T_IGNORED reasons
IGN_INVALID = const(0)      # malformed N_PCI (the standard says: ignore)
IGN_UNEXPECTED = const(1)   # not awaited in this state (unexpected N_PDU table)
IGN_FUNCTIONAL = const(2)   # functionally addressed FF / CF / FC
IGN_LENGTH = const(3)       # CF shorter than RX_DL allows, or longer than RX_DL
IGN_TOO_LONG = const(4)     # SF larger than max_pdu


class EventRing:
    """count: events queued (read it to skip a poll() that would return 0)."""

    def __init__(self, size):
        self._kind = bytearray(size)
        self._res = bytearray(size)
        self._ta = bytearray(size)
        self._len = [0] * size
        self._size = size
        self._head = 0
        self.count = 0
        self.dropped = 0

    def push(self, kind, result, length, ta_type):
        if self.count == self._size:
            self.dropped += 1
            return
        i = self._head + self.count
        if i >= self._size:
            i -= self._size
        self._kind[i] = kind
        self._res[i] = result
        self._ta[i] = ta_type
        self._len[i] = length
        self.count += 1

    def pop(self, into):
        """Oldest event kind (0 if none); its details are set on `into`."""
        if self.count == 0:
            return 0
        i = self._head
        into.result = self._res[i]
        into.length = self._len[i]
        into.ta_type = self._ta[i]
        self._head = i + 1 if i + 1 < self._size else 0
        self.count -= 1
        return self._kind[i]

    def __len__(self):
        return self.count

    def clear(self):
        self._head = 0
        self.count = 0
