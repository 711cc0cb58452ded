"""Several hosts at once on the gateway daemon (diagbridge.cpy.gateway), in real
time over TCP loopback: python-can's view of the bus through the
diagbridge plug-in, a UDS client and a monitor, each its own
diagbridge_host connection with its own role; the full host's bus lock
refuses the others' transmissions and tells them, and ends when that host
goes away.  Real clocks: behaviour only, generous timeouts."""
import itertools
import os
import queue
import socket
import time

import can
import pytest

import diagbridge_host
from diagbridge_host import events as E
from diagbridge_host.errors import LinkError, LinkRefused
from diagbridge.cpy.ecu.runner import EcuRunner, build_ecu
from diagbridge.cpy.gateway.config import Board
from diagbridge.cpy.gateway.daemon import Daemon
from diagbridge.link import proto as P

KEY = b"daemon-hosts-full-key-0123456789"
MONITOR_KEY = b"daemon-hosts-monitor-key-012345"
TIMEOUT_S = 10.0
VIN = b"W0L000043MB541326"
_ids = itertools.count()


class Rig:
    """A daemon (4 TCP host slots) on a fresh virtual channel, the engine ECU
    beside it."""

    def __init__(self, max_hosts=4):
        self.channel = "dhosts%d-%d" % (os.getpid(), next(_ids))
        board = Board(name="hosts-gw", can=({"interface": "virtual", "channel": self.channel,
                                             "bitrate": 500000},),
                      link_tcp="tcp://127.0.0.1:0", max_hosts=max_hosts)
        self.daemon = Daemon(board, ((P.ROLE_FULL, KEY), (P.ROLE_MONITOR, MONITOR_KEY))
                             ).open().start()
        self.url = self.daemon.urls[0]
        self.ecu_bus = can.Bus(interface="virtual", channel=self.channel)
        self.ecu = EcuRunner(self.ecu_bus, build_ecu("engine"), name="engine")
        self.ecu.__enter__()

    def connect(self, **kw):
        kw.setdefault("key", KEY)
        kw.setdefault("timeout_s", TIMEOUT_S)
        return diagbridge_host.connect(self.url, **kw)

    def close(self):
        self.ecu.__exit__(None, None, None)
        self.ecu_bus.shutdown()
        self.daemon.stop()


@pytest.fixture
def rig():
    r = Rig()
    yield r
    r.close()


def _lock_changes(q, n, timeout_s=TIMEOUT_S):
    """The next n BusLockChange events put on q by a listener."""
    out = []
    end = time.monotonic() + timeout_s
    while len(out) < n:
        left = end - time.monotonic()
        assert left > 0, "only %d of %d bus lock events came: %r" % (len(out), n, out)
        try:
            ev = q.get(timeout=left)
        except queue.Empty:
            continue
        if isinstance(ev, E.BusLockChange):
            out.append(ev)
    return out


def _wait(pred, what, timeout_s=TIMEOUT_S):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError("timed out waiting for " + what)


def test_a_viewer_a_uds_client_and_a_monitor_at_once(rig):
    viewer = can.Bus(interface="diagbridge", channel=rig.url, key=KEY,
                     can_filters=[{"can_id": 0x7E8, "can_mask": 0x7FF}])
    tester = rig.connect()
    monitor = rig.connect(key=MONITOR_KEY, role="monitor")
    try:
        st = monitor.status()
        hosts = st.body[P.K_HOSTS]
        assert sorted(h["role"] for h in hosts) == [P.ROLE_MONITOR, P.ROLE_FULL, P.ROLE_FULL]
        assert [h["you"] for h in hosts].count(True) == 1 and st.stats["hosts_up"] == 3
        assert all(h["name"].startswith("127.0.0.1:") for h in hosts)
        # the UDS client asks; the viewer sees the ECU's answers on the bus as python-can frames
        with monitor.can_monitor(0, filters=[(0x7E8, 0x7FF)]) as frames:
            uds = tester.uds(0, 0x7E0, 0x7E8)
            assert uds.read_data_by_identifier(0xF190) == VIN
            answers = []
            end = time.monotonic() + TIMEOUT_S
            while time.monotonic() < end and len(answers) < 3:   # FF + 2 CF of the VIN
                msg = viewer.recv(0.5)
                if msg is not None:
                    answers.append(msg)
            assert [m.arbitration_id for m in answers] == [0x7E8] * 3
            assert bytes(answers[0].data[:5]) == b"\x10\x14\x62\xf1\x90"
            seen = frames.get(TIMEOUT_S)                          # the monitor too
            assert isinstance(seen, E.CanFrame) and seen.arbitration_id == 0x7E8
        # each host's STATUS lists its own channel only
        assert tester.status().channels == [1] and monitor.status().channels == []
        uds.close()
    finally:
        viewer.shutdown()
        tester.close()
        monitor.close()


