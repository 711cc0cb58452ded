"""The gateway daemon (diagbridge.cpy.gateway.daemon) end to end, in real time: the
portable Gateway on a python-can virtual bus with a UDS ECU runner, served
over TCP loopback and a pseudo-terminal, driven by diagbridge_host; plus
the command line (subprocess): errors that say what to do, a clean stop on
SIGTERM, the bound port reported.  Real clocks: behaviour only, generous
timeouts."""
import itertools
import os
import signal
import socket
import subprocess
import sys
import time

import can
import pytest

import diagbridge_host
from diagbridge_host import events as E
from diagbridge_host.errors import LinkAuthError, LinkError, LinkRefused
from diagbridge.cpy.gateway.daemon import Daemon
from diagbridge.cpy.ecu.runner import EcuRunner, build_ecu
from diagbridge.cpy.gateway.config import Board, parse_keys, load_board
from diagbridge.errors import ConfigError
from diagbridge.link import proto as P

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY = b"daemon-test-key-0123456789abcdef"
TIMEOUT_S = 10.0
VIN = b"W0L000043MB541326"
_ids = itertools.count()


class Rig:
    """A daemon on a fresh virtual channel with the engine ECU beside it."""

    def __init__(self, serial=None, keys=((P.ROLE_FULL, KEY),), open_role=P.ROLE_NONE,
                 max_hosts=4, **kw):
        self.channel = "dtest%d-%d" % (os.getpid(), next(_ids))
        board = Board(name="test-gw", can=({"interface": "virtual", "channel": self.channel,
                                            "bitrate": 500000},),
                      link_tcp="tcp://127.0.0.1:0", link_serial=serial, max_hosts=max_hosts)
        self.daemon = Daemon(board, keys, open_role, **kw).open().start()
        self.url = self.daemon.urls[0]
        self.ecu_bus = can.Bus(interface="virtual", channel=self.channel)
        self.ecu = EcuRunner(self.ecu_bus, build_ecu("engine"), name="engine")
        self.ecu.__enter__()

    def connect(self, url=None, **kw):
        kw.setdefault("key", KEY)
        kw.setdefault("timeout_s", TIMEOUT_S)
        return diagbridge_host.connect(url or self.url, **kw)

    def close(self):
        self.ecu.__exit__(None, None, None)
        self.ecu_bus.shutdown()
        self.daemon.stop()


@pytest.fixture
def rig():
    r = Rig(serial="pty")
    yield r
    r.close()


def test_uds_dtcs_raw_can_and_python_can_over_tcp(rig):
    with rig.connect() as conn:
        assert conn.gateway.name == "test-gw" and conn.gateway.buses == [[0, P.BUS_CAN, 500000, 0]]
        uds = conn.uds(0, 0x7E0, 0x7E8, func_tx_id=0x7DF)
        assert uds.read_data_by_identifier(0xF190) == VIN
        dtcs = uds.read_dtc_by_status_mask(0xFF)
        assert (0x010100, 0x2F) in dtcs and len(dtcs) == 20
        assert uds.request(b"\x22\x12\x34").nrc == 0x31           # an NRC is data
        # raw CAN: a tester elsewhere on the bus asks, we listen to the answer
        with conn.can_monitor(0, filters=[(0x7E8, 0x7FF)]) as frames:
            other = can.Bus(interface="virtual", channel=rig.channel)
            try:
                other.send(can.Message(arbitration_id=0x7E0, is_extended_id=False,
                                       data=b"\x02\x3e\x00\xcc\xcc\xcc\xcc\xcc"))
                f = frames.get(TIMEOUT_S)
            finally:
                other.shutdown()
            assert isinstance(f, E.CanFrame) and f.arbitration_id == 0x7E8
            assert f.data[:3] == b"\x02\x7e\x00" and not f.is_echo
        # python-can through the gateway, sharing the connection
        bus = can.Bus(interface="diagbridge", channel=rig.url, connection=conn,
                      can_filters=[{"can_id": 0x7E8, "can_mask": 0x7FF}])
        try:
            bus.send(can.Message(arbitration_id=0x7E0, is_extended_id=False,
                                 data=b"\x02\x10\x03\xcc\xcc\xcc\xcc\xcc"))
            msg = bus.recv(TIMEOUT_S)
            assert msg is not None and bytes(msg.data[:3]) == b"\x06\x50\x03"
        finally:
            bus.shutdown()
        st = conn.status()
        assert st.bus_stats[0]["rx_frames"] >= 10 and st.bus_stats[0]["tx_errors"] == 0
        uds.close()


