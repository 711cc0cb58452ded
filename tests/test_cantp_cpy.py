"""The CPython CAN-TP adapter (diagbridge.cpy.cantp_*): parameters, errors and
the behaviour of its I/O loop, over python-can's virtual bus.  Real clocks:
generous timeouts, no timing assertions."""
import asyncio
import itertools
import os
import queue
import threading
import time

import can
import isotp
import pytest

from diagbridge.cantp import (Address, TpConfig, ADDR_NORMAL_11, ADDR_NORMAL_FIXED,
                              ADDR_EXTENDED_11, ADDR_MIXED_11, ADDR_MIXED_29,
                              ADDR_NORMAL_29, ADDR_EXTENDED_29)
from diagbridge.codes import N_ERROR, N_TIMEOUT_BS
from diagbridge.errors import ConfigError, DiagbridgeError, UsageError
from diagbridge.cpy.cantp.base import channel_config, copies_on_send, transport_error
from diagbridge.cpy.cantp.blocking import (CanTpBus, TransportError, TransportTimeout,
                                      open_channel)
from diagbridge.cpy.clock import now_us

T = 30.0
_seq = itertools.count()


@pytest.fixture
def wire():
    name = "cpy-%d-%d" % (os.getpid(), next(_seq))
    made = []

    def bus():
        b = can.Bus(interface="virtual", channel=name)
        made.append(b)
        return b
    yield bus
    for b in made:
        b.shutdown()


def test_now_us_is_a_wrapping_tick():
    t = now_us()
    assert 0 <= t < 2 ** 29


@pytest.mark.parametrize("mode, fmt", (
    ("normal_11", ADDR_NORMAL_11), ("Normal_29bits", ADDR_NORMAL_29),
    ("normal_fixed", ADDR_NORMAL_FIXED), ("extended_11", ADDR_EXTENDED_11),
    (isotp.AddressingMode.Extended_29bits, ADDR_EXTENDED_29),
    ("mixed_11", ADDR_MIXED_11), (ADDR_MIXED_29, ADDR_MIXED_29)))
def test_addressing_mode_names(mode, fmt):
    kw = {
        ADDR_NORMAL_11: dict(tx_id=0x7E0, rx_id=0x7E8),
        ADDR_NORMAL_29: dict(tx_id=0x18DA10F1, rx_id=0x18DAF110),
        ADDR_NORMAL_FIXED: dict(target_address=0x10, source_address=0xF1),
        ADDR_EXTENDED_11: dict(tx_id=0x6F1, rx_id=0x610, target_address=0x10,
                               source_address=0xF1),
        ADDR_EXTENDED_29: dict(tx_id=0x18DA10F1, rx_id=0x18DAF110, target_address=0x10,
                               source_address=0xF1),
        ADDR_MIXED_11: dict(tx_id=0x7E0, rx_id=0x7E8, address_extension=0x99),
        ADDR_MIXED_29: dict(target_address=0x10, source_address=0xF1,
                            address_extension=0x99),
    }[fmt]
    cfg, addr = channel_config(addressing_mode=mode, **kw)
    assert addr.fmt == fmt


def test_keywords_map_to_the_core():
    cfg, addr = channel_config(
        addressing_mode="normal_fixed", target_address=0x10, source_address=0xF1,
        priority=3, func_target_address=0x33, block_size=4, stmin_us=900,
        tx_stmin_override_us=200, tx_padding=None, fd=True, tx_dl=32,
        bitrate_switch=False, max_frame_size=9000, wft_max=2, tx_wft_max=5,
        n_as_ms=11, n_ar_ms=12, n_bs_ms=13, n_br_ms=14, n_cs_ms=15, n_cr_ms=16,
        full_duplex=True, events=9)
    assert (addr.tx_id, addr.rx_id, addr.ftx_id) == (0x0CDA10F1, 0x00DAF110, 0x0CDB33F1)
    assert (cfg.block_size, cfg.stmin_us, cfg.tx_stmin_override_us, cfg.padding) == \
        (4, 900, 200, None)
    assert (cfg.fd, cfg.tx_dl, cfg.brs, cfg.max_pdu, cfg.wft_max, cfg.tx_wft_max) == \
        (True, 32, False, 9000, 2, 5)
    assert (cfg.n_as_ms, cfg.n_ar_ms, cfg.n_bs_ms, cfg.n_br_ms, cfg.n_cs_ms, cfg.n_cr_ms) == \
        (11, 12, 13, 14, 15, 16)
    assert cfg.full_duplex is True and cfg.events == 9


