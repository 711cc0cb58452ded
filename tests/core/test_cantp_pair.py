# Two channels wired back to back in virtual time: STmin, BS, WAIT, overflow,
# and every N_* timeout at exactly its configured value.  All runs start 1.5 s
# before the 2**29 us tick wrap, so timers cross it.
from diagbridge.clock import TICKS_PERIOD
from diagbridge.codes import (N_OK, N_TIMEOUT_A, N_TIMEOUT_BS, N_TIMEOUT_CR, N_WRONG_SN,
                              N_INVALID_FS, N_WFT_OVRN, N_BUFFER_OVFLW, N_ERROR)
from diagbridge.cantp import (Channel, TpConfig, EV_TX_DONE, EV_TX_FAILED, EV_RX_FF,
                              EV_RX_DONE, EV_RX_FAILED)
from cantp_support import Link, pair, msg, hexs, T0, pop, events, ecu_addr, client_addr


def _cf_times(link, side=0):
    return [f[0] for f in link.frames(side) if f[2][0] & 0xF0 == 0x20]


def _gaps(ts):
    return [ts[i + 1] - ts[i] for i in range(len(ts) - 1)]


def test_roundtrip_and_events():
    link = Link(*pair())
    m = msg(20)
    link.request(0, m)
    link.run()
    assert [(e[1], e[2], e[3], e[4]) for e in link.evs] == [
        (1, EV_RX_FF, N_OK, 20), (1, EV_RX_DONE, N_OK, 20), (0, EV_TX_DONE, N_OK, 20)]
    assert link.evs[1][5] == bytes(m)


def test_stmin_exact_ms():
    link = Link(*pair(TpConfig(), TpConfig(stmin_us=5000, block_size=0)))
    link.request(0, msg(50))
    link.run()
    ts = _cf_times(link)
    assert len(ts) == 7 and ts[0] == 0 and _gaps(ts) == [5000] * 6
    assert link.kinds(0) == [EV_TX_DONE]


def test_stmin_exact_sub_ms():
    for us in (100, 300, 900):
        link = Link(*pair(TpConfig(), TpConfig(stmin_us=us, block_size=0)))
        link.request(0, msg(50))
        link.run()
        assert _gaps(_cf_times(link)) == [us] * 6


def test_stmin_counts_from_end_of_previous_cf():
    # frames take 130 us on the wire: the gap is transmission + STmin
    link = Link(*pair(TpConfig(), TpConfig(stmin_us=1000, block_size=0)), delay_us=130)
    link.request(0, msg(50))
    link.run()
    assert _gaps(_cf_times(link)) == [1130] * 6


def test_stmin_override_and_reserved():
    link = Link(*pair(TpConfig(tx_stmin_override_us=2500), TpConfig(stmin_us=20000, block_size=0)))
    link.request(0, msg(50))
    link.run()
    assert _gaps(_cf_times(link)) == [2500] * 6
    # a reserved STmin byte from the peer means 127 ms
    a = Channel(TpConfig(), client_addr())
    a.request(T0, msg(30), 30)
    pop(a)
    a.confirm(T0, True, 0)
    a.feed_frame(T0, 0x7E8, hexs("30 00 FA"), 3)
    assert pop(a)[0][0] == 0x21
    a.confirm(T0, True, 0)
    a.on_timer(T0 + 126999)
    assert pop(a) is None
    a.on_timer(T0 + 127000)
    assert pop(a)[0][0] == 0x22


def test_block_size_blocks():
    link = Link(*pair(TpConfig(), TpConfig(block_size=3)))
    m = msg(100)                     # FF + 14 CFs
    link.request(0, m)
    link.run()
    seq = "".join("F" if f[2][0] == 0x30 else "C" for f in link.log if f[2][0] & 0xF0 in (0x20, 0x30))
    assert seq == "FCCCFCCCFCCCFCCCFCC"
    assert link.last(1, EV_RX_DONE)[5] == bytes(m)