def test_host_link_over_a_pseudo_terminal(rig):
    pty_url = rig.daemon.urls[1]
    assert pty_url.startswith("serial:///dev/")
    with rig.connect(pty_url) as conn:
        uds = conn.uds(0, 0x7E0, 0x7E8)
        assert uds.read_data_by_identifier(0xF190) == VIN
        uds.close()


def test_a_host_beyond_max_hosts_is_refused_and_the_next_one_after(rig):
    conns = [rig.connect() for _ in range(4)]                   # MAX_HOSTS 4 over TCP
    try:
        with pytest.raises(LinkError, match="gateway busy: another host is connected on each "
                                            "of the 4 host slots"):
            rig.connect()
        for c in conns:
            assert c.status().uptime_ms >= 0                    # the hosts are unharmed
        pty_url = rig.daemon.urls[1]
        with rig.connect(pty_url) as serial:                    # the serial line: its own slot
            assert len(serial.status().body[P.K_HOSTS]) == 5
        conns.pop().close()
        with rig.connect() as conn:                             # freed at once
            assert conn.is_up and len(conn.status().body[P.K_HOSTS]) == 4
    finally:
        for c in conns:
            c.close()


def test_one_host_slot_means_one_host_at_a_time():
    r = Rig(max_hosts=1)
    try:
        with r.connect() as conn:
            with pytest.raises(LinkError, match="gateway busy: another host .* is connected; one "
                                                "host at a time"):
                r.connect()
            assert conn.status().uptime_ms >= 0
        with r.connect() as conn:
            assert conn.is_up
    finally:
        r.close()


class FakeClock:
    """Seconds, moved by the test (the TCP port's lingering and back-off)."""

    def __init__(self, t=1000.0):
        self.t = t

    def __call__(self):
        return self.t


def test_wrong_key_is_refused_and_the_gateway_stays_up():
    clock = FakeClock()
    r = Rig(clock=clock)
    try:
        with pytest.raises(LinkAuthError):
            r.connect(key=b"not-the-key-0123456789abcdefghij")
        with pytest.raises(LinkError, match="too many failed logins"):
            r.connect()                                 # the peer's back-off: 0.2 s
        clock.t += 0.25
        with r.connect() as conn:
            assert conn.status().stats["auth_failures"] == 1
    finally:
        r.close()


def test_key_file_and_board_file_parsing(tmp_path):
    assert parse_keys("a-long-enough-key-1234\n") == ((P.ROLE_FULL, b"a-long-enough-key-1234"),)
    keys = parse_keys("# keys\nmonitor: hex:%s\nfull: base64:%s\n"
                      % ("00" * 16, "QUJDREVGR0hJSktMTU5PUFFSU1RVVg=="))
    assert keys == ((P.ROLE_FULL, b"ABCDEFGHIJKLMNOPQRSTUV"), (P.ROLE_MONITOR, bytes(16)))
    for bad, why in (("short\n", "at least 16"), ("a: x\nb: y\n", "ROLE: KEY"),
                     ("full: %s\nfull: %s\n" % ("k" * 16, "j" * 16), "second key"), ("", "no key")):
        with pytest.raises(ConfigError, match=why):
            parse_keys(bad)
    board = load_board(os.path.join(ROOT, "boards", "pi-can-hat", "board.py"))
    assert board.can[0]["channel"] == "can0" and board.can[0]["bitrate"] == 500000
    # loopback by default, as the daemon: the network is asked for explicitly
    assert board.link_tcp == "tcp://127.0.0.1:6520" and board.link_serial == "/dev/ttyGS0"
    assert board.gateway_config().n_buses == 1
    assert board.link_config(keys, 0).buses == ((0, P.BUS_CAN, 500000, 0),)
    p = tmp_path / "bad.py"
    p.write_text("CAN = (\n")
    with pytest.raises(ConfigError, match="line"):
        load_board(str(p))