def test_ready_made_config_and_address():
    c, a = TpConfig(block_size=0), Address(ADDR_NORMAL_11, tx_id=1, rx_id=2)
    assert channel_config(config=c, address=a) == (c, a)
    with pytest.raises(TypeError):
        channel_config(config=c, block_size=3)
    with pytest.raises(TypeError):
        channel_config(address=a, tx_id=3)


def test_bad_parameters():
    with pytest.raises(TypeError):
        channel_config(tx_id=1, rx_id=2, blocksize=8)          # can-isotp's spelling
    with pytest.raises(ConfigError, match="addressing_mode"):
        channel_config(addressing_mode="normal_13", tx_id=1, rx_id=2)
    with pytest.raises(ConfigError, match="stmin_us"):
        channel_config(tx_id=1, rx_id=2, stmin_us=150)
    with pytest.raises(ConfigError, match="tx_id"):
        channel_config(tx_id=0x800, rx_id=2)


def test_error_classes_carry_the_result():
    e = transport_error(N_TIMEOUT_BS, "transmission")
    assert isinstance(e, TransportTimeout) and isinstance(e, TimeoutError)
    assert isinstance(e, TransportError) and isinstance(e, OSError)
    assert isinstance(e, DiagbridgeError)
    assert (e.result, e.name, str(e)) == (N_TIMEOUT_BS, "N_TIMEOUT_BS",
                                          "transmission failed: N_TIMEOUT_BS")
    e = transport_error(N_ERROR, "reception")
    assert type(e) is TransportError and e.name == "N_ERROR"


class _FailingBus(can.BusABC):
    """Every bus.send fails, as a controller in bus-off would."""

    def __init__(self):
        super().__init__(channel="failing")

    def send(self, msg, timeout=None):
        raise can.CanOperationError("bus off")

    def _recv_internal(self, timeout):
        return None, False


def test_failed_bus_send_ends_the_transfer_with_n_error():
    bus = _FailingBus()
    try:
        with open_channel(bus, tx_id=0x7E0, rx_id=0x7E8) as tp:
            for n in (5, 100):                                  # SF and FF
                with pytest.raises(TransportError) as ei:
                    tp.send(bytes(n), timeout=T)
                assert ei.value.result == N_ERROR
    finally:
        bus.shutdown()


def test_misuse_is_usage_error(wire):
    with open_channel(wire(), tx_id=0x7E0, rx_id=0x7E8) as tp:
        with pytest.raises(UsageError):
            tp.send(b"", timeout=T)
        with pytest.raises(UsageError):                         # no functional id
            tp.send(b"\x3E\x80", timeout=T, functional=True)


def test_caller_timeout_is_transport_timeout_without_result(wire):
    a, _silent = wire(), wire()
    with open_channel(a, tx_id=0x7E0, rx_id=0x7E8, n_bs_ms=20000) as tp:
        with pytest.raises(TransportTimeout) as ei:
            tp.send(bytes(100), timeout=0.2)
        assert ei.value.result is None and ei.value.name is None


def test_sends_queue_in_call_order(wire):
    with open_channel(wire(), tx_id=0x7E0, rx_id=0x7E8) as t, \
            open_channel(wire(), tx_id=0x7E8, rx_id=0x7E0) as e:
        msgs = [bytes([i]) * (1 + i * 50) for i in range(6)]
        threads = []
        for m in msgs:                   # one thread each, started in order
            th = threading.Thread(target=t.send, args=(m, T))
            th.start()
            th.join(0.01)
            threads.append(th)
        got = [e.recv(timeout=T) for _ in msgs]
        for th in threads:
            th.join(T)
        assert sorted(got) == sorted(msgs)