def test_block_size_with_stmin():
    link = Link(*pair(TpConfig(), TpConfig(block_size=2, stmin_us=1000)), delay_us=100)
    link.request(0, msg(40))         # FF + 5 CFs: blocks of 2
    link.run()
    ts = _cf_times(link)
    # in a block: 100 us on the wire + STmin; between blocks: CF -> FC -> CF
    assert _gaps(ts) == [1100, 200, 1100, 200]


def test_n_bs_timeout_exact():
    link = Link(*pair(TpConfig(n_bs_ms=1000), TpConfig()))
    link.filter = lambda side, i, f: [] if side == 0 else [f]   # the ECU hears nothing
    link.request(0, msg(20))
    link.run()
    assert [e[:5] for e in link.evs] == [(1_000_000, 0, EV_TX_FAILED, N_TIMEOUT_BS, 20)]


def test_late_fc_times_out_and_is_ignored():
    # a frame fed at the very tick of a deadline is taken first (the runner
    # feeds frames before it calls on_timer)
    for late, ok in ((999_999, True), (1_000_000, True), (1_000_001, False), (1_500_000, False)):
        link = Link(*pair(TpConfig(n_bs_ms=1000), TpConfig(n_ar_ms=5000, n_cr_ms=1000)))
        link.delay_us = (0, late)
        link.request(0, msg(20))
        link.run()
        if ok:
            assert link.last(0, EV_TX_DONE) is not None
        else:
            assert link.last(0, EV_TX_FAILED)[:4] == (1_000_000, 0, EV_TX_FAILED, N_TIMEOUT_BS)
            # the ECU sent its FC.CTS; its N_Cr starts at the (late) confirmation
            assert link.last(1, EV_RX_FAILED)[:4] == (late + 1_000_000, 1, EV_RX_FAILED,
                                                     N_TIMEOUT_CR)


def test_lost_cf_n_cr_timeout_exact():
    link = Link(*pair(TpConfig(), TpConfig(n_cr_ms=250, block_size=0, stmin_us=1000)))
    link.filter = lambda side, i, f: [] if (side == 0 and i == 2) else [f]   # CF 2 lost
    link.request(0, msg(30))
    link.run()
    # CF1 at 0, CF2 (lost) at 1 ms, CF3 at 2 ms: wrong SN at once
    assert link.last(1, EV_RX_FAILED)[:4] == (2000, 1, EV_RX_FAILED, N_WRONG_SN)
    link = Link(*pair(TpConfig(), TpConfig(n_cr_ms=250, block_size=0, stmin_us=1000)))
    link.filter = lambda side, i, f: [] if (side == 0 and i >= 2) else [f]   # all after CF1
    link.request(0, msg(30))
    link.run()
    assert link.last(1, EV_RX_FAILED)[:4] == (250_000, 1, EV_RX_FAILED, N_TIMEOUT_CR)
    assert link.last(0, EV_TX_DONE) is not None        # the sender cannot know


def test_reordered_cf_wrong_sn():
    held = []

    def swap(side, i, f):
        if side == 0 and i == 2:
            held.append(f)
            return []
        if side == 0 and i == 3:
            return [f, held[0]]
        return [f]
    link = Link(*pair(TpConfig(), TpConfig(block_size=0)))
    link.filter = swap
    link.request(0, msg(40))
    link.run()
    evs = [e for e in link.evs if e[1] == 1]
    assert [(e[2], e[3]) for e in evs] == [(EV_RX_FF, N_OK), (EV_RX_FAILED, N_WRONG_SN)]


def test_n_as_timeout_exact():
    link = Link(*pair(TpConfig(n_as_ms=70), TpConfig()))
    link.confirm = (False, True)     # the controller never confirms
    link.request(0, msg(5))
    link.run()
    assert link.last(0, EV_TX_FAILED)[:4] == (70_000, 0, EV_TX_FAILED, N_TIMEOUT_A)
    assert link.last(1, EV_RX_DONE) is not None