def test_a_board_file_bounds_what_hosts_may_send(tmp_path):
    """The board's DIAGNOSTIC_TX_IDS / FULL_TX_IDS reach the gateway: a
    full-role host on a board that restricts it is refused id 0x000 with the
    reason (nothing is sent), and a bad range names the constant."""
    cfg = load_board(os.path.join(ROOT, "boards", "pi-can-hat", "board.py")).gateway_config()
    assert cfg.diagnostic_tx_ids == ((0x700, 0x7FF, False), (0x18DA0000, 0x18DBFFFF, True))
    assert cfg.full_tx_ids is None and cfg.keepalive_min_ms == 500
    channel = "dboard%d-%d" % (os.getpid(), next(_ids))
    p = tmp_path / "board.py"
    p.write_text("CAN = ({'interface': 'virtual', 'channel': %r},)\n"
                 "LINK_TCP = 'tcp://127.0.0.1:0'\n"
                 "FULL_TX_IDS = ((0x700, 0x7FF, False),)\n" % channel)
    board = load_board(str(p))
    assert board.gateway_config().full_tx_ids == ((0x700, 0x7FF, False),)
    daemon = Daemon(board, ((P.ROLE_FULL, KEY),)).open().start()
    sniffer = can.Bus(interface="virtual", channel=channel)
    try:
        with diagbridge_host.connect(daemon.urls[0], key=KEY, timeout_s=TIMEOUT_S) as conn:
            with pytest.raises(LinkRefused, match="raw CAN transmit: id 0x000 \\(11-bit\\) is "
                               "not allowed for the full role on this gateway"):
                conn.can_send(0, 0x000, b"\x01")
            assert conn.can_send(0, 0x7DF, b"\x02\x3e\x80") == 0
            msg = sniffer.recv(TIMEOUT_S)
            assert msg.arbitration_id == 0x7DF
            assert sniffer.recv(0.2) is None                # nothing else went out
            assert conn.status().stats["refused_tx_id"] == 1
    finally:
        sniffer.shutdown()
        daemon.stop()
    p.write_text("CAN = ({'interface': 'virtual', 'channel': 'x'},)\n"
                 "FULL_TX_IDS = ((0x700, 0x800, False),)\n")
    with pytest.raises(ConfigError, match="FULL_TX_IDS: write \\(\\(first, last, extended\\), "
                       "...\\) ranges of CAN ids or None"):
        load_board(str(p)).gateway_config()


# ---- the command line (a subprocess) ------------------------------------------------------
def _gw(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "diagbridge.cpy.gateway.daemon"] + list(args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, **kw)


def _fails(*args):
    p = _gw(*args)
    out, err = p.communicate(timeout=60)
    return p.returncode, err


def test_clear_errors(tmp_path):
    rc, err = _fails("--board", str(tmp_path / "nope.py"))
    assert rc == 2 and "no such file" in err
    bad = tmp_path / "board.py"
    bad.write_text("CAN = ({'interface': 'virtual'},)\n")
    rc, err = _fails("--board", str(bad), "--open-role", "full")
    assert rc == 2 and "needs interface and channel" in err
    rc, err = _fails("--interface", "virtual", "--channel", "x", "--key-file",
                     str(tmp_path / "missing-key"))
    assert rc == 2 and "key file" in err and "no such file" in err and "umask 077" in err
    rc, err = _fails("--interface", "socketcan", "--channel", "nosuchcan9", "--open-role", "full",
                     "--listen", "tcp://127.0.0.1:0")
    assert rc == 1 and "cannot open socketcan channel nosuchcan9" in err and "ip link set" in err
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        rc, err = _fails("--interface", "virtual", "--channel", "x", "--open-role", "full",
                         "--listen", "tcp://127.0.0.1:%d" % port)
    assert rc == 1 and "cannot listen on" in err and "another diagbridge-gw" in err


def test_runs_reports_its_port_and_stops_cleanly_on_sigterm(tmp_path):
    key = tmp_path / "key"
    key.write_text("full: %s\n" % KEY.decode())
    key.chmod(0o600)
    p = _gw("--interface", "virtual", "--channel", "sub", "--listen", "tcp://127.0.0.1:0",
            "--key-file", str(key), "--log-level", "debug")
    try:
        line = p.stdout.readline()
        assert line.startswith("diagbridge-gw: host link on tcp://127.0.0.1:"), line
        url = line.split()[-1]
        with diagbridge_host.connect(url, key=KEY, timeout_s=TIMEOUT_S) as conn:
            assert conn.status().bus_stats[0]["rx_frames"] == 0
            p.send_signal(signal.SIGTERM)
            lost = conn.events().get(TIMEOUT_S)
            assert isinstance(lost, E.LinkLost) and "LINK_CLOSED" in lost.reason
        out, err = p.communicate(timeout=TIMEOUT_S)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0 and "stopped" in out
    assert "signal 15: stopping" in err and "Traceback" not in err


def test_sigint_with_nobody_connected():
    p = _gw("--interface", "virtual", "--channel", "sub2", "--listen", "tcp://127.0.0.1:0",
            "--open-role", "monitor")
    try:
        assert "host link on" in p.stdout.readline()
        time.sleep(0.2)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=TIMEOUT_S)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0 and "Traceback" not in err
