# Pending: the UDS server's responsePending (0x78) cadence, ISO 14229-1
# §8.7.1 (uds-digest §4.2), for the request whose handler returned
# RSP_PENDING (uds/server/core.py owns the request; this module owns its timing).
#
#   idle (spec None) --start--> pending --final result (server: clear)--> idle
#
# While pending: the spec's resume(srv, now) runs once its deadline(srv) is
# due (no deadline: on every on_timer); `7F SID 78` goes out margin_us before
# P2_server runs out, then margin_us before each P2*_server after it.  `count`
# is the number of 0x78 sent so far (> 0: SPRMIB and the functional NRC
# suppression no longer apply to the final response, §8.7.5).
from diagbridge.clock import ticks_add, due
from diagbridge.errors import UsageError


class Pending:
    def __init__(self, margin_us):
        self._margin_us = margin_us
        self.clear()

    def clear(self):
        self.spec = None            # the spec that answered RSP_PENDING
        self.p2_at = None           # when the next 0x78 is due
        self.count = 0              # 0x78 sent for this request

    def start(self, spec, now, p2_us):
        """spec's handler answered RSP_PENDING at now; P2 is p2_us."""
        if spec.resume is None:
            raise UsageError("RSP_PENDING from a spec without resume")
        self.spec = spec
        self.p2_at = ticks_add(now, p2_us - self._margin_us)

    def resume_due(self, srv, now):
        """True when the spec's resume is to run now."""
        spec = self.spec
        d = spec.deadline(srv) if spec.deadline is not None else None
        return d is None or due(now, d)

    def resume_next_timer(self, srv):
        """True when resume runs on the next on_timer (the spec has no deadline)."""
        spec = self.spec
        return spec.deadline is None or spec.deadline(srv) is None

    def rcrrp_due(self, now):
        """True (one more 0x78 counted) when P2 / P2* is about to run out;
        the caller queues the 0x78, then calls next_p2star."""
        if not due(now, self.p2_at):
            return False
        self.count += 1
        return True

    def next_p2star(self, p2star_us):
        self.p2_at = ticks_add(self.p2_at, p2star_us - self._margin_us)
