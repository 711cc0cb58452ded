# A fixed-size queue of small-int events, allocated once.
#
# Every state machine queues its events here and hands them out through
# poll().  If the application stops polling, the queue does not grow: the
# newest events are counted in `dropped` instead, so nothing is lost silently.
from diagbridge.codes import EV_NONE
from diagbridge.errors import ConfigError


class EventQueue:
    def __init__(self, size=8):
        if not 1 <= size <= 255:
            raise ConfigError("size")
        self._buf = bytearray(size)
        self._size = size
        self._head = 0
        self._count = 0
        self.dropped = 0

    def push(self, ev):
        """Queue an event (1..255); False (and counted) when full."""
        if self._count == self._size:
            self.dropped += 1
            return False
        i = self._head + self._count
        if i >= self._size:
            i -= self._size
        self._buf[i] = ev
        self._count += 1
        return True

    def pop(self):
        """The oldest event, or EV_NONE."""
        if self._count == 0:
            return EV_NONE
        ev = self._buf[self._head]
        self._head += 1
        if self._head == self._size:
            self._head = 0
        self._count -= 1
        return ev

    def __len__(self):
        return self._count

    def clear(self):
        self._head = 0
        self._count = 0
