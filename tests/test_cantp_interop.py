"""Interoperability with can-isotp 2.x on python-can's virtual bus (CPython).

Our CanTpChannel (diagbridge.cpy.cantp.blocking) on one end, can-isotp's
NotifierBasedCanStack on the other, in both directions: message sizes
1..4095 and above (32-bit FF_DL escape), classical CAN and CAN FD (64-byte
frames), every addressing format both stacks share, several BS/STmin
settings, functional single frames, and faults.  Real clocks: the timeouts
are generous and no test asserts how fast anything is, only what arrives
(and, for STmin, that no gap is shorter than asked).
"""
import itertools
import os
import queue

import can
import isotp
import pytest

from diagbridge.codes import N_BUFFER_OVFLW, N_TIMEOUT_BS, N_TIMEOUT_CR, N_WRONG_SN
from diagbridge.errors import UsageError
from diagbridge.cpy.cantp.blocking import TransportError, TransportTimeout, open_channel

T = 30.0                        # seconds: generous for a busy 2-core CI
_seq = itertools.count()
AM = isotp.AddressingMode

# name -> (our keywords as the tester, can-isotp Address keywords as the ECU)
ADDRESSING = {
    "normal_11": (dict(tx_id=0x7E0, rx_id=0x7E8),
                  dict(addressing_mode=AM.Normal_11bits, txid=0x7E8, rxid=0x7E0)),
    "normal_29": (dict(addressing_mode="normal_29", tx_id=0x18DA10F1, rx_id=0x18DAF110),
                  dict(addressing_mode=AM.Normal_29bits, txid=0x18DAF110, rxid=0x18DA10F1)),
    "normal_fixed": (dict(addressing_mode="normal_fixed", target_address=0x10,
                          source_address=0xF1),
                     dict(addressing_mode=AM.NormalFixed_29bits, target_address=0xF1,
                          source_address=0x10)),
    "extended_11": (dict(addressing_mode="extended_11", tx_id=0x6F1, rx_id=0x610,
                         target_address=0x10, source_address=0xF1),
                    dict(addressing_mode=AM.Extended_11bits, txid=0x610, rxid=0x6F1,
                         target_address=0xF1, source_address=0x10)),
    "extended_29": (dict(addressing_mode="extended_29", tx_id=0x18DA10F1, rx_id=0x18DAF110,
                         target_address=0x10, source_address=0xF1),
                    dict(addressing_mode=AM.Extended_29bits, txid=0x18DAF110,
                         rxid=0x18DA10F1, target_address=0xF1, source_address=0x10)),
    "mixed_11": (dict(addressing_mode="mixed_11", tx_id=0x7E0, rx_id=0x7E8,
                      address_extension=0x99),
                 dict(addressing_mode=AM.Mixed_11bits, txid=0x7E8, rxid=0x7E0,
                      address_extension=0x99)),
    "mixed_29": (dict(addressing_mode="mixed_29", target_address=0x10, source_address=0xF1,
                      address_extension=0x99),
                 dict(addressing_mode=AM.Mixed_29bits, target_address=0xF1,
                      source_address=0x10, address_extension=0x99)),
}

SIZES = (1, 6, 7, 8, 62, 63, 64, 100, 1000, 4095, 5000, 65535)
MAX = 70000


def _payload(n, salt=0):
    return bytes((i * 7 + salt + (i >> 8)) & 0xFF for i in range(n))


def _frames(fd):
    return (dict(fd=True, tx_dl=64) if fd else {},
            dict(can_fd=True, tx_data_length=64, bitrate_switch=True) if fd else {})


class Peer:
    """can-isotp on its own virtual bus object, plus our channel on another."""

    def __init__(self, mode="normal_11", fd=False, ours=None, theirs=None, addr=None):
        self.name = "interop-%d-%d" % (os.getpid(), next(_seq))
        our_kw, their_addr = ADDRESSING[mode]
        our_fd, their_fd = _frames(fd)
        kw = dict(our_kw, max_frame_size=MAX, n_bs_ms=5000, n_cr_ms=5000, **our_fd)
        kw.update(ours or {})
        params = dict(tx_padding=0xCC, max_frame_size=MAX, rx_flowcontrol_timeout=5000,
                      rx_consecutive_frame_timeout=5000, stmin=0, blocksize=8, **their_fd)
        params.update(theirs or {})
        self.errors = queue.SimpleQueue()
        their_address = isotp.Address(**(addr or their_addr))
        self.bus_ours = can.Bus(interface="virtual", channel=self.name)
        self.bus_theirs = can.Bus(interface="virtual", channel=self.name)
        self.notifier = can.Notifier(self.bus_theirs, [], timeout=0.1)
        self.stack = isotp.NotifierBasedCanStack(
            self.bus_theirs, self.notifier, address=their_address,
            params=params, error_handler=self.errors.put)
        self.stack.start()
        self.ours = open_channel(self.bus_ours, **kw)

    def close(self):
        self.ours.close()
        self.stack.stop()
        self.notifier.stop()
        self.bus_ours.shutdown()
        self.bus_theirs.shutdown()

    def to_theirs(self, data, **kw):
        self.ours.send(data, timeout=T, **kw)
        return self.stack.recv(block=True, timeout=T)

    def to_ours(self, data, **kw):
        self.stack.send(data, **kw)
        return self.ours.recv(timeout=T)


