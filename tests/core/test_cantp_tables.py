# The seed's "unexpected N_PDU" tables, one test per cell, half and full duplex.
#
# Rows: idle / segmented transmission in progress / segmented reception in
# progress (+ both, full duplex only).  Columns: SF, FF, CF, FC, unknown.
from diagbridge.codes import N_UNEXP_PDU, N_OK
from diagbridge.errors import UsageError
from diagbridge.cantp import (Channel, TpConfig, Address, ADDR_NORMAL_11, EV_RX_DONE,
                              EV_RX_FF, EV_RX_FAILED, EV_TX_DONE)
from cantp_support import T0, pop, drain, hexs, msg, events
from support import raises

SF = hexs("02 10 03 CC CC CC CC CC")
FF = hexs("10 14 00 01 02 03 04 05")
CF = hexs("21 06 07 08 09 0A 0B 0C")
FC = hexs("30 00 00 CC CC CC CC CC")
UNKNOWN = (hexs("40 01 02 03 04 05 06 07"), hexs("F0 01 02 03 04 05 06 07"))


def _ecu(full):
    return Channel(TpConfig(full_duplex=full, stmin_us=0, block_size=0),
                   Address(ADDR_NORMAL_11, tx_id=0x7E8, rx_id=0x7E0))


def _feed(ch, data, t=T0):
    ch.feed_frame(t, 0x7E0, data, len(data))


def _snap(ch):
    return (ch.tx_busy(), ch.rx_busy(), ch.deadline())


def _idle(full):
    return _ecu(full)


def _tx_segmenting(full):
    """A 20-byte response: FF sent, awaiting the FC."""
    ch = _ecu(full)
    ch.request(T0, msg(20), 20)
    assert len(drain(ch, T0)) == 1
    return ch


def _tx_between_cfs(full):
    """FC.CTS with STmin 10 ms received, first CF sent: no FC is awaited now."""
    ch = _tx_segmenting(full)
    _feed(ch, hexs("30 00 0A"))
    assert drain(ch, T0)[0][0][0] == 0x21
    return ch


def _rx_in_progress(full):
    """Receiving 20 bytes: FF in, FC.CTS out, awaiting CF 1."""
    ch = _ecu(full)
    _feed(ch, FF)
    assert drain(ch, T0)[0][0][0] == 0x30
    assert [e[0] for e in events(ch)] == [EV_RX_FF]
    return ch


def _ignored(make, full, frame):
    ch = make(full)
    before = _snap(ch)
    _feed(ch, frame)
    assert events(ch) == [] and pop(ch) is None and _snap(ch) == before
    return ch


def _new_sf(ch):
    assert events(ch) == [(EV_RX_DONE, N_OK, 2, b"\x10\x03")]


def _new_ff(ch):
    assert events(ch) == [(EV_RX_FF, N_OK, 20, None)]
    assert pop(ch)[0][0] == 0x30


# -- idle (same in both modes) ---------------------------------------------
def test_idle_sf_starts_new_message():
    for full in (False, True):
        ch = _idle(full)
        _feed(ch, SF)
        _new_sf(ch)


def test_idle_ff_starts_new_message():
    for full in (False, True):
        ch = _idle(full)
        _feed(ch, FF)
        _new_ff(ch)


def test_idle_cf_fc_unknown_ignored():
    for full in (False, True):
        for fr in (CF, FC) + UNKNOWN:
            _ignored(_idle, full, fr)


# -- segmented transmission in progress ---------------------------------------
def test_half_tx_sf_ignored():
    _ignored(_tx_segmenting, False, SF)


def test_half_tx_ff_ignored():
    _ignored(_tx_segmenting, False, FF)


def test_half_and_full_tx_cf_ignored():
    for full in (False, True):
        _ignored(_tx_segmenting, full, CF)


def test_tx_unexpected_fc_ignored():
    for full in (False, True):
        ch = _ignored(_tx_between_cfs, full, FC)
        # ... and the STmin of the FC that was awaited still holds
        assert pop(ch) is None
        ch.on_timer(T0 + 9999)
        assert pop(ch) is None
        ch.on_timer(T0 + 10000)
        assert pop(ch)[0][0] == 0x22


def test_tx_awaited_fc_processed():
    for full in (False, True):
        ch = _tx_segmenting(full)
        _feed(ch, FC)
        assert [f[0][0] for f in drain(ch, T0)] == [0x21, 0x22]
        assert events(ch)[0][0] == EV_TX_DONE


def test_tx_unknown_ignored():
    for full in (False, True):
        for fr in UNKNOWN:
            _ignored(_tx_segmenting, full, fr)


def test_full_tx_sf_processed():
    ch = _tx_segmenting(True)
    _feed(ch, SF)
    _new_sf(ch)
    assert ch.tx_busy()
    _feed(ch, FC)                   # the transmission goes on
    assert len(drain(ch, T0)) == 2 and events(ch)[0][0] == EV_TX_DONE