def test_half_duplex_send_during_a_reception_is_deferred_not_refused(wire):
    """e sends a multi-frame message while it receives one (half duplex: the
    core refuses the request then); the adapter starts it after the reception
    instead of failing, and both messages arrive intact."""
    spy = wire()
    with open_channel(wire(), tx_id=0x7E0, rx_id=0x7E8) as t, \
            open_channel(wire(), tx_id=0x7E8, rx_id=0x7E0, block_size=1, stmin_us=1000) as e:
        long = bytes(range(256)) * 2        # 73 CFs, paced by e: >= 73 ms
        th = threading.Thread(target=t.send, args=(long, T))
        th.start()
        while True:                         # the first CF: e is receiving now
            msg = spy.recv(T)
            assert msg is not None
            if msg.arbitration_id == 0x7E0 and msg.data[0] >> 4 == 2:
                break
        e.send(b"\x02" * 50, timeout=T)
        assert e.recv(timeout=T) == long
        assert t.recv(timeout=T) == b"\x02" * 50
        th.join(T)


@pytest.mark.parametrize("spin_us", (0, 5000))
def test_paced_transfer_with_and_without_spin(wire, spin_us):
    with CanTpBus(wire(), spin_us=spin_us) as tb, CanTpBus(wire(), spin_us=spin_us) as eb:
        t = tb.open(tx_id=0x7E0, rx_id=0x7E8)
        e = eb.open(tx_id=0x7E8, rx_id=0x7E0, stmin_us=500, block_size=4)
        t.send(bytes(200), timeout=T)
        assert e.recv(timeout=T) == bytes(200)


def test_spin_us_must_be_a_non_negative_int(wire):
    with pytest.raises(ValueError):
        CanTpBus(wire(), spin_us=-1)