def test_n_as_not_popped_times_out():
    a = Channel(TpConfig(n_as_ms=10), client_addr())
    a.request(T0, msg(5), 5)         # the adapter never pops (e.g. bus-off)
    assert a.deadline() == (T0 + 10000) % TICKS_PERIOD
    a.on_timer(T0 + 9999)
    assert events(a) == []
    a.on_timer(T0 + 10000)
    assert events(a) == [(EV_TX_FAILED, N_TIMEOUT_A, 5, None)]


def test_n_ar_timeout_exact():
    link = Link(*pair(TpConfig(n_bs_ms=1000), TpConfig(n_ar_ms=300)))
    link.confirm = (True, False)
    link.filter = lambda side, i, f: [] if side == 1 else [f]    # FC lost too
    link.request(0, msg(20))
    link.run()
    assert link.last(1, EV_RX_FAILED)[:4] == (300_000, 1, EV_RX_FAILED, N_TIMEOUT_A)
    assert link.last(0, EV_TX_FAILED)[:4] == (1_000_000, 0, EV_TX_FAILED, N_TIMEOUT_BS)


def test_late_confirmation_of_fc_is_tolerated():
    # the FC's confirmation never comes, but the CFs prove it was sent
    link = Link(*pair(TpConfig(), TpConfig(block_size=2)))
    link.confirm = (True, False)
    m = msg(60)
    link.request(0, m)
    link.run()
    assert link.last(1, EV_RX_DONE)[5] == bytes(m)


def test_confirm_failure_is_n_error():
    a = Channel(TpConfig(), client_addr())
    a.request(T0, msg(5), 5)
    f = pop(a)
    a.confirm(T0 + 5, False, f[3])
    assert events(a) == [(EV_TX_FAILED, N_ERROR, 5, None)]
    b = Channel(TpConfig(), ecu_addr())
    b.feed_frame(T0, 0x7E0, hexs("10 14 00 01 02 03 04 05"), 8)
    f = pop(b)
    b.confirm(T0, False, f[3])
    assert events(b)[-1] == (EV_RX_FAILED, N_ERROR, 20, None)


def test_invalid_flow_status():
    for fs in range(3, 16):
        a = Channel(TpConfig(), client_addr())
        a.request(T0, msg(20), 20)
        a.confirm(T0, True, pop(a)[3])
        a.feed_frame(T0, 0x7E8, bytes((0x30 | fs, 0, 0)), 3)
        assert events(a) == [(EV_TX_FAILED, N_INVALID_FS, 20, None)]


def test_overflow():
    link = Link(*pair(TpConfig(), TpConfig(max_pdu=100)))
    link.request(0, msg(101))
    link.run()
    assert [f[2][0] for f in link.frames(1)] == [0x32]
    assert [e[:5] for e in link.evs] == [(0, 0, EV_TX_FAILED, N_BUFFER_OVFLW, 101)]
    assert link.ch[1].overflows == 1 and not link.ch[1].rx_busy()
    link.request(0, msg(100))        # the same link works afterwards
    link.run()
    assert link.last(1, EV_RX_DONE)[5] == bytes(msg(100))


def test_wait_then_ready():
    link = Link(*pair(TpConfig(), TpConfig(n_br_ms=400, wft_max=5)))
    link.on_event = lambda lk, side, ev: lk.ch[1].hold() if ev == EV_RX_FF else None
    m = msg(30)
    link.request(0, m)
    link.advance(900_000)
    link.ch[1].ready(link.now)
    link.run()
    fcs = [(f[0], f[2][0]) for f in link.frames(1)]
    assert fcs == [(0, 0x31), (400_000, 0x31), (800_000, 0x31), (900_000, 0x30)]
    assert link.last(1, EV_RX_DONE)[5] == bytes(m)
    assert link.last(0, EV_TX_DONE)[0] == 900_000


