# Soak: the engine ECU serves 10,000 mixed requests over CAN-TP on the
# simulated 500 kbit/s bus (single and multi-frame requests and responses,
# session changes, SecurityAccess seeds, negative responses, ECUReset), and
# its heap does not grow: every 1000 requests the heap in use is sampled
# after gc.collect(), and once the first two samples (the warm-up: every
# code path has run and every lazily built table exists) are taken, no later
# sample may rise above their high-water mark.  Under MicroPython that is
# gc.mem_alloc(), and the mark must not rise by a single byte (small ints are
# not objects there).  On CPython it is tracemalloc's traced memory, where
# every counter above 256 is an int object that changes size as it grows, so
# there the 8000 requests after warm-up may add less than CPY_SLACK_BYTES in
# all: a leak of one object per request would be tens of KB.  The
# simulation's own queues are checked too: a leak there would be the
# harness's, not the ECU's.
import gc
import sys

from support import MICROPYTHON
from diagbridge.cantp import Channel, TpConfig, Address, ADDR_NORMAL_11, EV_RX_DONE
from diagbridge.ecu import Ecu
from diagbridge.sim.kernel import Kernel
from diagbridge.sim.canbus import CanBus
from diagbridge.sim.cantp_node import CanTpNode
from diagbridge.sim.ecu_node import EcuNode
from ecu_support import engine_profile, VIN

N_REQUESTS = 10000
SAMPLE_EVERY = 1000
WARMUP_SAMPLES = 2
MAX_US_PER_REQUEST = 2000000    # virtual time: far above P2 + a multi-frame answer
CPY_SLACK_BYTES = 1024

# (request, the answer's first bytes) in the order they are sent: the
# session and security state each one needs comes from those before it.
MIX = (
    ("22F190", "62F190" + VIN.hex()),   # VIN: a 20-byte multi-frame answer
    ("1902FF", "5902FF"),               # every DTC: an 83-byte answer
    ("220100", "620100"),               # a live DID (engine speed)
    ("3E00", "7E00"),
    ("1003", "5003"),                   # extended session
    ("220200", "6202000352"),           # readable outside the default session only
    ("2701", "6701"),                   # a seed (level 01, extended session)
    ("1901FF", "5901FF"),               # the DTC count
    ("22F190F187", "62F190"),           # two DIDs in one request
    ("BA", "7FBA11"),                   # serviceNotSupported
    ("1001", "5001"),                   # back to default: security locks again
    ("220200", "7F2231"),               # now out of range for this session
    ("1101", "5101"),                   # hardReset: the ECU resets after the answer
)


class _Soak:
    def __init__(self):
        self.k = Kernel()
        self.bus = CanBus(self.k, "can0", bitrate=500000)
        self.ecu = Ecu(engine_profile())
        self.node = EcuNode(self.k, self.bus.attach("engine"), self.ecu, keep_events=False)
        self.ch = Channel(TpConfig(), Address(ADDR_NORMAL_11, tx_id=0x7E0, rx_id=0x7E8))
        self.tester = CanTpNode(self.k, self.bus.attach("tester"), self.ch, self._ev)
        self.reqs = [bytes.fromhex(r) for r, _ in MIX]
        self.want = [bytes.fromhex(a) for _, a in MIX]
        self.got = bytearray(4095)
        self.got_len = -1
        self.wrong = 0

    def _ev(self, now, ev, ch):
        if ev == EV_RX_DONE:
            n = ch.length
            src = ch.payload
            got = self.got
            for i in range(n):
                got[i] = src[i]
            self.got_len = n

    def one(self, i):
        """Request i of the mix; True when its answer starts as expected."""
        req = self.reqs[i]
        self.got_len = -1
        self.tester.send(self.ch, req, len(req))
        self.k.run_until(self._answered, MAX_US_PER_REQUEST)
        want = self.want[i]
        if self.got_len < len(want):
            return False
        for j in range(len(want)):
            if self.got[j] != want[j]:
                return False
        return True

    def _answered(self):
        return self.got_len >= 0


def _heap():
    gc.collect()
    if MICROPYTHON:
        return gc.mem_alloc()
    import tracemalloc
    return tracemalloc.get_traced_memory()[0]


def test_soak_10000_requests_no_heap_growth():
    if not MICROPYTHON:
        import tracemalloc
        tracemalloc.start()
    try:
        s = _Soak()
        samples = [0] * (N_REQUESTS // SAMPLE_EVERY)
        failed = []
        for r in range(N_REQUESTS):
            i = r % len(MIX)
            if not s.one(i):
                failed.append((r, MIX[i][0], bytes(s.got[0:max(s.got_len, 0)]).hex()))
            if (r + 1) % SAMPLE_EVERY == 0:
                samples[r // SAMPLE_EVERY] = _heap()
    finally:
        if not MICROPYTHON:
            tracemalloc.stop()
    assert failed == [], failed[:5]
    # every request was served and every ECUReset performed
    assert s.ecu.requests == N_REQUESTS
    assert s.ecu.resets == N_REQUESTS // len(MIX)
    assert s.ecu.rx_failed == 0 and s.ecu.tx_failed == 0
    # nothing piles up in the simulation or the ECU's queues
    assert s.node.port.pending() == 0 and s.tester.port.pending() == 0
    assert s.ecu.events.count == 0
    assert len(samples) == N_REQUESTS // SAMPLE_EVERY
    warm = max(samples[:WARMUP_SAMPLES])
    later = max(samples[WARMUP_SAMPLES:])
    if MICROPYTHON and sys.platform == "webassembly":
        # the WebAssembly port grows its heap on demand and collects only between
        # calls from JavaScript: its figures say nothing about a board; the fixed
        # heap of the unix port (tools/mpy_unix_tests.py) is where this is proven
        return
    slack = 0 if MICROPYTHON else CPY_SLACK_BYTES
    assert later <= warm + slack, "heap high-water mark rose after warm-up: %r" % (samples,)