@pytest.fixture
def peer():
    made = []

    def make(*args, **kw):
        p = Peer(*args, **kw)
        made.append(p)
        return p
    yield make
    for p in made:
        p.close()


def _exchange(p, direction, sizes, salt=0):
    for n in sizes:
        data = _payload(n, salt)
        got = p.to_theirs(data) if direction == "ours_to_theirs" else p.to_ours(data)
        assert got is not None, "nothing received for %d bytes" % n
        assert bytes(got) == data, "%d bytes: got %d bytes, first difference at %s" % (
            n, len(got), next((i for i, (a, b) in enumerate(zip(got, data)) if a != b), None))


DIRECTIONS = ("ours_to_theirs", "theirs_to_ours")


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("fd", (False, True), ids=("classic", "fd64"))
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_sizes_normal_11(peer, direction, fd, size):
    _exchange(peer("normal_11", fd), direction, (size,))


@pytest.mark.parametrize("fd", (False, True), ids=("classic", "fd64"))
@pytest.mark.parametrize("mode", sorted(ADDRESSING))
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_addressing(peer, direction, mode, fd):
    # around the SF limits of both prefix lengths and both frame sizes, then FF/CF
    sizes = (1, 5, 6, 7, 8, 60, 61, 62, 63, 200, 4095, 5000)
    _exchange(peer(mode, fd), direction, sizes, salt=len(mode))


@pytest.mark.parametrize("stmin_us", (0, 1000, 500), ids=("st0", "st1ms", "stF5"))
@pytest.mark.parametrize("bs", (0, 8), ids=("bs0", "bs8"))
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_flow_control(peer, direction, bs, stmin_us):
    """The receiver's BS and STmin: ours advertised to can-isotp, theirs honoured by us."""
    stmin_byte = 0xF5 if stmin_us == 500 else stmin_us // 1000
    p = peer("normal_11", ours=dict(block_size=bs, stmin_us=stmin_us),
             theirs=dict(blocksize=bs, stmin=stmin_byte))
    _exchange(p, direction, (300, 1000))


@pytest.mark.parametrize("stmin_us", (1000, 500), ids=("st1ms", "stF5"))
def test_our_sender_never_undershoots_stmin(peer, stmin_us):
    """Every CF gap on the wire is at least the STmin can-isotp asked for."""
    stmin_byte = 0xF5 if stmin_us == 500 else stmin_us // 1000
    p = peer("normal_11", theirs=dict(blocksize=0, stmin=stmin_byte))
    spy = can.Bus(interface="virtual", channel=p.name)
    try:
        data = _payload(400)
        assert p.to_theirs(data) == data
        stamps = []
        while True:
            msg = spy.recv(0)
            if msg is None:
                break
            if msg.arbitration_id == 0x7E0 and msg.data[0] >> 4 == 2:
                stamps.append(msg.timestamp)
    finally:
        spy.shutdown()
    assert len(stamps) == 57                # ceil((400 - 6) / 7) CFs
    gaps_us = [(b - a) * 1e6 for a, b in zip(stamps, stamps[1:])]
    # timestamps are time.time() in bus.send; allow 50 us for clock slew only
    assert min(gaps_us) >= stmin_us - 50, min(gaps_us)


@pytest.mark.parametrize("data_len", (1, 7, 62), ids=("1", "7", "62fd"))
def test_functional_sf_normal_fixed_both_ways(peer, data_len):
    fd = data_len > 7
    data = _payload(data_len, 3)
    # we are the tester (0xF1): 0x18DB10F1 to the ECU 0x10
    p = peer("normal_fixed", fd, ours=dict(func_target_address=0x10))
    assert p.to_theirs(data, functional=True) == data
    # roles swapped: can-isotp is the tester, we are ECU 0x10 listening on 0x18DB10F1
    q = peer("normal_fixed", fd,
             ours=dict(target_address=0xF1, source_address=0x10, func_target_address=0x10),
             addr=dict(addressing_mode=AM.NormalFixed_29bits, target_address=0x10,
                       source_address=0xF1))
    assert q.to_ours(data, target_address_type=isotp.TargetAddressType.Functional) == data