def test_a_bus_lock_refuses_the_others_and_ends_with_its_holder(rig):
    flasher = rig.connect()
    viewer = can.Bus(interface="diagbridge", channel=rig.url, key=KEY)
    monitor = rig.connect(key=MONITOR_KEY, role="monitor")
    told: queue.Queue = queue.Queue()
    monitor.add_listener(told.put, (P.MSG_EV_STATE,))
    try:
        with flasher.lock_bus(0) as lock:
            assert lock.bus == 0
            ev = _lock_changes(told, 1)[0]
            assert ev.locked and ev.bus == 0 and ev.holder.startswith("127.0.0.1:")
            assert ev.state_name == "locked" and ev.what_name == "bus_lock"
            # the viewer's transmission is refused, saying who holds the bus
            with pytest.raises(can.CanOperationError, match="bus 0 is locked by host "
                                                            "127.0.0.1:[0-9]+ for flashing"):
                viewer.send(can.Message(arbitration_id=0x7E0, is_extended_id=False,
                                        data=b"\x02\x3e\x00\xcc\xcc\xcc\xcc\xcc"))
            with pytest.raises(LinkRefused, match="locked by host"):
                viewer.conn.lock_bus(0)
            # the holder itself goes on: a UDS exchange on the locked bus
            uds = flasher.uds(0, 0x7E0, 0x7E8)
            assert uds.read_data_by_identifier(0xF190) == VIN
            assert monitor.status().bus_stats[0]["locked_by"] >= 0
            uds.close()
        ev = _lock_changes(told, 1)[0]                            # released on exit
        assert not ev.locked and ev.state_name == "released"
        assert monitor.status().bus_stats[0]["locked_by"] == -1
        # taken again, and the holder's connection ends: the lock ends with it
        flasher.lock_bus(0)
        assert _lock_changes(told, 1)[0].locked
        flasher.close()
        assert not _lock_changes(told, 1)[0].locked
        _wait(lambda: len(monitor.status().body[P.K_HOSTS]) == 2, "the flasher to be gone")
        viewer.send(can.Message(arbitration_id=0x7E0, is_extended_id=False,
                                data=b"\x02\x3e\x00\xcc\xcc\xcc\xcc\xcc"))
    finally:
        flasher.close()
        viewer.shutdown()
        monitor.close()


def _closed_by_peer(s, timeout_s=TIMEOUT_S):
    """True once the daemon closed s (EOF); False if it is still open."""
    s.settimeout(timeout_s)
    try:
        while True:
            if not s.recv(4096):
                return True
    except socket.timeout:
        return False
    except OSError:
        return True


def test_connections_that_never_log_in_cannot_keep_a_host_out():
    r = Rig(max_hosts=2)
    addr = ("127.0.0.1", int(r.url.rsplit(":", 1)[1]))
    squatters = []
    try:
        first = r.connect()
        s1 = socket.create_connection(addr, timeout=TIMEOUT_S)      # takes the free slot
        squatters.append(s1)
        _wait(lambda: r.daemon.runner.call(lambda gw, now: r.daemon.tcp.conn is not None
                                           and len(r.daemon.tcp.clients) == 2), "s1's slot")
        s2 = socket.create_connection(addr, timeout=TIMEOUT_S)      # replaces s1 (in login)
        squatters.append(s2)
        assert _closed_by_peer(s1)
        second = r.connect()                                        # replaces s2
        assert _closed_by_peer(s2)
        assert len(second.status().body[P.K_HOSTS]) == 2
        with pytest.raises(LinkError, match="gateway busy: another host is connected on each "
                                            "of the 2 host slots"):
            r.connect()                                             # both slots logged in
        assert first.status().uptime_ms >= 0 and second.status().uptime_ms >= 0
        st = r.daemon.runner.call(lambda gw, now: r.daemon.status())
        assert st["refused_busy"] == 1 and st["hosts_up"] == 2
        first.close()
        second.close()
    finally:
        for s in squatters:
            s.close()
        r.close()
