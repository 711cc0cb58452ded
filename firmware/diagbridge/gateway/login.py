# Failed host-link logins on a link with one peer (a board's UART or USB
# serial, the simulated vehicle's link): exponential back-off, portable.
#
# The link session (link/session.py) judges a login and counts the failures
# (STATUS "auth_failures"); this machine makes the next login wait.  After
# the n-th failed login in a row, nothing from the host is judged before
# min(login_backoff_max_ms, login_backoff_ms * 2**n) has passed (200 ms,
# 400 ms, ... 30 s with the defaults): bytes arriving meanwhile are not given
# to the session, and each chunk that ends a frame is answered with one
# ERROR {CODE: LINK_UNEXPECTED, TEXT: "too many failed logins ..."} (the
# refusal a TCP peer in back-off gets from the CPython daemon), counted in
# `refused`.  login_forget_ms after a back-off ended without a new failure,
# the count starts again from zero (a timer: deadline() / on_timer()).
# login_backoff_ms = 0: no back-off (the CPython daemon, whose TCP port
# backs off per peer address and whose serial port per line, in
# cpy/gateway/backoff.py: one peer's failures must not lock the others out).
#
#   b = LoginBackoff(base_ms, max_ms, forget_ms)
#   b.failed(now)            a login failed: its delay starts
#   b.waiting(now)           True while logins wait
#   b.refuse(data, n)        host bytes during the wait: dropped, answered
#   n = b.pop(out)           the refusal frame into out (0: none due)
#   b.on_timer(now) · b.deadline()
#
# Allocation-free after construction: the refusal frame is encoded once.
from diagbridge.clock import ticks_add, ticks_diff, due
from diagbridge.codes import LINK_UNEXPECTED
from diagbridge.link import proto as P
from diagbridge.link.cobs import encode_frame, frame_size
from diagbridge.link.msgpack import packb

_TEXT = "too many failed logins on this link: the next login waits (at most %d s)"


class LoginBackoff:
    """Counters: failures (failed logins seen), refused (chunks of host
    bytes refused during a back-off); in_a_row: failures that still count."""

    def __init__(self, base_ms, max_ms, forget_ms):
        self._base_us = base_ms * 1000
        self._max_us = max_ms * 1000
        self._forget_us = forget_ms * 1000
        self.in_a_row = 0
        self.failures = 0
        self.refused = 0
        self._until = None
        self._forget_at = None
        self._pending = False
        msg = packb([P.MSG_ERROR, 0, {P.K_CODE: LINK_UNEXPECTED,
                                      P.K_TEXT: _TEXT % ((max_ms + 999) // 1000)}])
        self._frame = bytearray(frame_size(len(msg)))
        self._frame_n = encode_frame(msg, len(msg), self._frame)

    @property
    def enabled(self):
        return self._base_us > 0

    def delay_us(self, failures):
        """The back-off after `failures` failed logins in a row."""
        if failures <= 0 or self._base_us == 0:
            return 0
        d = self._base_us
        for _ in range(failures):           # doubling stays below 2 * max: small ints
            d <<= 1
            if d >= self._max_us:
                return self._max_us
        return d

    def failed(self, now):
        self.failures += 1
        if self._base_us == 0:
            return
        self.in_a_row += 1
        self._until = ticks_add(now, self.delay_us(self.in_a_row))
        self._forget_at = ticks_add(self._until, self._forget_us)

    def waiting(self, now):
        return self._until is not None and ticks_diff(self._until, now) > 0

    def wait_us(self, now):
        """Microseconds before the next login is judged (0: now)."""
        if not self.waiting(now):
            return 0
        return ticks_diff(self._until, now)

    def refuse(self, data, n):
        """Host bytes that arrived during the back-off: not judged; one
        refusal per chunk that ends a frame (0x00 delimiter)."""
        for i in range(n):
            if data[i] == 0:
                self.refused += 1
                self._pending = True
                return

    def pop(self, out):
        if not self._pending:
            return 0
        self._pending = False
        f = self._frame
        n = self._frame_n
        for i in range(n):
            out[i] = f[i]
        return n

    def on_timer(self, now):
        if due(now, self._forget_at):
            self.in_a_row = 0
            self._until = None
            self._forget_at = None

    def deadline(self):
        return self._forget_at
