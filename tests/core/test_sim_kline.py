# The virtual K-Line wire: byte timing, echo, collisions, low pulses, records.
# Plain functions + assert: runs under pytest and under MicroPython.
from diagbridge.clock import TICKS_MASK, TICKS_PERIOD, ticks_diff
from diagbridge.errors import UsageError
from diagbridge.sim.kernel import START_TICKS, Kernel
from diagbridge.sim.kline import (FIVE_BAUD_BIT_US, KL_BREAK, KL_COLLISION, KL_FRAMING,
                                  KL_OK, KLine, five_baud_pulses, kline_flag_names)
from diagbridge.sim.recorder import REC_BYTE, REC_LOW, Recorder


class _Rig:
    # A kernel, a wire, ports, and everything the ports heard:
    #   got:   (elapsed_us, port, value, flags)
    #   edges: (elapsed_us, port, level)
    def __init__(self, names=("tester", "ecu"), bauds=None, recorder=None):
        self.k = Kernel()
        self.line = KLine(self.k, recorder=recorder)
        self.got = []
        self.edges = []
        self.p = {}
        for i, name in enumerate(names):
            port = self.line.attach(name, 10400 if bauds is None else bauds[i])
            port.on_byte = self._on_byte(name)
            port.on_line = self._on_line(name)
            self.p[name] = port

    def _check_now(self, now):
        assert now == (self.k.start + self.k.elapsed_us) & TICKS_MASK

    def _on_byte(self, name):
        def f(now, value, flags):
            self._check_now(now)
            self.got.append((self.k.elapsed_us, name, value, flags))
        return f

    def _on_line(self, name):
        def f(now, level):
            self._check_now(now)
            self.edges.append((self.k.elapsed_us, name, level))
        return f

    def at(self, t_us, fn, *args):
        self.k.call_at(t_us, lambda now, a: fn(*a), args)

    def heard(self, name):
        return [(t, v, f) for t, n, v, f in self.got if n == name]


def _raises(fn, *args):
    try:
        fn(*args)
    except UsageError:
        return True
    return False


# ---- byte time ---------------------------------------------------------------
def test_single_byte_10400_delivers_at_962_us_to_all_including_sender():
    r = _Rig()
    r.p["tester"].write(0x81)
    assert r.p["tester"].busy and not r.p["ecu"].busy
    r.k.run_for(961)
    assert r.got == [] and r.p["tester"].busy      # 961.538 us: not yet
    r.k.run_until_idle()
    assert r.got == [(962, "tester", 0x81, KL_OK), (962, "ecu", 0x81, KL_OK)]
    assert not r.p["tester"].busy


def test_ten_back_to_back_bytes_do_not_drift():
    r = _Rig()
    r.p["tester"].write_bytes(bytes(range(10)))
    r.k.run_until_idle()
    times = [t for t, v, f in r.heard("ecu")]
    # byte k ends at ceil(k * 961538.46 ns): never k * 962
    assert times == [962, 1924, 2885, 3847, 4808, 5770, 6731, 7693, 8654, 9616]
    assert times[-1] != 10 * 962
    assert [v for t, v, f in r.heard("ecu")] == list(range(10))
    assert r.heard("tester") == r.heard("ecu")     # echo: same values, same times


def test_write_while_busy_queues_back_to_back():
    r = _Rig()
    r.p["tester"].write(0x11)
    r.at(500, r.p["tester"].write, 0x22)           # FIFO: starts at 961.538 us
    r.k.run_until_idle()
    assert r.heard("ecu") == [(962, 0x11, KL_OK), (1924, 0x22, KL_OK)]


def test_write_at_delivery_instant_starts_new_burst():
    r = _Rig()
    r.p["tester"].write(0x11)
    r.at(962, r.p["tester"].write, 0x22)           # idle again: 962 + 962
    r.k.run_until_idle()
    assert r.heard("ecu") == [(962, 0x11, KL_OK), (1924, 0x22, KL_OK)]
    r.at(2000, r.p["tester"].write, 0x33)
    r.k.run_until_idle()
    assert r.heard("ecu")[-1] == (2962, 0x33, KL_OK)


