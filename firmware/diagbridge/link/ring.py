# A bounded FIFO of variable-length messages in one preallocated byte ring.
#
# Each message is stored as a 2-byte big-endian length then its bytes,
# wrapping around the end of the buffer.  Bounded twice: by bytes and by
# message count.  The caller asks fits(n) first; push() of a message that does
# not fit is the caller's mistake (UsageError).  Allocation-free.
from diagbridge.errors import ConfigError, UsageError


class MsgRing:
    def __init__(self, size_bytes, max_msgs):
        if not 4 <= size_bytes <= 0x100000:
            raise ConfigError("size_bytes")
        if not 1 <= max_msgs <= 0xFFFF:
            raise ConfigError("max_msgs")
        self._buf = bytearray(size_bytes)
        self._size = size_bytes
        self._max = max_msgs
        self._head = 0          # index of the oldest message's length
        self._used = 0          # bytes in use, length prefixes included
        self.count = 0          # messages queued

    def fits(self, n):
        return self.count < self._max and self._used + n + 2 <= self._size and n <= 0xFFFF

    def push(self, src, n):
        if not self.fits(n):
            raise UsageError("ring full")
        buf = self._buf
        size = self._size
        j = self._head + self._used
        if j >= size:
            j -= size
        buf[j] = n >> 8
        j += 1
        if j == size:
            j = 0
        buf[j] = n & 0xFF
        for k in range(n):
            j += 1
            if j == size:
                j = 0
            buf[j] = src[k]
        self._used += n + 2
        self.count += 1

    def front_len(self):
        """Length of the oldest message, or -1 when empty."""
        if self.count == 0:
            return -1
        j = self._head + 1
        if j == self._size:
            j = 0
        return (self._buf[self._head] << 8) | self._buf[j]

    def pop_into(self, dst):
        """Move the oldest message to dst[0:n]; returns n (-1 when empty)."""
        n = self.front_len()
        if n < 0:
            return -1
        if len(dst) < n:
            raise UsageError("buffer too small")
        buf = self._buf
        size = self._size
        j = self._head + 2
        if j >= size:
            j -= size
        for k in range(n):
            dst[k] = buf[j]
            j += 1
            if j == size:
                j = 0
        self._head = j
        self._used -= n + 2
        self.count -= 1
        if self.count == 0:
            self._head = 0
        return n

    def peek_into(self, dst, d, off, n):
        """dst[d:d+n] = bytes off..off+n of the oldest message (it stays)."""
        buf = self._buf
        size = self._size
        j = self._head + 2 + off
        if j >= size:
            j -= size
        for k in range(n):
            dst[d + k] = buf[j]
            j += 1
            if j == size:
                j = 0

    def drop(self):
        """Forget the oldest message (after peek_into())."""
        n = self.front_len()
        if n < 0:
            return
        j = self._head + 2 + n
        if j >= self._size:
            j -= self._size
        self._head = j
        self._used -= n + 2
        self.count -= 1
        if self.count == 0:
            self._head = 0

    def clear(self):
        self._head = 0
        self._used = 0
        self.count = 0
