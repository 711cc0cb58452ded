"""HostLink <-> LinkSession over real byte streams: a pseudo-terminal pair
(pyserial on the slave) and a TCP loopback connection.  Real clocks, so only
behaviour is asserted, with generous timeouts."""
import hashlib
import os
import select
import socket
import time

import serial

from diagbridge.clock import TICKS_MASK
from diagbridge.link import proto as P
from diagbridge.link.config import LinkConfig
from diagbridge.link.session import LinkSession, EV_REQUEST
from diagbridge_host.link import HostLink, Response, GatewayEvent, Dropped, READY

KEY = b"stream-test-key-0123456789abcdef"
TIMEOUT_S = 10.0


def _now_us():
    return (time.monotonic_ns() // 1000) & TICKS_MASK


class Rig:
    """One thread drives both ends: the gateway on one fd, the host on the other."""

    def __init__(self, gw_read, gw_write, host_read, host_write, fds):
        self.gw = LinkSession(LinkConfig(keys=((P.ROLE_FULL, KEY),), event_queue=256,
                                         event_queue_bytes=16384, heartbeat_ms=200,
                                         link_timeout_ms=3000),
                              hashlib.sha256, os.urandom)
        self.host = HostLink(key=KEY, event_credits=16)
        self.gw_read, self.gw_write = gw_read, gw_write
        self.host_read, self.host_write = host_read, host_write
        self.fds = fds
        self.out = bytearray(512)
        self.events = []
        self.requests = []

    def step(self):
        t = time.monotonic()
        data = self.host.data_to_send()
        if data:
            self.host_write(data)
        n = self.gw.pop_bytes(self.out)
        while n:
            self.gw_write(bytes(self.out[:n]))
            n = self.gw.pop_bytes(self.out)
        select.select(self.fds, [], [], 0.01)
        data = self.gw_read()
        if data:
            self.gw.feed_bytes(_now_us(), data, len(data))
        self.gw.on_timer(_now_us())
        while (ev := self.gw.poll()) != 0:
            if ev == EV_REQUEST:                # the "router": answer with the request echoed
                self.requests.append(self.gw.req_id)
                d = self.gw.body()[P.K_DATA]
                self.gw.respond(_now_us(), self.gw.req_id, 0, d, len(d))
        data = self.host_read()
        if data:
            self.host.receive_bytes(t, data)
        self.host.on_timer(t)
        while (ev := self.host.next_event()) is not None:
            self.events.append(ev)

    def run_until(self, pred):
        end = time.monotonic() + TIMEOUT_S
        while not pred():
            assert time.monotonic() < end, "timed out"
            self.step()

    def scenario(self):
        self.host.connect(time.monotonic())
        self.run_until(lambda: self.host.state == READY)
        rid = self.host.request(time.monotonic(), P.MSG_REQ_UDS, {P.K_DATA: b"\x22\xf1\x90"})
        self.run_until(lambda: any(isinstance(e, Response) for e in self.events))
        rsp = [e for e in self.events if isinstance(e, Response)][0]
        assert rsp.req_id == rid and rsp.data == b"\x22\xf1\x90"
        # 200 events through 16 credits: the host returns credits as it takes them
        for ts in range(200):
            self.gw.post_can_rx(_now_us(), ts, 0, 0x7E8, 0, bytes([ts & 0xFF]) * 8, 8)
        self.run_until(lambda: sum(isinstance(e, GatewayEvent) for e in self.events) == 200)
        can = [e.body[P.K_TS_US] for e in self.events if isinstance(e, GatewayEvent)]
        assert can == list(range(200))
        assert not any(isinstance(e, Dropped) for e in self.events) and self.host.lost_events == 0
        # garbage both ways mid-stream; the link recovers
        junk = os.urandom(300) + b"\x00\x11\x22\x00" + os.urandom(50)
        self.host_write(junk)
        self.gw_write(junk)
        rid2 = self.host.request(time.monotonic(), P.MSG_REQ_UDS, {P.K_DATA: b"\x19\x02\xff"})
        self.run_until(lambda: any(isinstance(e, Response) and e.req_id == rid2
                                   for e in self.events))
        assert self.gw.faults >= 1 and sum(self.host.frame_faults.values()) >= 1
        assert self.host.state == READY and self.requests == [rid, rid2]
        # heartbeats keep an idle link up past the timeout
        t_end = time.monotonic() + 0.6
        self.run_until(lambda: time.monotonic() > t_end)
        assert self.host.state == READY and self.gw.state == 2


def test_over_a_pseudo_terminal_with_pyserial():
    master, slave = os.openpty()
    os.set_blocking(master, False)
    port = serial.Serial(os.ttyname(slave), baudrate=115200, timeout=0)
    try:
        def gw_read():
            try:
                return os.read(master, 4096)
            except BlockingIOError:
                return b""

        def gw_write(b):
            while b:
                try:
                    b = b[os.write(master, b):]
                except BlockingIOError:
                    time.sleep(0.001)

        rig = Rig(gw_read, gw_write, lambda: port.read(4096), port.write, [master, port.fd])
        rig.scenario()
    finally:
        port.close()
        os.close(slave)
        os.close(master)


def test_over_tcp_loopback():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    cli = socket.create_connection(srv.getsockname(), timeout=TIMEOUT_S)
    gw_sock, _ = srv.accept()
    for s in (cli, gw_sock):
        s.setblocking(False)

    def reader(s):
        def read():
            try:
                return s.recv(4096)
            except BlockingIOError:
                return b""
        return read

    def writer(s):
        def write(b):
            s.setblocking(True)
            s.sendall(b)
            s.setblocking(False)
        return write

    try:
        rig = Rig(reader(gw_sock), writer(gw_sock), reader(cli), writer(cli), [gw_sock, cli])
        rig.scenario()
    finally:
        cli.close()
        gw_sock.close()
        srv.close()
