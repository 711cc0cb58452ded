# Every state x input of the Sender and Receiver tables (h2 style): an input
# the table ignores changes nothing, a caller's mistake raises UsageError,
# nothing else raises.  Also: the trace hook gets ints only.
from diagbridge.errors import UsageError
from diagbridge.cantp import tx, rx, TpConfig, Channel
from diagbridge.cantp.events import EventRing
from diagbridge.cantp.pci import Pdu
from cantp_support import T0, msg, hexs, client_addr, Link, pair

FAR = T0 + 10_000_000

# Column order of tx.TABLE / rx.TABLE (the const names are private to the module)
TX_IGNORE, TX_BUSY, TX_EARLY_FC, TX_ABORT = 0, 1, 13, 14
RX_IGNORE = 0


def _sender(state):
    ev = EventRing(8)
    s = tx.Sender(TpConfig(), 0, ev)
    out = bytearray(64)
    if state >= 1:
        s.request(T0, msg(40), 40, 0)
    if state >= 2:
        s.pop(out, 0, T0)
    if state >= 3:
        s.confirm(T0, True)
    if state == 4:
        s.on_fc(T0, 0, 0, 10)
        s.pop(out, 0, T0)
        s.confirm(T0, True)
    assert s.state == state
    return s, ev


def _tx_input(s, i):
    out = bytearray(64)
    if i == 0:
        s.request(T0, msg(5), 5, 0)
    elif i == 1:
        s.pop(out, 0, T0)
    elif i in (2, 3):
        s.confirm(T0, i == 2)
    elif 4 <= i <= 7:
        s.on_fc(T0, (0, 1, 2, 9)[i - 4], 0, 0)
    elif i == 8:
        s.on_timer(FAR)
    else:
        busy = s.state != 0
        assert s.abort_tx(T0) == busy


def test_sender_every_state_and_input():
    assert len(tx.TABLE) == tx.N_STATES * tx.N_INPUTS
    for st in range(tx.N_STATES):
        for i in range(tx.N_INPUTS):
            s, ev = _sender(st)
            a = tx.TABLE[st * tx.N_INPUTS + i]
            if a == TX_BUSY:
                try:
                    _tx_input(s, i)
                    assert False, (st, i)
                except UsageError:
                    pass
                assert s.state == st
                continue
            _tx_input(s, i)
            if a == TX_IGNORE:
                assert s.state == st, (st, i)
                assert len(ev) == 0, (st, i)
            elif a == TX_ABORT:
                assert s.state == 0 and s.deadline() is None, (st, i)
                assert len(ev) == 0, (st, i)


def test_sender_abort_column():
    # ABORT: ignored while idle, every busy state goes idle without an event
    col = [tx.TABLE[st * tx.N_INPUTS + tx.N_INPUTS - 1] for st in range(tx.N_STATES)]
    assert col == [TX_IGNORE] + [TX_ABORT] * (tx.N_STATES - 1)


def test_sender_early_fc_only_when_one_is_awaited():
    # FF in flight, its confirmation late: the FC is taken (it proves the FF went out)
    s, ev = _sender(2)
    s.on_fc(T0, 0, 0, 0)
    assert s.state == 1                 # first CF due
    # a CF in the middle of a block in flight: an FC is not awaited, ignored
    s.pop(bytearray(64), 0, T0)
    assert s.state == 2
    s.on_fc(T0, 0, 0, 0)
    assert s.state == 2 and len(ev) == 0
    assert tx.TABLE[2 * tx.N_INPUTS + 4] == TX_EARLY_FC


def _receiver(state):
    ev = EventRing(8)
    buf = bytearray(100)
    r = rx.Receiver(TpConfig(block_size=1), 0, buf, ev)
    out = bytearray(64)
    pdu = Pdu()
    ff = hexs("10 14 00 01 02 03 04 05")
    if state >= 1:
        pdu.decode(ff, 8, 0)
        r.on_ff(T0, ff, 8, pdu)
    if state >= 2:
        if state == 4:
            r.hold()
        r.pop(out, 0, T0)
    if state >= 3:
        r.confirm(T0, True)
    assert r.state == state, (r.state, state)
    ev.clear()
    return r, ev