def test_9600_baud_byte_time():
    r = _Rig(bauds=(9600, 9600))
    r.p["tester"].write(0x55)
    r.k.run_until_idle()
    assert r.heard("ecu") == [(1042, 0x55, KL_OK)]  # 1041.667 us
    r.p["tester"].write_bytes(b"\x00" * 10)
    r.k.run_until_idle()
    assert r.heard("ecu")[-1][0] == 1042 + 10417     # 10416.667 us, no drift


def test_baud_mismatch_is_framing_for_the_other_rate_only():
    r = _Rig(bauds=(10400, 9600))
    r.p["tester"].write(0xC1)
    r.k.run_until_idle()
    assert r.heard("tester") == [(962, 0xC1, KL_OK)]
    assert r.heard("ecu") == [(962, 0xC1, KL_FRAMING)]   # value as sent, unreliable
    r.p["ecu"].set_baud(10400)
    r.p["ecu"].write(0x3E)
    r.k.run_until_idle()
    assert r.heard("tester")[-1] == (1924, 0x3E, KL_OK)


def test_set_baud_with_bytes_queued_keeps_their_rate():
    r = _Rig()
    t = r.p["tester"]
    t.write_bytes(b"\x01\x02")
    t.set_baud(9600)
    t.write(0x03)                  # after byte 2 (1923.077 us) + 1041.667 us
    r.k.run_until_idle()
    assert r.heard("ecu") == [(962, 1, KL_OK), (1924, 2, KL_OK), (2965, 3, KL_FRAMING)]


# ---- collisions --------------------------------------------------------------
def test_overlapping_bytes_collide_with_wired_and_to_everyone():
    r = _Rig(names=("tester", "ecu1", "ecu2"))
    r.p["ecu1"].write(0x81)
    r.at(500, r.p["ecu2"].write, 0x33)
    r.k.run_until_idle()
    want = [(962, 0x01, KL_COLLISION), (1462, 0x01, KL_COLLISION)]
    for name in ("tester", "ecu1", "ecu2"):
        assert r.heard(name) == want


def test_three_way_overlap_ands_what_each_byte_overlapped():
    r = _Rig(names=("a", "b", "c"))
    r.p["a"].write(0xF0)                    # 0 .. 961.5
    r.at(500, r.p["b"].write, 0x3C)         # 500 .. 1461.5: overlaps a and c
    r.at(1200, r.p["c"].write, 0x0F)        # 1200 .. 2161.5: overlaps b only
    r.k.run_until_idle()
    assert r.heard("a") == [(962, 0x30, KL_COLLISION), (1462, 0x00, KL_COLLISION),
                            (2162, 0x0C, KL_COLLISION)]


def test_collision_with_a_queued_byte():
    r = _Rig()
    r.p["tester"].write_bytes(b"\xFF\xFF")             # second byte 961.5 .. 1923.1
    r.at(1500, r.p["ecu"].write, 0x0F)
    r.k.run_until_idle()
    assert r.heard("tester") == [(962, 0xFF, KL_OK), (1924, 0x0F, KL_COLLISION),
                                 (2462, 0x0F, KL_COLLISION)]


def test_non_overlapping_bytes_from_two_ports_are_clean():
    r = _Rig()
    ecu = r.p["ecu"]

    def answer(now, value, flags):          # reply the instant the echo completes
        r.got.append((r.k.elapsed_us, "ecu", value, flags))
        if value == 0x81:
            ecu.write(0xC1)
    ecu.on_byte = answer
    r.p["tester"].write(0x81)
    r.k.run_until_idle()
    assert r.heard("tester") == [(962, 0x81, KL_OK), (1924, 0xC1, KL_OK)]
    assert r.heard("ecu") == r.heard("tester")


