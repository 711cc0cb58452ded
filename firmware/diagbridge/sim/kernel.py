# The simulation kernel: a virtual clock and a deterministic event queue.
#
# Time jumps straight to the next thing that can happen: the earliest queued
# delivery or the earliest deadline() of an attached node.  Nothing sleeps.
# Ties are broken by the order things were scheduled (a sequence number), so
# the same inputs always give the same trace.
#
# Two views of time:
#   now         wrapping microsecond ticks, what every core machine sees;
#   elapsed_us  plain microseconds since the kernel started, for ordering
#               the queue and for test assertions (never wraps).
from diagbridge.clock import TICKS_MASK, TICKS_PERIOD, ticks_diff
from diagbridge.errors import UsageError

# Start just before the wrap so that every scenario crosses it early.
START_TICKS = TICKS_PERIOD - 1000

# More steps than this at one instant means a node whose deadline stays due
# after on_timer(): a busy loop, which is a bug and is reported as one.
_MAX_SPINS = 10000


class Kernel:
    def __init__(self, start=START_TICKS):
        if not 0 <= start <= TICKS_MASK:
            raise UsageError("start must be a tick in 0..TICKS_MASK")
        self.start = start
        self.now = start
        self.elapsed_us = 0
        self._heap = []          # entries: [t_elapsed, seq, fn, arg]; seq breaks ties
        self._seq = 0
        self._nodes = []
        self.steps = 0
        self._last_t = -1
        self._spins = 0

    # ---- scheduling -------------------------------------------------------
    def call_at(self, t_elapsed, fn, arg=None):
        """Run fn(now, arg) when elapsed_us reaches t_elapsed; returns a handle."""
        if t_elapsed < self.elapsed_us:
            raise UsageError("cannot schedule in the past")
        self._seq += 1
        entry = [t_elapsed, self._seq, fn, arg]
        _push(self._heap, entry)
        return entry

    def call_later(self, delay_us, fn, arg=None):
        if delay_us < 0:
            raise UsageError("delay_us must be >= 0")
        return self.call_at(self.elapsed_us + delay_us, fn, arg)

    def cancel(self, handle):
        """Cancel a call made with call_at/call_later (no effect once run)."""
        handle[2] = None

    def add_node(self, node):
        """Attach an object with deadline() -> tick|None and on_timer(now)."""
        self._nodes.append(node)
        return node

    def remove_node(self, node):
        self._nodes.remove(node)

    # ---- time -------------------------------------------------------------
    def elapsed_at(self, tick):
        """elapsed_us at which a (future or overdue) tick falls; overdue = now."""
        d = ticks_diff(tick, self.now)
        return self.elapsed_us + (d if d > 0 else 0)

    def _advance(self, t_elapsed):
        if t_elapsed > self.elapsed_us:
            self.now = (self.start + t_elapsed) & TICKS_MASK
            self.elapsed_us = t_elapsed

    def next_time(self):
        """elapsed_us of the next queued call or node deadline, or None."""
        t = None
        heap = self._heap
        while heap and heap[0][2] is None:      # drop cancelled entries
            _pop(heap)
        if heap:
            t = heap[0][0]
        for node in self._nodes:
            d = node.deadline()
            if d is not None:
                e = self.elapsed_at(d)
                if t is None or e < t:
                    t = e
        return t

    def step(self, limit_us=None):
        """Advance to the next instant, run what is due there; False when idle
        (or when the next instant lies beyond limit_us, elapsed)."""
        t = self.next_time()
        if t is None or (limit_us is not None and t > limit_us):
            return False
        self._advance(t)
        self.steps += 1
        heap = self._heap
        # Queued calls first, in (time, sequence) order, including calls
        # they schedule for this same instant.
        while heap and heap[0][0] <= t:
            entry = _pop(heap)
            fn = entry[2]
            if fn is not None:
                entry[2] = None
                fn(self.now, entry[3])
        # Then every node whose deadline is due, once each, in attach order;
        # a deadline still due afterwards is served by the next step at this
        # same instant.
        for node in self._nodes:
            d = node.deadline()
            if d is not None and ticks_diff(self.now, d) >= 0:
                node.on_timer(self.now)
        if t == self._last_t:
            self._spins += 1
            if self._spins > _MAX_SPINS:
                raise UsageError("no progress: a node's deadline stays due")
        else:
            self._last_t = t
            self._spins = 0
        return True

    def run_until_idle(self, max_us=None):
        """Run until nothing is queued and no node has a deadline, or until
        max_us more microseconds have passed.  Returns the elapsed_us."""
        limit = None if max_us is None else self.elapsed_us + max_us
        while self.step(limit):
            pass
        if limit is not None and self.next_time() is not None:
            self._advance(limit)
        return self.elapsed_us

    def run_for(self, us):
        """Run exactly `us` microseconds of virtual time."""
        limit = self.elapsed_us + us
        while self.step(limit):
            pass
        self._advance(limit)
        return self.elapsed_us

    def run_until(self, pred, max_us):
        """Run until pred() is true (checked after every instant); returns
        True if it became true within max_us."""
        limit = self.elapsed_us + max_us
        while not pred():
            if not self.step(limit):
                self._advance(limit)
                return bool(pred())
        return True


# A small binary heap on lists [t, seq, ...]; MicroPython ports do not all
# ship heapq, and two keys are all we compare.
def _before(a, b):
    return a[0] < b[0] or (a[0] == b[0] and a[1] < b[1])


def _push(h, e):
    h.append(e)
    i = len(h) - 1
    while i > 0:
        p = (i - 1) >> 1
        if _before(h[i], h[p]):
            h[i], h[p] = h[p], h[i]
            i = p
        else:
            break


def _pop(h):
    last = h.pop()
    if not h:
        return last
    top = h[0]
    h[0] = last
    n = len(h)
    i = 0
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and _before(h[c + 1], h[c]):
            c += 1
        if _before(h[c], h[i]):
            h[i], h[c] = h[c], h[i]
            i = c
        else:
            break
    return top