def test_virtual_bus_is_read_by_the_io_thread_and_left_clean(wire):
    """On python-can's virtual bus the I/O thread reads the bus itself (no
    Notifier thread; a request wakes it with a marker put into the bus's own
    queue, never sent): after close nothing of ours is left in that queue."""
    a, spy = wire(), wire()
    before = threading.active_count()
    t = open_channel(a, tx_id=0x7E0, rx_id=0x7E8)
    assert threading.active_count() == before + 1
    with open_channel(wire(), tx_id=0x7E8, rx_id=0x7E0) as e:
        for n in (5, 300, 7):
            t.send(bytes(range(n % 256)) * (n // 256 + 1), timeout=T)
            assert e.recv(timeout=T) == bytes(range(n % 256)) * (n // 256 + 1)
            e.send(b"\x62" * n, timeout=T)
            assert t.recv(timeout=T) == b"\x62" * n
    t.close()
    spy.send(can.Message(arbitration_id=0x123, data=b"\x01", is_extended_id=False))
    m = a.recv(T)
    assert m.arbitration_id == 0x123 and not m.is_error_frame
    assert a.recv(0) is None


def test_virtual_bus_with_filters_is_read_through_a_notifier(wire):
    a = wire()
    a.set_filters([{"can_id": 0x7E8, "can_mask": 0x7FF, "extended": False}])
    before = threading.active_count()
    with open_channel(a, tx_id=0x7E0, rx_id=0x7E8) as t, \
            open_channel(wire(), tx_id=0x7E8, rx_id=0x7E0) as e:
        assert threading.active_count() >= before + 3      # t: loop + Notifier
        t.send(bytes(100), timeout=T)
        assert e.recv(timeout=T) == bytes(100)
        e.send(bytes(range(200)), timeout=T)
        assert t.recv(timeout=T) == bytes(range(200))


def test_reused_message_objects_never_alias_on_the_wire(wire):
    """The virtual bus copies every frame it is given, so the engine refills one
    can.Message per frame there; every frame on the wire is still its own."""
    fb = _FailingBus()
    try:
        assert copies_on_send(wire()) and not copies_on_send(fb)
    finally:
        fb.shutdown()
    spy = wire()
    data = bytes(range(256)) * 4
    with open_channel(wire(), tx_id=0x7E0, rx_id=0x7E8) as t, \
            open_channel(wire(), tx_id=0x7E8, rx_id=0x7E0, block_size=0) as e:
        t.send(data, timeout=T)
        assert e.recv(timeout=T) == data
    frames = []
    while True:
        m = spy.recv(0)
        if m is None:
            break
        frames.append(m)
    tx = [m for m in frames if m.arbitration_id == 0x7E0]
    got = bytes(tx[0].data[2:]) + b"".join(bytes(m.data[1:]) for m in tx[1:])
    assert got[:len(data)] == data
    assert [m.data[0] & 0x0F for m in tx[1:4]] == [1, 2, 3]


def _spy_waits(spy, can_id, until_n, timeout=T):
    """Read the wire until until_n FC.WAIT frames from can_id went by."""
    n = 0
    end = time.monotonic() + timeout
    while n < until_n:
        assert time.monotonic() < end, "no FC.WAIT on the bus"
        m = spy.recv(0.1)
        if m is not None and m.arbitration_id == can_id and m.data[0] == 0x31:
            n += 1
    return n


@pytest.mark.parametrize("how", ("hold", "rx_queue_max"))
def test_can_isotp_sender_honours_our_flow_control_wait(wire, how):
    """can-isotp sends to a held channel: FC.WAIT on the bus (every n_br_ms),
    the transfer completes once the channel is ready again."""
    spy, theirs = wire(), wire()
    notifier = can.Notifier(theirs, [], timeout=0.1)
    errors = queue.SimpleQueue()
    stack = isotp.NotifierBasedCanStack(
        theirs, notifier,
        address=isotp.Address(isotp.AddressingMode.Normal_11bits, txid=0x7E0, rxid=0x7E8),
        params=dict(wftmax=255, rx_flowcontrol_timeout=5000, blocksize=8, stmin=0),
        error_handler=errors.put)
    stack.start()
    kw = dict(rx_queue_max=1) if how == "rx_queue_max" else {}
    try:
        with open_channel(wire(), tx_id=0x7E8, rx_id=0x7E0, n_br_ms=20, wft_max=255,
                          **kw) as e:
            if how == "hold":
                e.hold()
            else:
                stack.send(b"\x01" * 30)              # waits in our queue: full
                _until_sent(stack)
            data = bytes(range(256)) + bytes(44)
            stack.send(data)
            _spy_waits(spy, 0x7E8, 3)
            assert stack.transmitting()
            if how == "hold":
                assert e.recv(timeout=0) is None
                e.ready()
            else:
                assert e.recv(timeout=T) == b"\x01" * 30   # drained: ready again
            assert e.recv(timeout=T) == data
            _until_sent(stack)
    finally:
        stack.stop()
        notifier.stop()
    assert errors.empty()


def _until_sent(stack):
    end = time.monotonic() + T
    while stack.transmitting():
        assert time.monotonic() < end
        time.sleep(0.005)


def test_hold_reaches_wft_max_then_the_reception_fails(wire):
    spy = wire()
    with open_channel(wire(), tx_id=0x7E0, rx_id=0x7E8, tx_wft_max=100) as t, \
            open_channel(wire(), tx_id=0x7E8, rx_id=0x7E0, n_br_ms=10, wft_max=3,
                         raise_rx_errors=True) as e:
        e.hold()
        with pytest.raises(TransportError):     # the receiver gave up: no FC any more
            t.send(bytes(100), timeout=T)
        with pytest.raises(TransportError) as ei:
            e.recv(timeout=T)
        assert ei.value.name == "N_WFT_OVRN"
        assert _spy_count(spy, 0x7E8, 0x31) == 3
        e.ready()
        t.send(bytes(100), timeout=T)            # and after ready() all is normal
        assert e.recv(timeout=T) == bytes(100)


def _spy_count(spy, can_id, pci):
    n = 0
    while True:
        m = spy.recv(0.05)
        if m is None:
            return n
        if m.arbitration_id == can_id and m.data[0] == pci:
            n += 1


def test_rx_queue_max_must_be_a_positive_int(wire):
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError):
            open_channel(wire(), tx_id=0x7E0, rx_id=0x7E8, rx_queue_max=bad)
    with CanTpBus(wire()) as tb:
        with pytest.raises(ValueError):
            tb.open(tx_id=0x7E0, rx_id=0x7E8, rx_queue_max=0)


def test_caller_timeout_of_a_queued_send_never_starts_it(wire):
    """Two sends queued on one channel; the second's caller gives up while the
    first is still running: the first completes, the second never goes out."""
    spy = wire()
    with open_channel(wire(), tx_id=0x7E0, rx_id=0x7E8) as t, \
            open_channel(wire(), tx_id=0x7E8, rx_id=0x7E0, n_br_ms=20, wft_max=255) as e:
        e.hold()
        first = threading.Thread(target=t.send, args=(b"\x01" * 100, T))
        first.start()
        _spy_waits(spy, 0x7E8, 1)
        with pytest.raises(TransportTimeout):
            t.send(b"\x02" * 100, timeout=0.1)
        e.ready()
        first.join(T)
        assert e.recv(timeout=T) == b"\x01" * 100
        t.send(b"\x03" * 5, timeout=T)
        assert e.recv(timeout=T) == b"\x03" * 5


def test_async_cancelled_send_aborts_and_recv_message(wire):
    """asyncio: a cancelled send aborts its transfer like a timeout does;
    recv_message tells a functional SF from a physical message."""
    from diagbridge.cpy.cantp.aio import AsyncCanTpBus
    spy, peer = wire(), wire()

    async def main():
        async with AsyncCanTpBus(wire()) as tb:
            t = tb.open(tx_id=0x7E0, rx_id=0x7E8, func_tx_id=0x7DF, n_bs_ms=60000)
            task = asyncio.ensure_future(t.send(bytes(100), T))
            ff = await asyncio.to_thread(spy.recv, T)
            assert ff.data[0] == 0x10
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            peer.send(can.Message(arbitration_id=0x7E8, data=b"\x30\x00\x00",
                                  is_extended_id=False))
            assert (await asyncio.to_thread(spy.recv, 0.3)).arbitration_id == 0x7E8
            assert await asyncio.to_thread(spy.recv, 0.3) is None      # no CF
            while peer.recv(0) is not None:       # the aborted FF: not for the new peer
                pass
            async with AsyncCanTpBus(peer) as eb:
                e = eb.open(tx_id=0x7E8, rx_id=0x7E0, func_rx_id=0x7DF)
                await t.send(b"\x3E\x80", T, functional=True)
                await t.send(bytes(range(40)), T)
                f = await e.recv_message(timeout=T)
                p = await e.recv_message(timeout=T)
                assert (f.data, f.functional) == (b"\x3E\x80", True)
                assert (p.data, p.functional) == (bytes(range(40)), False)
    asyncio.run(main())


# -- a peer's broken transfer to us: skipped and reported, or raised --------------------

def _broken_then_good(raw):
    """FF of 20 bytes, our FC, a CF with SN 2 (N_WRONG_SN); then a good SF."""
    raw.send(can.Message(arbitration_id=0x7E0, is_extended_id=False,
                         data=b"\x10\x14" + bytes(6)))
    fc = raw.recv(T)
    assert fc.arbitration_id == 0x7E8 and fc.data[0] == 0x30
    raw.send(can.Message(arbitration_id=0x7E0, is_extended_id=False,
                         data=b"\x22" + bytes(7)))
    raw.send(can.Message(arbitration_id=0x7E0, is_extended_id=False,
                         data=b"\x03\x22\xF1\x90"))


def test_broken_reception_is_skipped_counted_and_reported(wire):
    from diagbridge.codes import N_WRONG_SN
    raw = wire()
    seen = []
    with open_channel(wire(), tx_id=0x7E8, rx_id=0x7E0, on_error=seen.append) as e:
        assert e.raise_rx_errors is False and e.rx_errors[N_WRONG_SN] == 0
        _broken_then_good(raw)
        assert e.recv(timeout=T) == b"\x22\xF1\x90"
        assert e.rx_errors[N_WRONG_SN] == 1 and sum(e.rx_errors.values()) == 1
        assert seen == [N_WRONG_SN]
        assert e.recv(timeout=0.05) is None


def test_broken_reception_raises_with_the_option(wire):
    from diagbridge.codes import N_WRONG_SN
    raw = wire()
    seen = []
    with open_channel(wire(), tx_id=0x7E8, rx_id=0x7E0, raise_rx_errors=True,
                      on_error=seen.append) as e:
        _broken_then_good(raw)
        with pytest.raises(TransportError) as ei:
            e.recv(timeout=T)
        assert ei.value.result == N_WRONG_SN and ei.value.name == "N_WRONG_SN"
        assert e.recv(timeout=T) == b"\x22\xF1\x90"     # raised once, then the next one
        assert e.rx_errors[N_WRONG_SN] == 1 and seen == [N_WRONG_SN]
        # per call: the default channel raises when one recv() asks for it
        e.raise_rx_errors = False
        _broken_then_good(raw)
        with pytest.raises(TransportError) as ei:
            e.recv(timeout=T, raise_rx_errors=True)
        assert ei.value.result == N_WRONG_SN and e.rx_errors[N_WRONG_SN] == 2
        assert e.recv(timeout=T) == b"\x22\xF1\x90"


def test_n_cr_timeout_is_skipped_within_the_callers_timeout(wire):
    """A silent sender (N_TIMEOUT_CR after 100 ms) while recv() waits: the
    wait goes on past the failure and ends at the caller's timeout."""
    from diagbridge.codes import N_TIMEOUT_CR
    raw = wire()
    with CanTpBus(wire()) as tb:
        e = tb.open(tx_id=0x7E8, rx_id=0x7E0, n_cr_ms=100)
        raw.send(can.Message(arbitration_id=0x7E0, is_extended_id=False,
                             data=b"\x10\x14" + bytes(6)))
        assert e.recv(timeout=1.0) is None
        assert dict(e.rx_errors) == {N_TIMEOUT_CR: 1}


def test_a_failing_on_error_callback_never_stops_the_loop(wire):
    from diagbridge.codes import N_WRONG_SN
    raw = wire()

    def boom(result):
        raise RuntimeError("user bug")
    with open_channel(wire(), tx_id=0x7E8, rx_id=0x7E0, on_error=boom) as e:
        _broken_then_good(raw)
        assert e.recv(timeout=T) == b"\x22\xF1\x90"
        assert e.rx_errors[N_WRONG_SN] == 1
    with pytest.raises(TypeError):
        open_channel(wire(), tx_id=0x7E8, rx_id=0x7E0, on_error=5)


def test_async_broken_reception_skipped_or_raised(wire):
    from diagbridge.codes import N_WRONG_SN
    from diagbridge.cpy.cantp.aio import AsyncCanTpBus, open_async_channel
    raw = wire()

    async def main():
        seen = []
        async with AsyncCanTpBus(wire()) as tb:
            e = tb.open(tx_id=0x7E8, rx_id=0x7E0, on_error=seen.append)
            await asyncio.to_thread(_broken_then_good, raw)
            assert await e.recv(timeout=T) == b"\x22\xF1\x90"
            assert e.rx_errors[N_WRONG_SN] == 1 and seen == [N_WRONG_SN]
            assert await e.recv(timeout=0.05) is None
        async with await open_async_channel(wire(), tx_id=0x7E8, rx_id=0x7E0,
                                            raise_rx_errors=True) as e:
            await asyncio.to_thread(_broken_then_good, raw)
            with pytest.raises(TransportError) as ei:
                await e.recv(timeout=T)
            assert ei.value.result == N_WRONG_SN
            assert await e.recv(timeout=T) == b"\x22\xF1\x90"
            assert e.rx_errors[N_WRONG_SN] == 1
    asyncio.run(main())
