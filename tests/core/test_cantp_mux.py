# Many channels on one bus: routing, fairness, confirmations, deadlines.
from diagbridge.clock import ticks_add
from diagbridge.codes import N_TIMEOUT_BS
from diagbridge.cantp import (Channel, Mux, TpConfig, Address, ADDR_NORMAL_11,
                              ADDR_NORMAL_FIXED, TA_FUNCTIONAL, EV_RX_DONE, EV_TX_DONE,
                              EV_TX_FAILED, FLAG_EXT)
from cantp_support import T0, hexs, msg


def _gateway(n=4, **kw):
    chans = [Channel(TpConfig(**kw), Address(ADDR_NORMAL_11, tx_id=0x7E0 + i, rx_id=0x7E8 + i,
                                             func_tx_id=0x7DF)) for i in range(n)]
    return Mux(chans), chans


def _pop(mux):
    out = bytearray(64)
    n = mux.pop_frame(out)
    return (bytes(out[:n]), mux.tx_id, mux.tx_tag) if n else None


def test_routes_by_rx_id():
    mux, chans = _gateway()
    assert mux.feed_frame(T0, 0x7EA, hexs("03 62 F1 90"), 4) == 1
    assert mux.feed_frame(T0, 0x7FF, hexs("03 62 F1 90"), 4) == 0
    assert mux.poll() == EV_RX_DONE and mux.chan == 2 and mux.channel is chans[2]
    assert bytes(mux.channel.payload[:mux.channel.length]) == hexs("62 F1 90")
    assert mux.poll() == 0


def test_functional_frame_reaches_every_matching_channel():
    ecus = [Channel(TpConfig(), Address(ADDR_NORMAL_FIXED, ta=0xF1, sa=0x10 + i, func_ta=0x33))
            for i in range(3)]
    mux = Mux(ecus)
    assert mux.feed_frame(T0, 0x18DB33F1, hexs("02 3E 80"), 3, FLAG_EXT) == 3
    got = []
    while True:
        ev = mux.poll()
        if not ev:
            break
        got.append((mux.chan, ev, mux.channel.ta_type))
    assert got == [(0, EV_RX_DONE, TA_FUNCTIONAL), (1, EV_RX_DONE, TA_FUNCTIONAL),
                   (2, EV_RX_DONE, TA_FUNCTIONAL)]


def test_round_robin_pop_and_confirm_by_tag():
    mux, chans = _gateway()
    for ch in chans:
        ch.request(T0, msg(30), 30)
    firsts = [_pop(mux) for _ in range(4)]
    assert [f[1] for f in firsts] == [0x7E0, 0x7E1, 0x7E2, 0x7E3]
    assert [f[2] for f in firsts] == [0, 2, 4, 6]
    assert _pop(mux) is None
    for f in firsts:
        mux.confirm(T0, True, f[2])
    # flow controls for channels 3 and 1 only: they continue, in turn
    mux.feed_frame(T0, 0x7EB, hexs("30 00 00"), 3)
    mux.feed_frame(T0, 0x7E9, hexs("30 00 00"), 3)
    ids = []
    while True:
        f = _pop(mux)
        if f is None:
            break
        ids.append(f[1])
        mux.confirm(T0, True, f[2])
    assert ids == [0x7E1, 0x7E3, 0x7E1, 0x7E3, 0x7E1, 0x7E3, 0x7E1, 0x7E3]
    evs = []
    while True:
        ev = mux.poll()
        if not ev:
            break
        evs.append((mux.chan, ev))
    assert sorted(evs) == [(1, EV_TX_DONE), (3, EV_TX_DONE)]


def test_deadline_is_the_earliest_and_timers_reach_all():
    chans = [Channel(TpConfig(n_bs_ms=ms), Address(ADDR_NORMAL_11, tx_id=0x700 + i,
                                                    rx_id=0x708 + i))
             for i, ms in enumerate((300, 100, 200))]
    mux = Mux(chans)
    assert mux.deadline() is None
    for ch in chans:
        ch.request(T0, msg(20), 20)
    for _ in range(3):
        f = _pop(mux)
        mux.confirm(T0, True, f[2])
    assert mux.deadline() == ticks_add(T0, 100_000)
    mux.on_timer(ticks_add(T0, 100_000))
    assert mux.poll() == EV_TX_FAILED and mux.chan == 1 and mux.channel.result == N_TIMEOUT_BS
    assert mux.deadline() == ticks_add(T0, 200_000)
    mux.on_timer(ticks_add(T0, 300_000))
    assert sorted([mux.poll(), mux.poll()]) == [EV_TX_FAILED, EV_TX_FAILED]
    assert mux.deadline() is None
