# The hot paths allocate nothing: whole exchanges run with the heap locked
# under MicroPython (on CPython the same exchanges just run; the proof comes
# from the MicroPython stage).  Nothing inside the locked part may create an
# object: no slices, tuples, bound-method objects kept around, exceptions or
# big ints.  (Test harness note: calling a closure over more than a few
# variables allocates its argument array, so the locked parts below are
# closures over a single list.)
from diagbridge.clock import TICKS_PERIOD, earliest, ticks_add
from diagbridge.cantp import (Channel, Mux, TpConfig, Address, ADDR_NORMAL_11,
                              ADDR_MIXED_29, TA_FUNCTIONAL, EV_RX_DONE, EV_TX_DONE,
                              EV_RX_FAILED, EV_TX_FAILED)
from cantp_support import pair, msg
from support import run_locked

T_START = TICKS_PERIOD - 3000       # every exchange crosses the tick wrap


def _move(src, dst, out, t, stats, drop_after):
    k = src.pop_frame(out)
    if k == 0:
        return False
    stats[0] += 1
    if drop_after < 0 or stats[0] <= drop_after:
        dst.feed_frame(t, src.tx_id, out, k, src.tx_flags)
    src.confirm(t, True, src.tx_tag)
    return True


def _drain_events(ch, stats):
    while True:
        ev = ch.poll()
        if ev == 0:
            return
        if ev == EV_RX_DONE:
            stats[1] += ch.length
            stats[4] = ch.payload[ch.length - 1]
        elif ev == EV_TX_DONE:
            stats[2] += 1
        elif ev == EV_RX_FAILED or ev == EV_TX_FAILED:
            stats[3] += 1


def _exchange(a, b, m, n, out, stats, drop_after=-1, ta_type=0):
    """a sends m[0:n] to b in virtual time; allocation-free."""
    t = T_START
    a.request(t, m, n, ta_type)
    for _ in range(100000):
        moved = _move(a, b, out, t, stats, drop_after)
        if _move(b, a, out, t, stats, -1):
            moved = True
        _drain_events(a, stats)
        _drain_events(b, stats)
        if moved:
            continue
        d = earliest(a.deadline(), b.deadline())
        if d is None:
            return t
        t = d
        a.on_timer(t)
        b.on_timer(t)
        _drain_events(a, stats)
        _drain_events(b, stats)
    return t


def _run_ctx(ctx):
    ctx[4][0] = ctx[4][1] = ctx[4][2] = ctx[4][3] = ctx[4][4] = 0
    _exchange(ctx[0], ctx[1], ctx[2], ctx[3], ctx[5], ctx[4], ctx[6], ctx[7])


def _warm_and_lock(a, b, m, n, drop_after=-1, ta_type=0):
    ctx = [a, b, m, n, [0, 0, 0, 0, 0], bytearray(64), drop_after, ta_type]
    _run_ctx(ctx)                       # warm-up (first-use caches)
    run_locked(lambda: _run_ctx(ctx))
    return ctx[4]


def test_noalloc_classic_segmented():
    a, b = pair(TpConfig(), TpConfig(block_size=3, stmin_us=1000))
    m = msg(300)
    s = _warm_and_lock(a, b, m, 300)
    assert s[1] == 300 and s[2] == 1 and s[3] == 0 and s[4] == m[299]


def test_noalloc_fd_escape_and_sub_ms_stmin():
    cfg = TpConfig(fd=True, tx_dl=64, max_pdu=5000, block_size=0, stmin_us=200, padding=None)
    a, b = pair(cfg)
    m = msg(5000)
    s = _warm_and_lock(a, b, m, 5000)
    assert s[1] == 5000 and s[2] == 1 and s[3] == 0


def test_noalloc_functional_and_mixed_addressing():
    ca = Address(ADDR_MIXED_29, ta=0x10, sa=0xF1, ae=0x42, func_ta=0x33)
    cb = Address(ADDR_MIXED_29, ta=0xF1, sa=0x10, ae=0x42, func_ta=0x33)
    a, b = pair(TpConfig(), TpConfig(), ca, cb)
    m = msg(6)
    s = _warm_and_lock(a, b, m, 6, ta_type=TA_FUNCTIONAL)
    assert s[1] == 6 and s[2] == 1


def test_noalloc_timeouts_and_failures():
    a, b = pair(TpConfig(n_bs_ms=50), TpConfig(n_cr_ms=20))
    m = msg(100)
    s = _warm_and_lock(a, b, m, 100, drop_after=3)   # frames lost: N_Cr and N_Bs fire
    assert s[3] == 2 and s[1] == 0


def _mux_run(ctx):
    chans = ctx[0]
    gw = ctx[1]
    bus = ctx[2]
    m = ctx[3]
    out = ctx[4]
    stats = ctx[5]
    t = T_START
    for i in range(4):
        chans[i].request(t, m, 40)
    for _ in range(10000):
        moved = False
        k = gw.pop_frame(out)
        if k:
            bus.feed_frame(t, gw.tx_id, out, k, gw.tx_flags)
            gw.confirm(t, True, gw.tx_tag)
            moved = True
        k = bus.pop_frame(out)
        if k:
            gw.feed_frame(t, bus.tx_id, out, k, bus.tx_flags)
            bus.confirm(t, True, bus.tx_tag)
            moved = True
        while True:
            ev = bus.poll()
            if ev == 0:
                break
            if ev == EV_RX_DONE:
                stats[1] += bus.channel.length
        while gw.poll():
            stats[2] += 1
        if not moved:
            d = earliest(gw.deadline(), bus.deadline())
            if d is None:
                return
            t = ticks_add(d, 0)
            gw.on_timer(t)
            bus.on_timer(t)


def test_noalloc_mux():
    chans = []
    ecus = []
    for i in range(4):
        chans.append(Channel(TpConfig(), Address(ADDR_NORMAL_11, tx_id=0x7E0 + i,
                                                 rx_id=0x7E8 + i)))
        ecus.append(Channel(TpConfig(), Address(ADDR_NORMAL_11, tx_id=0x7E8 + i,
                                                rx_id=0x7E0 + i)))
    ctx = [chans, Mux(chans), Mux(ecus), msg(40), bytearray(64), [0, 0, 0]]
    _mux_run(ctx)
    ctx[5][1] = ctx[5][2] = 0
    run_locked(lambda: _mux_run(ctx))
    assert ctx[5][1] == 160 and ctx[5][2] == 4
