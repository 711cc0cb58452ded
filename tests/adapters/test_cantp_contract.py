"""Contract suite of the CAN-TP python-can adapters (CPython).

Every bus flavour runs the same tests with the blocking (cantp.blocking) and the
asyncio (cantp.aio) front:
  * VirtualBus: python-can's ``virtual`` interface, no file descriptor: the
    blocking front's I/O thread reads it itself (woken by a marker in the
    bus's own queue), the asyncio front through a can.Notifier;
  * NotifierBus: the same virtual wire seen through a subclass, which the
    adapters treat as any bus without a descriptor: frames come through a
    can.Notifier reader thread;
  * SocketPairBus: a python-can bus over a local datagram socket pair that has
    ``fileno()`` like socketcan, so the I/O thread selects on it directly.
Real clocks: generous timeouts, no timing assertions.
"""
import asyncio
import itertools
import os
import select
import socket
import struct
import threading
import time

import can
import can.interfaces.virtual
import pytest

from diagbridge.codes import N_TIMEOUT_BS
from diagbridge.ecu import Ecu
from diagbridge.errors import UsageError
from diagbridge.cpy.cantp.blocking import (CanTpBus, RxMessage, TransportError, TransportTimeout,
                                      open_channel)
from diagbridge.cpy.cantp.aio import AsyncCanTpBus, open_async_channel

T = 30.0
_seq = itertools.count()
_REC = struct.Struct("<IBB64s")     # id, flags (1 ext, 2 fd, 4 brs), length, data


class SocketPairBus(can.BusABC):
    """A CAN bus between exactly two endpoints over socket.socketpair, with a
    file descriptor like socketcan; frames are fixed-size records."""

    def __init__(self, sock, **kw):
        self._sock = sock
        self._buf = bytearray()
        sock.setblocking(False)
        super().__init__(channel="socketpair", **kw)

    def fileno(self):
        return self._sock.fileno()

    def send(self, msg, timeout=None):
        flags = (1 if msg.is_extended_id else 0) | (2 if msg.is_fd else 0) \
            | (4 if msg.bitrate_switch else 0)
        rec = memoryview(_REC.pack(msg.arbitration_id, flags, len(msg.data), bytes(msg.data)))
        while rec:
            try:
                rec = rec[self._sock.send(rec):]
            except BlockingIOError:
                if not select.select((), (self._sock,), (), timeout if timeout else 5.0)[1]:
                    raise can.CanOperationError("transmit buffer full")

    def _recv_internal(self, timeout):
        buf = self._buf
        while len(buf) < _REC.size:
            if timeout != 0 and not select.select((self._sock,), (), (), timeout)[0]:
                return None, False
            try:
                chunk = self._sock.recv(_REC.size - len(buf))   # one frame per call, as socketcan
            except BlockingIOError:
                if timeout == 0:
                    return None, False
                continue
            if not chunk:
                return None, False
            buf += chunk
        can_id, flags, n, data = _REC.unpack_from(buf)
        del buf[:_REC.size]
        return can.Message(arbitration_id=can_id, is_extended_id=bool(flags & 1),
                           is_fd=bool(flags & 2), bitrate_switch=bool(flags & 4),
                           data=data[:n], is_rx=True), False

    def shutdown(self):
        super().shutdown()
        self._sock.close()


def _virtual_pair():
    name = "contract-%d-%d" % (os.getpid(), next(_seq))
    return can.Bus(interface="virtual", channel=name), can.Bus(interface="virtual", channel=name)


class NotifierBus(can.interfaces.virtual.VirtualBus):
    """A virtual bus the adapters do not recognise as python-can's own."""


def _notifier_pair():
    name = "contract-%d-%d" % (os.getpid(), next(_seq))
    return NotifierBus(channel=name), NotifierBus(channel=name)


def _socket_pair():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    return SocketPairBus(a), SocketPairBus(b)


def _data(n, salt=0):
    return bytes((i + salt + (i >> 8)) & 0xFF for i in range(n))


VIN = b"W0L000043MB541326"


def _ecu():
    """A node that is not a Channel: the portable Ecu (CAN-TP + UDS server)."""
    return Ecu({"name": "node", "addresses": {"rx_id": 0x7E1, "tx_id": 0x7E9},
                "modules": ["session", "data"], "sessions": {1: {}, 3: {}},
                "dids": {0xF190: {"length": 17, "value": VIN}}})


def _record(bus):
    """The data of every frame an adapter sends on ``bus``, in order."""
    sent = []
    send = bus.send

    def recording_send(msg, timeout=None):
        sent.append(bytes(msg.data))
        send(msg, timeout)
    bus.send = recording_send
    return sent