# ---- low pulses ----------------------------------------------------------------
def test_fast_init_wakeup_edges_at_exact_times_for_everyone():
    r = _Rig(names=("tester", "ecu1", "ecu2"))
    r.p["tester"].drive_low(25000)                      # TiniL
    assert r.line.level == 0
    r.at(50000, r.p["tester"].write_bytes, b"\x81\x10\xF1\x81\x03")   # TWuP
    r.k.run_for(25000)
    assert r.line.level == 1
    r.k.run_until_idle()
    names = ("tester", "ecu1", "ecu2")
    assert r.edges == [(0, n, 0) for n in names] + [(25000, n, 1) for n in names]
    assert r.heard("ecu1")[0] == (50962, 0x81, KL_OK)
    assert [f for t, v, f in r.heard("ecu2")] == [KL_OK] * 5


def test_overlapping_low_pulses_merge_into_one_pair_of_edges():
    rec = Recorder()
    r = _Rig(recorder=rec)
    r.p["tester"].drive_low(1000)
    r.at(500, r.p["ecu"].drive_low, 1000)
    r.k.run_until_idle()
    assert [(t, lv) for t, n, lv in r.edges if n == "ecu"] == [(0, 0), (1500, 1)]
    lows = [(x[0], x[4], x[5]) for x in rec.of(kind=REC_LOW)]
    assert lows == [(1000, "tester", 1000), (1500, "ecu", 1000)]