@pytest.mark.parametrize("fd", (False, True), ids=("classic", "fd64"))
def test_functional_sf_normal_11_both_ways(peer, fd):
    # can-isotp sends functional frames on its txid and needs txid != rxid, so
    # one can-isotp stack listens on 0x7DF and another one sends on it.
    n = 62 if fd else 7
    data = _payload(n, 5)
    ours = dict(func_tx_id=0x7DF, func_rx_id=0x7DF)
    p = peer("normal_11", fd, ours=ours,
             addr=dict(addressing_mode=AM.Normal_11bits, txid=0x7DE, rxid=0x7DF))
    assert p.to_theirs(data, functional=True) == data        # our 0x7DF -> their rxid
    with pytest.raises(UsageError):
        p.ours.send(_payload(n + 1), timeout=T, functional=True)
    q = peer("normal_11", fd, ours=ours,
             addr=dict(addressing_mode=AM.Normal_11bits, txid=0x7DF, rxid=0x7DD))
    assert q.to_ours(data) == data                             # their 0x7DF -> our func_rx_id


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_frame_data_optimisation_both_ways(peer, direction):
    """Unpadded frames (CAN frame data optimisation) on both sides."""
    p = peer("normal_11", ours=dict(tx_padding=None), theirs=dict(tx_padding=None))
    _exchange(p, direction, (1, 3, 7, 8, 9, 100, 4095))


def test_overflow_reported_by_can_isotp_receiver(peer):
    p = peer("normal_11", theirs=dict(max_frame_size=100))
    with pytest.raises(TransportError) as ei:
        p.ours.send(_payload(500), timeout=T)
    assert ei.value.result == N_BUFFER_OVFLW and ei.value.name == "N_BUFFER_OVFLW"
    _exchange(p, "ours_to_theirs", (100,))          # the link still works


def test_overflow_sent_to_can_isotp_sender(peer):
    p = peer("normal_11", ours=dict(max_frame_size=100))
    p.stack.send(_payload(500))
    err = p.errors.get(timeout=T)
    assert isinstance(err, isotp.errors.OverflowError)
    assert p.ours.recv(timeout=0.2) is None         # no indication for an OVFLW answer
    _exchange(p, "theirs_to_ours", (100,))


def _raw(name):
    return can.Bus(interface="virtual", channel=name)


def test_sender_without_flow_control_times_out_n_bs(peer):
    name = "interop-nofc-%d-%d" % (os.getpid(), next(_seq))
    ours_bus, silent = _raw(name), _raw(name)
    tp = open_channel(ours_bus, tx_id=0x7E0, rx_id=0x7E8, n_bs_ms=200)
    try:
        with pytest.raises(TransportTimeout) as ei:
            tp.send(_payload(100), timeout=T)
        assert ei.value.result == N_TIMEOUT_BS and ei.value.name == "N_TIMEOUT_BS"
        assert isinstance(ei.value, TransportError) and isinstance(ei.value, TimeoutError)
        ff = silent.recv(T)
        assert ff.arbitration_id == 0x7E0 and bytes(ff.data[:2]) == b"\x10\x64"
        assert silent.recv(0.1) is None             # nothing after the FF
    finally:
        tp.close()
        ours_bus.shutdown()
        silent.shutdown()


def _misbehaving_sender(cf_sn):
    name = "interop-bad-%d-%d" % (os.getpid(), next(_seq))
    ours_bus, raw = _raw(name), _raw(name)
    tp = open_channel(ours_bus, tx_id=0x7E8, rx_id=0x7E0, n_cr_ms=200, raise_rx_errors=True)
    raw.send(can.Message(arbitration_id=0x7E0, is_extended_id=False,
                         data=b"\x10\x14" + bytes(6)))                  # FF, 20 bytes
    fc = raw.recv(T)
    assert fc.arbitration_id == 0x7E8 and fc.data[0] == 0x30          # our FC.CTS
    if cf_sn is not None:
        raw.send(can.Message(arbitration_id=0x7E0, is_extended_id=False,
                             data=bytes([0x20 | cf_sn]) + bytes(7)))
    return tp, ours_bus, raw


@pytest.mark.parametrize("cf_sn, result", ((2, N_WRONG_SN), (None, N_TIMEOUT_CR)),
                         ids=("wrong_sn", "no_cf"))
def test_receiver_reports_misbehaving_sender(cf_sn, result):
    tp, ours_bus, raw = _misbehaving_sender(cf_sn)
    try:
        with pytest.raises(TransportError) as ei:
            tp.recv(timeout=T)
        assert ei.value.result == result
        assert tp.recv(timeout=0.05) is None
    finally:
        tp.close()
        ours_bus.shutdown()
        raw.shutdown()