def _rx_input(r, i):
    pdu = Pdu()
    out = bytearray(64)
    if i == 0:
        d = hexs("02 10 03")
        pdu.decode(d, 3, 0)
        r.on_sf(T0, d, pdu)
    elif i == 1:
        d = hexs("10 09 00 01 02 03 04 05")
        pdu.decode(d, 8, 0)
        r.on_ff(T0, d, 8, pdu)
    elif i == 2:
        d = hexs("21 06 07 08 09 0A 0B 0C")
        pdu.decode(d, 8, 0)
        r.on_cf(T0, d, 8, pdu)
    elif i == 3:
        r.pop(out, 0, T0)
    elif i in (4, 5):
        r.confirm(T0, i == 4)
    elif i == 6:
        r.on_timer(FAR)
    else:
        r.ready(T0)


def test_receiver_every_state_and_input():
    assert len(rx.TABLE) == rx.N_STATES * rx.N_INPUTS
    for st in range(rx.N_STATES):
        for i in range(rx.N_INPUTS):
            r, ev = _receiver(st)
            a = rx.TABLE[st * rx.N_INPUTS + i]
            _rx_input(r, i)
            if a == RX_IGNORE:
                assert r.state == st, (st, i)
                assert len(ev) == 0, (st, i)


def test_trace_hook_gets_ints_only():
    calls = []

    def trace(code, a, b):
        calls.append((code, a, b))
    a = Channel(TpConfig(), client_addr(), trace)
    b_cfg = TpConfig(block_size=2)
    link = Link(a, pair(b_cfg)[1])
    link.request(0, msg(40))
    link.run()
    a.feed_frame(T0, 0x7E8, hexs("21 00"), 2)          # CF while idle: ignored
    a.feed_frame(T0, 0x7E8, hexs("00 00 00"), 3)       # malformed SF
    assert calls
    for c in calls:
        for v in c:
            assert type(v) is int
    codes = set(c[0] for c in calls)
    assert codes == {1, 2, 3, 4}


def test_fast_paths_match_the_tables():
    # Sender.pop and Receiver.cf test the state directly instead of looking the
    # action up: that is right only while one state has the action.
    TX_POP, RX_CF = 3, 3            # _A_POP of tx, _A_CF of rx
    TX_I_POP, RX_I_CF = 1, 2        # input columns
    pops = [st for st in range(tx.N_STATES) if tx.TABLE[st * tx.N_INPUTS + TX_I_POP] == TX_POP]
    cfs = [st for st in range(rx.N_STATES) if rx.TABLE[st * rx.N_INPUTS + RX_I_CF] == RX_CF]
    assert pops == [1]              # _S_DUE
    assert cfs == [3]               # _R_WAIT_CF
    assert rx.R_FC_DUE == 1         # the one state whose POP action is _A_POP
    assert [st for st in range(rx.N_STATES) if rx.TABLE[st * rx.N_INPUTS + 3] == 5] == [1]


def test_fast_and_slow_paths_give_the_same_frames():
    # A CF fed through the channel's fast path (no Pdu decode) and the same CF
    # through Receiver.on_cf (the Pdu path) leave the receiver identical.
    for off in (0, 1):
        bufs = []
        for fast in (True, False):
            ev = EventRing(8)
            buf = bytearray(40)
            r = rx.Receiver(TpConfig(block_size=0), off, buf, ev)
            pdu = Pdu()
            ff = bytearray(8)
            ff[off] = 0x10
            ff[off + 1] = 20
            for i in range(off + 2, 8):
                ff[i] = i
            pdu.decode(ff, 8, off)
            r.on_ff(T0, ff, 8, pdu)
            r.pop(bytearray(64), off, T0)
            r.confirm(T0, True)
            for sn in (1, 2, 3):
                cf = bytearray(8)
                cf[off] = 0x20 | sn
                for i in range(off + 1, 8):
                    cf[i] = 0x40 + sn * 8 + i
                if fast:
                    r.cf(T0 + sn, cf, 8, sn)
                else:
                    pdu.decode(cf, 8, off)
                    r.on_cf(T0 + sn, cf, 8, pdu)
            bufs.append((bytes(buf), r.state, r.deadline(), len(ev)))
        assert bufs[0] == bufs[1], off