def _waits(sent):
    return sum(1 for d in sent if d[0] == 0x31)


def _until(pred, timeout=T):
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.005)


async def _until_async(pred, timeout=T):
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, "condition not met in time"
        await asyncio.sleep(0.005)


_FC_CTS = can.Message(arbitration_id=0x7E8, data=b"\x30\x00\x00", is_extended_id=False)


class CanTpContract:
    make_buses = None       # -> (bus_a, bus_b) on one wire

    @pytest.fixture
    def buses(self):
        a, b = type(self).make_buses()
        yield a, b
        a.shutdown()
        b.shutdown()

    # -- blocking --------------------------------------------------------------
    @pytest.mark.parametrize("fd", (False, True), ids=("classic", "fd64"))
    def test_roundtrip_sizes(self, buses, fd):
        kw = dict(fd=True, tx_dl=64) if fd else {}
        with open_channel(buses[0], tx_id=0x7E0, rx_id=0x7E8, max_frame_size=70000, **kw) as t, \
                open_channel(buses[1], tx_id=0x7E8, rx_id=0x7E0, max_frame_size=70000,
                             block_size=0, **kw) as e:
            for n in (1, 7, 8, 62, 63, 64, 4095, 4096, 65535):
                t.send(_data(n), timeout=T)
                assert e.recv(timeout=T) == _data(n)
                e.send(_data(n, 1), timeout=T)          # and the answer, BS=8 this way
                assert t.recv(timeout=T) == _data(n, 1)

    def test_many_channels_on_one_bus_at_once(self, buses):
        ids = range(8)
        with CanTpBus(buses[0]) as tester, CanTpBus(buses[1]) as ecus:
            tch = [tester.open(tx_id=0x700 + i, rx_id=0x780 + i, block_size=4) for i in ids]
            ech = [ecus.open(tx_id=0x780 + i, rx_id=0x700 + i, block_size=2) for i in ids]
            errors = []

            def ecu(i):
                try:
                    req = ech[i].recv(timeout=T)
                    ech[i].send(bytes([0x40 + i]) + req, timeout=T)
                except Exception as e:          # reported below
                    errors.append(e)

            threads = [threading.Thread(target=ecu, args=(i,)) for i in ids]
            for th in threads:
                th.start()
            senders = [threading.Thread(target=tch[i].send, args=(_data(300 + i, i), T))
                       for i in ids]
            for th in senders:
                th.start()
            answers = [tch[i].recv(timeout=T) for i in ids]
            for th in threads + senders:
                th.join(T)
            assert errors == []
            assert answers == [bytes([0x40 + i]) + _data(300 + i, i) for i in ids]

    def test_recv_timeout_returns_none(self, buses):
        with open_channel(buses[0], tx_id=0x7E0, rx_id=0x7E8) as t:
            assert t.recv(timeout=0.05) is None

    def test_no_flow_control_raises_n_timeout_bs(self, buses):
        with open_channel(buses[0], tx_id=0x7E0, rx_id=0x7E8, n_bs_ms=100) as t:
            with pytest.raises(TransportTimeout) as ei:
                t.send(_data(50), timeout=T)
            assert ei.value.result == N_TIMEOUT_BS and ei.value.name == "N_TIMEOUT_BS"

    def test_close_wakes_receiver_and_refuses_sends(self, buses):
        t = open_channel(buses[0], tx_id=0x7E0, rx_id=0x7E8)
        raised = []

        def rx():
            try:
                t.recv()
            except TransportError as e:
                raised.append(e)
        th = threading.Thread(target=rx)
        th.start()
        t.close()
        th.join(T)
        assert len(raised) == 1
        with pytest.raises(TransportError):
            t.send(b"\x3E\x00")
        t.close()                                       # twice is harmless

    def test_a_node_beside_a_channel(self, buses):
        """add_node: an Ecu served by the bus loop next to an open() channel;
        remove_node takes it off (no answer after that) and hands it back."""
        ecu = _ecu()
        with CanTpBus(buses[0]) as ecus, CanTpBus(buses[1]) as tester:
            plain = ecus.open(tx_id=0x780, rx_id=0x700)
            ecus.add_node(ecu)
            with pytest.raises(UsageError):
                ecus.add_node(ecu)
            with pytest.raises(TypeError, match="no feed_frame"):
                ecus.add_node(object())
            with pytest.raises(TypeError):
                ecus.add_node(_ecu().tp)                     # a Channel: open() it
            t_ecu = tester.open(tx_id=0x7E1, rx_id=0x7E9)
            t_plain = tester.open(tx_id=0x700, rx_id=0x780)
            t_ecu.send(b"\x22\xF1\x90", timeout=T)
            assert t_ecu.recv(timeout=T) == b"\x62\xF1\x90" + VIN
            t_ecu.send(b"\x10\x03", timeout=T)             # a server event (session)
            assert t_ecu.recv(timeout=T)[:2] == b"\x50\x03"
            t_plain.send(_data(300), timeout=T)              # the channel still works
            assert plain.recv(timeout=T) == _data(300)
            ecus.remove_node(ecu)
            assert ecu.srv.session == 3                      # ours again, not the loop's
            ecus.remove_node(ecu)                            # not on the bus: ignored
            t_ecu.send(b"\x22\xF1\x90", timeout=T)
            assert t_ecu.recv(timeout=0.2) is None
            ecus.add_node(ecu)                               # and back on
            t_ecu.send(b"\x3E\x00", timeout=T)
            assert t_ecu.recv(timeout=T) == b"\x7E\x00"
        with pytest.raises(TransportError):
            ecus.add_node(_ecu())

    def test_caller_timeout_aborts_the_transfer(self, buses):
        """The caller gives up: the transfer is aborted, an FC coming later
        starts no CF, and the next send (to a working peer) runs clean."""
        peer = buses[1]                 # no channel yet: it never answers the FF
        with open_channel(buses[0], tx_id=0x7E0, rx_id=0x7E8, n_bs_ms=60000) as t:
            with pytest.raises(TransportTimeout) as ei:
                t.send(_data(100), timeout=0.2)
            assert ei.value.result is None
            ff = peer.recv(T)
            assert ff.arbitration_id == 0x7E0 and ff.data[0] == 0x10
            peer.send(_FC_CTS)                          # too late: ignored
            assert peer.recv(0.3) is None               # the bus stays quiet
            with open_channel(peer, tx_id=0x7E8, rx_id=0x7E0) as e:
                t.send(_data(100, 5), timeout=T)
                assert e.recv(timeout=T) == _data(100, 5)

    def test_hold_then_ready(self, buses):
        sent = _record(buses[1])
        with open_channel(buses[0], tx_id=0x7E0, rx_id=0x7E8) as t, \
                open_channel(buses[1], tx_id=0x7E8, rx_id=0x7E0, n_br_ms=20,
                             wft_max=255) as e:
            e.hold()
            errors = []
            th = threading.Thread(target=lambda: errors.append(t.send(_data(300), T)))
            th.start()
            _until(lambda: _waits(sent) >= 3)           # FC.WAIT every n_br_ms
            assert th.is_alive() and e.recv(timeout=0) is None
            e.ready()
            th.join(T)
            assert errors == [None]
            assert e.recv(timeout=T) == _data(300)
            fcs = [d[0] for d in sent]
            assert fcs[0] == 0x31 and 0x30 in fcs and 0x31 not in fcs[fcs.index(0x30):]

    def test_rx_queue_max_holds_until_drained(self, buses):
        sent = _record(buses[1])
        with open_channel(buses[0], tx_id=0x7E0, rx_id=0x7E8) as t, \
                open_channel(buses[1], tx_id=0x7E8, rx_id=0x7E0, n_br_ms=20,
                             wft_max=255, rx_queue_max=1) as e:
            t.send(_data(20), timeout=T)                # queued, not taken: full
            results = []
            th = threading.Thread(target=lambda: results.append(t.send(_data(200, 1), T)))
            th.start()
            _until(lambda: _waits(sent) >= 2)
            assert th.is_alive()
            assert e.recv(timeout=T) == _data(20)        # room again: FC.CTS
            th.join(T)
            assert results == [None]
            assert e.recv(timeout=T) == _data(200, 1)

    def test_recv_message_tells_functional_from_physical(self, buses):
        with open_channel(buses[0], tx_id=0x7E0, rx_id=0x7E8, func_tx_id=0x7DF) as t, \
                open_channel(buses[1], tx_id=0x7E8, rx_id=0x7E0, func_rx_id=0x7DF) as e:
            t.send(b"\x3E\x80", timeout=T, functional=True)
            t.send(_data(50), timeout=T)
            f = e.recv_message(timeout=T)
            p = e.recv_message(timeout=T)
            assert isinstance(f, RxMessage) and f.data == b"\x3E\x80" and f.functional
            assert p.data == _data(50) and p.functional is False
            assert 0 <= f.ts_us < 2 ** 29 and 0 <= p.ts_us < 2 ** 29
            t.send(b"\x10\x03", timeout=T)
            assert e.recv(timeout=T) == b"\x10\x03"      # recv() stays bytes
            assert e.recv_message(timeout=0.05) is None

    # -- asyncio ---------------------------------------------------------------
    def test_async_caller_timeout_aborts_the_transfer(self, buses):
        peer = buses[1]

        async def main():
            async with await open_async_channel(buses[0], tx_id=0x7E0, rx_id=0x7E8,
                                                n_bs_ms=60000) as t:
                with pytest.raises(TransportTimeout) as ei:
                    await t.send(_data(100), timeout=0.2)
                assert ei.value.result is None
                ff = await asyncio.to_thread(peer.recv, T)
                assert ff.arbitration_id == 0x7E0 and ff.data[0] == 0x10
                peer.send(_FC_CTS)
                assert await asyncio.to_thread(peer.recv, 0.3) is None
                async with await open_async_channel(peer, tx_id=0x7E8, rx_id=0x7E0) as e:
                    await t.send(_data(100, 5), timeout=T)
                    assert await e.recv(timeout=T) == _data(100, 5)
        asyncio.run(main())

    def test_async_hold_ready_and_rx_queue_max(self, buses):
        sent = _record(buses[1])

        async def main():
            async with AsyncCanTpBus(buses[0]) as tb, AsyncCanTpBus(buses[1]) as eb:
                t = tb.open(tx_id=0x7E0, rx_id=0x7E8)
                e = eb.open(tx_id=0x7E8, rx_id=0x7E0, n_br_ms=20, wft_max=255,
                            func_rx_id=0x7DF)
                e.hold()
                task = asyncio.ensure_future(t.send(_data(300), T))
                await _until_async(lambda: _waits(sent) >= 3)
                assert not task.done()
                e.ready()
                await task
                assert await e.recv(timeout=T) == _data(300)
                q = eb.open(tx_id=0x7E9, rx_id=0x7E1, n_br_ms=20, wft_max=255,
                            rx_queue_max=1)
                tq = tb.open(tx_id=0x7E1, rx_id=0x7E9)
                await tq.send(_data(20), T)
                n = _waits(sent)
                task = asyncio.ensure_future(tq.send(_data(200, 1), T))
                await _until_async(lambda: _waits(sent) >= n + 2)
                assert not task.done()
                assert await q.recv(timeout=T) == _data(20)
                await task
                m = await q.recv_message(timeout=T)
                assert m.data == _data(200, 1) and m.functional is False
        asyncio.run(main())

    def test_async_node(self, buses):
        async def main():
            ecu = _ecu()
            async with AsyncCanTpBus(buses[0]) as ecus:
                ecus.add_node(ecu)
                with pytest.raises(UsageError):
                    ecus.add_node(ecu)
                with pytest.raises(TypeError):
                    ecus.add_node(object())
                async with await open_async_channel(buses[1], tx_id=0x7E1,
                                                    rx_id=0x7E9) as t:
                    await t.send(b"\x22\xF1\x90", timeout=T)
                    assert await t.recv(timeout=T) == b"\x62\xF1\x90" + VIN
                    await t.send(b"\x10\x03", timeout=T)
                    assert (await t.recv(timeout=T))[:2] == b"\x50\x03"
                    ecus.remove_node(ecu)
                    await t.send(b"\x3E\x00", timeout=T)
                    assert await t.recv(timeout=0.2) is None
            with pytest.raises(TransportError):
                ecus.add_node(_ecu())
        asyncio.run(main())

    def test_async_roundtrip_and_errors(self, buses):
        async def main():
            async with AsyncCanTpBus(buses[0]) as tbus:
                t = tbus.open(tx_id=0x7E0, rx_id=0x7E8, max_frame_size=70000, n_bs_ms=100)
                # BS=8 both ways: both ends share one event loop here, and a
                # full transmit queue blocks bus.send (python-can has no async send)
                e = await open_async_channel(buses[1], tx_id=0x7E8, rx_id=0x7E0,
                                             max_frame_size=70000)
                async with e:
                    for n in (1, 7, 100, 4095, 5000):
                        await t.send(_data(n), timeout=T)
                        assert await e.recv(timeout=T) == _data(n)
                        await e.send(_data(n, 2), timeout=T)
                        assert await t.recv(timeout=T) == _data(n, 2)
                    assert await t.recv(timeout=0.05) is None
                await asyncio.sleep(0)
                with pytest.raises(TransportTimeout) as ei:     # the ECU is gone
                    await t.send(_data(50), timeout=T)
                assert ei.value.result == N_TIMEOUT_BS
        asyncio.run(main())


class TestVirtualBus(CanTpContract):
    make_buses = staticmethod(_virtual_pair)


class TestSocketPairBus(CanTpContract):
    make_buses = staticmethod(_socket_pair)


class TestNotifierBus(CanTpContract):
    make_buses = staticmethod(_notifier_pair)
