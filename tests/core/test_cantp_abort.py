# Channel.abort_tx(): the application abandons its transmission (its own
# timeout ran out).  The sender goes idle without an event, pops nothing more,
# ignores a late FC; a reception runs on untouched; the next request starts
# clean.  Virtual time only.
from diagbridge.codes import N_OK, N_TIMEOUT_CR
from diagbridge.cantp import TpConfig, EV_TX_DONE, EV_RX_DONE, EV_RX_FF, EV_RX_FAILED
from cantp_support import T0, pair, msg, pop, drain, events, hexs, Link
from support import run_locked


def _feed(ch, data, can_id=0x7E8, t=T0):
    ch.feed_frame(t, can_id, data, len(data))


def test_abort_while_waiting_for_fc():
    a, _ = pair(TpConfig(n_bs_ms=100000))
    a.request(T0, msg(100), 100)
    assert drain(a, T0)[0][0][0] == 0x10            # FF out, N_Bs runs
    assert a.abort_tx() is True
    assert not a.tx_busy() and a.deadline() is None
    assert events(a) == [] and pop(a) is None
    _feed(a, hexs("30 00 00"))                      # the FC comes after all: ignored
    assert pop(a) is None and events(a) == [] and not a.tx_busy()
    assert a.abort_tx() is False                    # idle: nothing to drop


def test_abort_between_cfs_then_next_request_starts_clean():
    a, _ = pair(TpConfig())
    a.request(T0, msg(100), 100)
    drain(a, T0)
    _feed(a, hexs("30 00 0A"))                      # CTS, STmin 10 ms
    assert drain(a, T0)[0][0][0] == 0x21
    assert a.abort_tx() is True
    a.on_timer(T0 + 20000)
    assert pop(a) is None and events(a) == []
    a.request(T0 + 20000, msg(20, 1), 20)
    assert drain(a, T0 + 20000)[0][0][:2] == b"\x10\x14"   # a new FF, SN restarts
    _feed(a, hexs("30 00 00"), t=T0 + 20000)
    cfs = drain(a, T0 + 20000)
    assert [f[0][0] for f in cfs] == [0x21, 0x22]
    assert [e[:2] for e in events(a)] == [(EV_TX_DONE, N_OK)]


def test_abort_with_a_confirmation_still_owed():
    # FF popped, its confirmation not in yet: the late confirmation is not
    # taken for the next transfer's frame
    a, _ = pair(TpConfig())
    a.request(T0, msg(100), 100)
    ff = pop(a)
    assert a.abort_tx() is True
    a.request(T0, msg(5), 5)
    sf = pop(a)
    a.confirm(T0, True, ff[3])                      # the aborted FF's
    assert events(a) == [] and a.tx_busy()
    a.confirm(T0, True, sf[3])
    assert [e[:2] for e in events(a)] == [(EV_TX_DONE, N_OK)]


def test_abort_leaves_a_reception_alone():
    cfg = TpConfig(full_duplex=True, block_size=0)
    a, _ = pair(cfg)
    _feed(a, hexs("10 0A 00 01 02 03 04 05"))       # reception of 10 bytes
    assert drain(a, T0)[0][0][0] == 0x30
    a.request(T0, msg(50), 50)
    assert drain(a, T0)[0][0][0] == 0x10
    assert [e[0] for e in events(a)] == [EV_RX_FF]
    assert a.abort_tx() is True
    assert a.rx_busy()
    _feed(a, hexs("21 06 07 08 09"))
    assert events(a) == [(EV_RX_DONE, N_OK, 10, bytes(range(10)))]


def test_peer_recovers_after_an_aborted_transfer():
    # the receiver times out (N_Cr) on the abandoned message; the next one arrives
    a, b = pair(TpConfig(), TpConfig(block_size=2, stmin_us=10000))
    link = Link(a, b)
    link.request(0, msg(100))
    link.advance(25000)                             # FF and the first CFs
    assert a.abort_tx() is True
    sent = len(link.frames(0))
    assert 2 <= sent < 15                           # FF + some of the 14 CFs
    link.run()
    assert len(link.frames(0)) == sent              # the bus went quiet on our side
    assert link.last(1, EV_RX_FAILED)[3] == N_TIMEOUT_CR
    link.request(0, msg(30, 3))
    link.run()
    rx = [e for e in link.evs if e[1] == 1 and e[2] == EV_RX_DONE]
    assert len(rx) == 1 and rx[0][5] == bytes(msg(30, 3))
    assert link.kinds(0).count(EV_TX_DONE) == 1


def _abort_cycle(ctx):
    a = ctx[0]
    a.request(T0, ctx[1], 100)
    a.pop_frame(ctx[2])
    a.confirm(T0, True, 0)
    a.abort_tx()


def test_abort_allocates_nothing():
    a, _ = pair(TpConfig())
    ctx = [a, msg(100), bytearray(64)]
    _abort_cycle(ctx)
    run_locked(lambda: _abort_cycle(ctx))
    assert not a.tx_busy()