def _decode_5baud(edges):
    # Sample the level mid-cell from edge times alone, like an ECU would.
    t0 = edges[0][0]
    assert edges[0][1] == 0

    def level_at(t):
        lv = 1
        for te, l in edges:
            if te <= t:
                lv = l
        return lv
    bits = [level_at(t0 + i * FIVE_BAUD_BIT_US + FIVE_BAUD_BIT_US // 2) for i in range(10)]
    assert bits[0] == 0 and bits[9] == 1          # start, stop
    addr = 0
    for i in range(8):
        addr |= bits[1 + i] << i
    return addr


def test_five_baud_pulses_shape():
    assert five_baud_pulses(0x33) == ((0, 200000), (600000, 400000), (1400000, 400000))
    assert five_baud_pulses(0xFF) == ((0, 200000),)
    assert five_baud_pulses(0x00) == ((0, 1800000),)
    for a in range(256):                           # every address round-trips
        edges = []
        for off, dur in five_baud_pulses(a):
            edges.append((off, 0))
            edges.append((off + dur, 1))
        assert _decode_5baud(edges) == a


def test_five_baud_address_0x33_decoded_from_wire_edges():
    r = _Rig()
    start = 300000                                  # W5 idle first
    for off, dur in five_baud_pulses(0x33):
        r.at(start + off, r.p["tester"].drive_low, dur)
    r.k.run_until_idle()
    ecu_edges = [(t, lv) for t, n, lv in r.edges if n == "ecu"]
    assert ecu_edges == [(300000, 0), (500000, 1), (900000, 0), (1300000, 1),
                         (1700000, 0), (2100000, 1)]
    assert _decode_5baud(ecu_edges) == 0x33


def test_byte_overlapping_low_pulse_is_break():
    r = _Rig()
    r.p["ecu"].write(0x55)                          # 0 .. 961.5
    r.at(900, r.p["tester"].drive_low, 100)          # low 900 .. 1000
    r.at(950, r.p["ecu"].write, 0x55)               # queued 961.5 .. 1923.1: hit too
    r.at(999, r.p["tester"].write, 0x81)             # starts while low
    r.k.run_until_idle()
    brk = KL_BREAK | KL_FRAMING
    assert r.heard("tester") == [(962, 0x00, brk), (1924, 0x00, brk | KL_COLLISION),
                                 (1961, 0x00, brk | KL_COLLISION)]
    assert r.heard("ecu") == r.heard("tester")


def test_byte_starting_as_low_is_released_is_clean():
    r = _Rig()
    r.p["tester"].drive_low(25000)
    r.at(25000, r.p["ecu"].write, 0x81)             # touching is not overlapping
    r.k.run_until_idle()
    assert r.heard("tester") == [(25962, 0x81, KL_OK)]


# ---- records ---------------------------------------------------------------------
def _scenario():
    rec = Recorder()
    r = _Rig(names=("tester", "ecu1", "ecu2"), recorder=rec)
    r.p["tester"].drive_low(25000)
    r.at(50000, r.p["tester"].write_bytes, b"\xC1\x33\xF1\x81\x66")
    r.at(80000, r.p["ecu1"].write_bytes, b"\x80\xF1\x01")
    r.at(80300, r.p["ecu2"].write_bytes, b"\x80\xF1\x02")
    r.k.run_until_idle()
    return rec


def test_recorder_is_deterministic_and_names_flags():
    a = _scenario()
    b = _scenario()
    assert a.records == b.records
    assert a.lines(kline_flag_names) == b.lines(kline_flag_names)
    low = a.of(kind=REC_LOW)
    assert low == [(25000, (START_TICKS + 25000) & TICKS_MASK, "kline", REC_LOW, "tester",
                    25000, b"", KL_OK)]
    by = a.of(kind=REC_BYTE)
    assert len(by) == 11                           # one record per byte sent
    assert by[0] == (50962, (START_TICKS + 50962) & TICKS_MASK, "kline", REC_BYTE,
                     "tester", 0, b"\xC1", KL_OK)
    assert [(x[0], x[4], x[6][0], x[7]) for x in by[5:7]] == [
        (80962, "ecu1", 0x80, KL_COLLISION), (81262, "ecu2", 0x80, KL_COLLISION)]
    assert a.lines(kline_flag_names)[-1].endswith("ecu2     00 COLLISION")  # 01 & 02


def test_flag_names():
    assert kline_flag_names(REC_BYTE, KL_BREAK | KL_FRAMING) == "FRAMING|BREAK"
    assert kline_flag_names(REC_BYTE, KL_COLLISION) == "COLLISION"
    assert kline_flag_names(REC_BYTE, 0x10 | KL_FRAMING) == "FRAMING|0x10"
    assert kline_flag_names("can", 3) == "flags=0x3"


# ---- wrap, misuse ------------------------------------------------------------------
def test_traffic_across_the_tick_wrap():
    r = _Rig()
    assert r.k.start == START_TICKS and START_TICKS + 1000 == TICKS_PERIOD
    nows = []
    r.p["ecu"].on_byte = lambda now, v, f: nows.append(now)
    lines = []
    r.p["ecu"].on_line = lambda now, lv: lines.append((now, lv))
    r.p["tester"].write_bytes(b"\x01\x02\x03")       # ends at 962, 1924, 2885
    r.at(3000, r.p["tester"].drive_low, 25000)
    r.k.run_until_idle()
    assert nows == [START_TICKS + 962, 924, 1885]    # wrapped after 1000 us
    assert [ticks_diff(n, START_TICKS) for n in nows] == [962, 1924, 2885]
    assert lines == [(2000, 0), (27000, 1)]
    assert ticks_diff(lines[1][0], lines[0][0]) == 25000
    assert [f for t, v, f in r.heard("tester")] == [KL_OK] * 3


def test_usage_errors_and_nothing_sent():
    r = _Rig()
    t = r.p["tester"]
    assert _raises(t.write, 256)
    assert _raises(t.write, -1)
    assert _raises(t.write_bytes, [1, 300])           # checked before anything goes out
    assert _raises(t.set_baud, 0)
    assert _raises(t.drive_low, 0)
    assert _raises(t.drive_low, -5)
    assert _raises(r.line.attach, "x", -1)
    assert _raises(r.line.attach, "tester")           # names must be unique
    assert _raises(five_baud_pulses, 256)
    assert not t.busy and r.line.level == 1
    r.k.run_until_idle()
    assert r.got == [] and r.edges == []
