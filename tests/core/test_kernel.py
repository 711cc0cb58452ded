from diagbridge.clock import TICKS_PERIOD, TICKS_MASK, ticks_add, ticks_diff
from diagbridge.errors import UsageError
from diagbridge.sim.kernel import Kernel, START_TICKS
from diagbridge.sim.recorder import Recorder, REC_NOTE
from support import raises


class _Periodic:
    """A node with a deadline every `period` us, logging when it fired."""

    def __init__(self, k, name, period, first):
        self.k = k
        self.name = name
        self.period = period
        self.at = ticks_add(k.now, first)
        self.log = []

    def deadline(self):
        return self.at

    def on_timer(self, now):
        self.log.append((self.k.elapsed_us, self.name))
        self.at = ticks_add(now, self.period)


def test_starts_just_before_the_wrap():
    k = Kernel()
    assert k.now == START_TICKS and START_TICKS < TICKS_PERIOD
    assert ticks_diff(TICKS_PERIOD & TICKS_MASK, k.now) == 1000
    k.run_for(1500)
    assert k.now == 500 and k.elapsed_us == 1500


def test_jumps_straight_to_the_next_deadline():
    k = Kernel()
    n = k.add_node(_Periodic(k, "a", 700000, 250000))
    k.run_for(2000000)
    assert n.log == [(250000, "a"), (950000, "a"), (1650000, "a")]
    assert k.steps == 3               # no polling in between


def test_queue_ties_broken_by_sequence():
    k = Kernel()
    order = []
    for name in ("first", "second", "third"):
        k.call_later(100, lambda now, a: order.append(a), name)
    k.call_later(50, lambda now, a: order.append(a), "early")
    k.run_until_idle()
    assert order == ["early", "first", "second", "third"]
    assert k.elapsed_us == 100


def test_calls_made_at_an_instant_run_at_that_instant():
    k = Kernel()
    seen = []

    def chain(now, depth):
        seen.append((k.elapsed_us, depth))
        if depth < 3:
            k.call_later(0, chain, depth + 1)
    k.call_later(10, chain, 0)
    k.run_until_idle()
    assert seen == [(10, 0), (10, 1), (10, 2), (10, 3)]


def test_cancel():
    k = Kernel()
    hits = []
    h = k.call_later(10, lambda now, a: hits.append(a), 1)
    k.call_later(20, lambda now, a: hits.append(a), 2)
    k.cancel(h)
    k.run_until_idle()
    assert hits == [2]


def test_queued_calls_run_before_node_timers_at_the_same_instant():
    k = Kernel()
    log = []
    node = k.add_node(_Periodic(k, "node", 1000000, 100))
    k.call_later(100, lambda now, a: node.log.append((k.elapsed_us, a)), "delivery")
    k.run_for(100)
    assert node.log == [(100, "delivery"), (100, "node")]


def test_nodes_fire_in_attach_order_and_deterministically():
    def run():
        k = Kernel()
        rec = Recorder()
        a = k.add_node(_Periodic(k, "a", 300, 300))
        b = k.add_node(_Periodic(k, "b", 200, 200))
        k.run_for(1200)
        for t, name in sorted(a.log + b.log):
            rec.note(t, 0, name)
        return a.log + b.log, rec.records
    r1, rec1 = run()
    r2, rec2 = run()
    assert r1 == r2 and rec1 == rec2
    assert (600, "a") in r1 and (600, "b") in r1
    assert rec1[0][3] == REC_NOTE


def test_overdue_deadline_fires_now():
    k = Kernel()
    n = k.add_node(_Periodic(k, "late", 10 ** 6, 0))
    n.at = ticks_add(k.now, -50)       # already in the past
    k.step()
    assert n.log == [(0, "late")]


def test_busy_loop_is_reported():
    class Stuck:
        def __init__(self, k):
            self.k = k

        def deadline(self):
            return self.k.now

        def on_timer(self, now):
            pass
    k = Kernel()
    k.add_node(Stuck(k))
    assert raises(UsageError, k.run_for, 10)


def test_run_until_predicate_and_limit():
    k = Kernel()
    n = k.add_node(_Periodic(k, "p", 1000, 1000))
    assert k.run_until(lambda: len(n.log) == 3, 10000)
    assert k.elapsed_us == 3000
    assert not k.run_until(lambda: False, 2500)
    assert k.elapsed_us == 5500


def test_bad_scheduling_is_a_usage_error():
    k = Kernel()
    k.run_for(100)
    assert raises(UsageError, k.call_at, 50, lambda now, a: None)
    assert raises(UsageError, k.call_later, -1, lambda now, a: None)
    assert raises(UsageError, Kernel, TICKS_PERIOD)


def test_recorder_lines():
    rec = Recorder()
    rec.record(222, 5, "can0", "can", "ecu", 0x7E8, b"\x02\x50\x01", 0)
    rec.record(1000962, 6, "kline", "byte", "tester", 0, b"\xc1", 0)
    rec.record(2000000, 7, "kline", "low", "tester", 25000, b"", 0)
    lines = rec.lines()
    assert lines[0] == "   0.000222  can0   ecu      7E8 [3] 02 50 01"
    assert lines[1] == "   1.000962  kline  tester   C1"
    assert lines[2] == "   2.000000  kline  tester   low 25000 us"
    assert len(rec.of(wire="kline")) == 2 and len(rec.of(kind="can")) == 1