def test_full_tx_ff_processed():
    ch = _tx_segmenting(True)
    _feed(ch, FF)
    assert events(ch) == [(EV_RX_FF, N_OK, 20, None)]
    fc = pop(ch)
    assert fc[0][0] == 0x30 and fc[3] == 1
    ch.confirm(T0, True, 1)
    _feed(ch, FC)
    assert [f[0][0] for f in drain(ch, T0)] == [0x21, 0x22]
    _feed(ch, CF)
    _feed(ch, hexs("22 0D 0E 0F 10 11 12 13"))
    kinds = [e[0] for e in events(ch)]
    assert sorted(kinds) == [EV_TX_DONE, EV_RX_DONE]


# -- segmented reception in progress (same in both modes) ---------------------
def test_rx_sf_terminates_and_starts_new():
    for full in (False, True):
        ch = _rx_in_progress(full)
        _feed(ch, SF)
        assert events(ch) == [(EV_RX_FAILED, N_UNEXP_PDU, 20, None),
                              (EV_RX_DONE, N_OK, 2, b"\x10\x03")]
        assert not ch.rx_busy()


def test_rx_ff_terminates_and_starts_new():
    for full in (False, True):
        ch = _rx_in_progress(full)
        _feed(ch, hexs("10 09 AA BB CC DD EE FF"))
        assert events(ch) == [(EV_RX_FAILED, N_UNEXP_PDU, 20, None), (EV_RX_FF, N_OK, 9, None)]
        assert pop(ch)[0][0] == 0x30
        ch.confirm(T0, True, 1)
        _feed(ch, hexs("21 99 88 CC CC CC CC CC"))
        assert events(ch) == [(EV_RX_DONE, N_OK, 9, hexs("AA BB CC DD EE FF 99 88 CC"))]


def test_rx_awaited_cf_processed():
    for full in (False, True):
        ch = _rx_in_progress(full)
        _feed(ch, CF)
        _feed(ch, hexs("22 0D 0E 0F 10 11 12 13"))
        assert events(ch) == [(EV_RX_DONE, N_OK, 20, bytes(range(20)))]


def test_rx_unawaited_cf_ignored():
    # block size 1: after CF 1 the receiver owes an FC; a CF now is not awaited
    for full in (False, True):
        ch = Channel(TpConfig(full_duplex=full, block_size=1),
                     Address(ADDR_NORMAL_11, tx_id=0x7E8, rx_id=0x7E0))
        _feed(ch, FF)
        drain(ch, T0)
        events(ch)
        _feed(ch, CF)
        before = _snap(ch)
        _feed(ch, hexs("22 0D 0E 0F 10 11 12 13"))
        assert events(ch) == [] and _snap(ch) == before
        assert pop(ch)[0] == hexs("30 01 00 CC CC CC CC CC")


def test_rx_fc_and_unknown_ignored():
    for full in (False, True):
        for fr in (FC,) + UNKNOWN:
            ch = _ignored(_rx_in_progress, full, fr)
            _feed(ch, CF)               # the reception is unharmed
            _feed(ch, hexs("22 0D 0E 0F 10 11 12 13"))
            assert events(ch)[0][0] == EV_RX_DONE


# -- both directions (full duplex only) ---------------------------------------
def _both():
    ch = _rx_in_progress(True)
    ch.request(T0, msg(20), 20)
    assert drain(ch, T0)[0][0][0] == 0x10
    return ch


def test_full_both_sf_terminates_reception_only():
    ch = _both()
    _feed(ch, SF)
    assert events(ch) == [(EV_RX_FAILED, N_UNEXP_PDU, 20, None), (EV_RX_DONE, N_OK, 2, b"\x10\x03")]
    assert ch.tx_busy()


def test_full_both_ff_terminates_reception_only():
    ch = _both()
    _feed(ch, hexs("10 09 AA BB CC DD EE FF"))
    assert [e[:2] for e in events(ch)] == [(EV_RX_FAILED, N_UNEXP_PDU), (EV_RX_FF, N_OK)]
    assert ch.tx_busy()


def test_full_both_cf_goes_to_reception():
    ch = _both()
    _feed(ch, CF)
    _feed(ch, hexs("22 0D 0E 0F 10 11 12 13"))
    assert events(ch) == [(EV_RX_DONE, N_OK, 20, bytes(range(20)))]
    assert ch.tx_busy()


def test_half_duplex_refuses_segmented_send_while_receiving():
    ch = _rx_in_progress(False)
    assert raises(UsageError, ch.request, T0, msg(20), 20)
    ch.request(T0, msg(3), 3)           # a single frame is allowed
    ch2 = _rx_in_progress(True)
    ch2.request(T0, msg(20), 20)        # full duplex: both directions at once


def test_request_while_sending_is_a_usage_error():
    ch = _tx_segmenting(False)
    assert raises(UsageError, ch.request, T0, msg(3), 3)
    assert raises(UsageError, _ecu(False).request, T0, msg(3), 0)
    assert raises(UsageError, _ecu(False).request, T0, msg(3), 4)