def test_receiver_wft_overrun():
    link = Link(*pair(TpConfig(n_bs_ms=1000), TpConfig(n_br_ms=400, wft_max=2)))
    link.ch[1].hold()
    link.request(0, msg(30))
    link.run()
    assert [(f[0], f[2][0]) for f in link.frames(1)] == [(0, 0x31), (400_000, 0x31)]
    assert link.last(1, EV_RX_FAILED)[:4] == (800_000, 1, EV_RX_FAILED, N_WFT_OVRN)
    assert link.last(0, EV_TX_FAILED)[:4] == (1_400_000, 0, EV_TX_FAILED, N_TIMEOUT_BS)


def test_receiver_wft_max_zero_never_waits():
    link = Link(*pair(TpConfig(), TpConfig(wft_max=0)))
    link.ch[1].hold()
    link.request(0, msg(30))
    link.run()
    assert link.frames(1) == []
    assert link.last(1, EV_RX_FAILED)[:4] == (0, 1, EV_RX_FAILED, N_WFT_OVRN)


def test_sender_wft_overrun():
    link = Link(*pair(TpConfig(tx_wft_max=2), TpConfig(n_br_ms=100, wft_max=10)))
    link.ch[1].hold()
    link.request(0, msg(30))
    link.run()
    assert link.last(0, EV_TX_FAILED)[:4] == (200_000, 0, EV_TX_FAILED, N_WFT_OVRN)


def test_wait_restarts_n_bs():
    # WAIT every 900 ms with N_Bs 1000 ms: the sender keeps waiting
    link = Link(*pair(TpConfig(n_bs_ms=1000), TpConfig(n_br_ms=900, wft_max=10)))
    link.ch[1].hold()
    link.request(0, msg(30))
    link.advance(5_000_000)
    assert link.ch[0].tx_busy() and link.kinds(0) == []
    link.ch[1].ready(link.now)
    link.run()
    assert link.last(0, EV_TX_DONE)[0] == 5_000_000


def test_no_confirm_mode():
    cfg = TpConfig(tx_confirm=False)
    link = Link(*pair(cfg, TpConfig(tx_confirm=False, stmin_us=2000, block_size=4)))
    link.confirm = (False, False)
    m = msg(100)
    link.request(0, m)
    link.run()
    assert link.last(1, EV_RX_DONE)[5] == bytes(m)
    assert link.last(0, EV_TX_DONE) is not None
    ts = _cf_times(link)
    assert _gaps(ts)[:3] == [2000, 2000, 2000]


def test_timer_across_the_wrap():
    t0 = TICKS_PERIOD - 400_000
    link = Link(*pair(TpConfig(n_bs_ms=1000), TpConfig()), t0=t0)
    link.filter = lambda side, i, f: [] if side == 0 else [f]
    link.request(0, msg(20))
    assert link.ch[0].deadline() == 600_000       # after the wrap
    link.run()
    assert [e[:4] for e in link.evs] == [(1_000_000, 0, EV_TX_FAILED, N_TIMEOUT_BS)]


def test_full_duplex_both_directions_at_once():
    cfg = TpConfig(full_duplex=True, block_size=2, stmin_us=500)
    link = Link(*pair(cfg, cfg), delay_us=120)
    ma, mb = msg(300, 1), msg(200, 2)
    link.ch[0].request(link.now, ma, 300)
    link.ch[1].request(link.now, mb, 200)
    link.run()
    assert link.last(1, EV_RX_DONE)[5] == bytes(ma)
    assert link.last(0, EV_RX_DONE)[5] == bytes(mb)
    assert sorted(link.kinds()) == sorted([EV_RX_FF, EV_RX_FF, EV_RX_DONE, EV_RX_DONE,
                                           EV_TX_DONE, EV_TX_DONE])


def test_half_duplex_collision_both_time_out():
    # both start a segmented message at once: each ignores the other's FF
    link = Link(*pair(TpConfig(n_bs_ms=200), TpConfig(n_bs_ms=300)))
    link.ch[0].request(link.now, msg(20), 20)
    link.ch[1].request(link.now, msg(20), 20)
    link.run()
    assert [e[:4] for e in link.evs] == [(200_000, 0, EV_TX_FAILED, N_TIMEOUT_BS),
                                         (300_000, 1, EV_TX_FAILED, N_TIMEOUT_BS)]
