"""diagbridge_host.connect() against a real LinkSession served over TCP
loopback and over a pseudo-terminal pair, in real time: the handshake,
requests, events, every way the link can go wrong (each with its clear
error, and the link recovers), and backpressure with exact drop counts.
Real clocks: behaviour only, generous timeouts."""
import asyncio
import logging
import os
import time

import msgpack
import pytest

from diagbridge.codes import OK, A_NEGATIVE_RESPONSE, LINK_VERSION
from diagbridge.link import proto as P
from diagbridge.link.cobs import encode_frame, frame_size
import diagbridge_host
from diagbridge_host import events as E
from diagbridge_host.errors import (LinkAuthError, LinkError, LinkRefused, LinkTimeout,
                                    LinkVersionError, UsageError)

from test_host_rig import (FakeGateway, Server, KEY, MONITOR_KEY, VIN, TIMEOUT_S, wait_for)


@pytest.fixture(params=["tcp", "pty"])
def served(request):
    srv = Server(FakeGateway(), request.param)
    yield srv
    srv.close()


def frame(obj):
    msg = msgpack.packb(obj, use_bin_type=True)
    out = bytearray(frame_size(len(msg)))
    return bytes(out[:encode_frame(msg, len(msg), out)])


def test_connect_request_events_and_close(served):
    with diagbridge_host.connect(served.url, key=KEY, timeout_s=TIMEOUT_S) as conn:
        assert conn.is_up and conn.role == P.ROLE_FULL and conn.role_name == "full"
        assert conn.gateway.name == "fake" and conn.gateway.buses == [[0, P.BUS_CAN, 500000, 0]]
        st = conn.status()
        assert st.uptime_ms == 1234 and st.dropped == {"EV_CAN_RX": 0}
        uds = conn.uds(0, 0x7E0, 0x7E8)
        rsp = uds.request(b"\x22\xf1\x90")
        assert rsp == b"\x62\xf1\x90" + VIN and rsp.ok and rsp.nrc is None
        assert uds.read_data_by_identifier(0xF190) == VIN
        nrc = uds.request(b"\x2e\xf1\x90\x00")          # an NRC is data
        assert nrc.result == A_NEGATIVE_RESPONSE and nrc.nrc == 0x11
        assert nrc == b"\x7f\x2e\x11" and nrc.nrc_name == "SNS" and nrc.nrc_text == "serviceNotSupported"
        with pytest.raises(diagbridge_host.errors.NegativeResponseError) as ei:
            nrc.raise_for_nrc()
        assert ei.value.nrc == 0x11
        with conn.can_monitor(0, echo=True) as frames:
            assert conn.can_send(0, 0x7DF, b"\x02\x3e\x00") == OK
            f = frames.get(TIMEOUT_S)
            assert isinstance(f, E.CanFrame) and f.arbitration_id == 0x7DF and f.is_echo
            assert f.data == b"\x02\x3e\x00" and not f.is_extended_id
            assert abs(f.timestamp - time.time()) < 60
        kinds = [k for k, _ in served.gw.requests]
        assert kinds.count(P.MSG_REQ_CAN_LISTEN) == 2       # on, then off on close
    wait_for(lambda: served.gw.link.state == 0)              # BYE: the gateway waits again


def test_wrong_key_then_the_right_one(served):
    with pytest.raises(LinkAuthError, match="check the pre-shared key"):
        diagbridge_host.connect(served.url, key=b"not-the-key-0123456789abcdefghij",
                                timeout_s=TIMEOUT_S)
    with pytest.raises(LinkAuthError, match="wants a key"):
        diagbridge_host.connect(served.url, timeout_s=TIMEOUT_S)
    assert served.gw.link.auth_failures == 1
    with diagbridge_host.connect(served.url, key=KEY, timeout_s=TIMEOUT_S) as conn:
        assert conn.status().stats["link_faults"] >= 1


def test_roles_are_enforced_with_a_clear_refusal(served):
    with pytest.raises(LinkAuthError, match="for the full role"):   # the key is monitor's
        diagbridge_host.connect(served.url, key=MONITOR_KEY, role="full", timeout_s=TIMEOUT_S)
    with diagbridge_host.connect(served.url, key=MONITOR_KEY, role="monitor",
                                 timeout_s=TIMEOUT_S) as conn:
        assert conn.role_name == "monitor"
        n = len(served.gw.requests)
        with pytest.raises(LinkRefused, match="REQ_CAN_SEND"):
            conn.can_send(0, 0x123, b"\x01")
        with pytest.raises(LinkRefused):
            conn.request(P.MSG_REQ_UDS, {P.K_CHANNEL: 1, P.K_DATA: b"\x22\xf1\x90"})
        assert len(served.gw.requests) == n             # the vehicle saw nothing
        assert conn.status().uptime_ms == 1234          # and the link goes on
    with pytest.raises(UsageError, match="role must be"):
        diagbridge_host.connect(served.url, key=KEY, role="admin")


def test_a_role_the_gateway_does_not_offer():
    srv = Server(FakeGateway(keys=((P.ROLE_MONITOR, MONITOR_KEY),)), "tcp")
    try:
        with pytest.raises(LinkRefused, match="refused the full role .* it offers: monitor"):
            diagbridge_host.connect(srv.url, key=MONITOR_KEY, role="full", timeout_s=TIMEOUT_S)
        with diagbridge_host.connect(srv.url, key=MONITOR_KEY, role="monitor",
                                     timeout_s=TIMEOUT_S) as conn:
            assert conn.role_name == "monitor"
    finally:
        srv.close()


def test_version_mismatch_says_update_the_gateway():
    class OldGateway(FakeGateway):
        """Answers every HELLO as a gateway speaking protocol 99 would."""
        def feed_link(self, now, data, n):
            self.link.feed_bytes(now, data, n)       # counts; the answer is ours
            self.answer = True

        def pop_link(self, out):
            if not getattr(self, "answer", False):
                return 0
            self.answer = False
            b = frame([P.MSG_HELLO_ACK, 0, {P.K_VERSION: 99, P.K_NAME: "old"}]) + \
                frame([P.MSG_ERROR, 0, {P.K_CODE: LINK_VERSION, P.K_TEXT: "version"}])
            out[:len(b)] = b
            return len(b)
    srv = Server(OldGateway(), "tcp")
    try:
        with pytest.raises(LinkVersionError, match="gateway speaks link protocol 99, this "
                                                   "library speaks %d: update the gateway"
                                                   % P.LINK_PROTOCOL_VERSION):
            diagbridge_host.connect(srv.url, key=KEY, timeout_s=TIMEOUT_S)
    finally:
        srv.close()


def test_a_host_of_another_version_is_refused_and_the_gateway_recovers(served):
    import serial
    port = serial.serial_for_url(served.url[len("serial://"):], timeout=0.2) \
        if served.kind == "pty" else None
    if port is None:
        import socket
        host, p = served.url[6:].split(":")
        s = socket.create_connection((host, int(p)), timeout=TIMEOUT_S)
        send, recv, close = s.sendall, lambda: s.recv(4096), s.close
    else:
        send, recv, close = port.write, lambda: port.read(4096), port.close
    send(frame([P.MSG_HELLO, 0, {P.K_VERSION: 99, P.K_ROLE: P.ROLE_FULL,
                                 P.K_NONCE: b"n" * 16, P.K_CREDITS: 4}]))
    got = b""
    end = time.monotonic() + TIMEOUT_S
    while b"mismatch" not in got and time.monotonic() < end:
        got += recv()
    close()
    assert b"link protocol version mismatch" in got
    with diagbridge_host.connect(served.url, key=KEY, timeout_s=TIMEOUT_S) as conn:
        assert conn.status().uptime_ms == 1234


def test_damaged_frames_both_ways_are_counted_and_the_link_recovers(served, caplog):
    with diagbridge_host.connect(served.url, key=KEY, timeout_s=TIMEOUT_S) as conn:
        uds = conn.uds(0, 0x7E0, 0x7E8)
        good = frame([P.MSG_HEARTBEAT, 0, {}])
        bad_crc = bytearray(good)
        bad_crc[3] ^= 0x01
        truncated = good[:-3] + b"\x00"
        oversize = b"\x00" + b"\x01" * 70000 + b"\x00"
        junk = os.urandom(500).replace(b"\x00", b"\x55")
        # gateway -> host (a well-formed frame injected would end the keyed session:
        # its MAC fails; tests/core/test_link_mac.py)
        for bad in (junk, bytes(bad_crc), truncated, oversize, b"\x00\x00\x00"):
            served.inject(bad)
        assert uds.read_data_by_identifier(0xF190) == VIN
        faults = conn.frame_faults
        assert faults["bad_crc"] >= 1 and faults["truncated"] >= 1 and faults["oversize"] >= 1
        # host -> gateway (straight onto the transport, under the link)
        before = served.gw.link.faults
        for bad in (junk, bytes(bad_crc), truncated, oversize):
            conn._engine.transport.write(bad)
        assert uds.read_data_by_identifier(0xF190) == VIN
        assert served.gw.link.faults >= before + 3
        assert conn.is_up


def test_request_timeout_and_link_loss_are_errors_not_hangs():
    class Mute(FakeGateway):
        def _service(self, now):
            s = self.link
            while (ev := s.poll()) != 0:
                if ev == 3 and s.req_kind == P.MSG_REQ_STATUS:
                    s.respond(now, s.req_id, OK)    # everything else: never answered
    srv = Server(Mute(), "tcp")
    try:
        conn = diagbridge_host.connect(srv.url, key=KEY, timeout_s=TIMEOUT_S)
        with pytest.raises(LinkTimeout, match="REQ_UDS within 0.3 s"):
            conn.request(P.MSG_REQ_UDS, {P.K_CHANNEL: 1, P.K_DATA: b"\x10\x01"}, timeout_s=0.3)
        conn.status()
        stream = conn.events()
        import threading
        errors = []

        def waiter():
            try:
                conn.request(P.MSG_REQ_UDS, {P.K_CHANNEL: 1, P.K_DATA: b"\x10\x01"},
                             timeout_s=TIMEOUT_S)
            except Exception as e:     # noqa: BLE001
                errors.append(e)
        t = threading.Thread(target=waiter)
        t.start()
        time.sleep(0.2)
        srv.drop_client()               # the gateway vanishes
        t.join(TIMEOUT_S)
        assert len(errors) == 1 and isinstance(errors[0], LinkError)
        assert "link lost" in str(errors[0])
        assert isinstance(stream.get(TIMEOUT_S), E.LinkLost)
        with pytest.raises(LinkError, match="connect again"):
            conn.status()
        conn.close()
        with diagbridge_host.connect(srv.url, key=KEY, timeout_s=TIMEOUT_S) as again:
            again.status()
    finally:
        srv.close()


def test_nothing_listens_on_the_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(LinkError, match="is the gateway daemon running"):
        diagbridge_host.connect("tcp://127.0.0.1:%d" % port, timeout_s=2.0)
    with pytest.raises(UsageError, match="unknown gateway URL scheme"):
        diagbridge_host.connect("http://x")


@pytest.mark.parametrize("kind", ["tcp", "pty"])
def test_flood_to_a_slow_host_loses_nothing_silently(kind, caplog):
    """The host takes events slowly; the gateway's bounded queue overflows;
    every frame is either received, in order, or counted as dropped."""
    gw = FakeGateway(event_queue=32, event_queue_bytes=4096)
    srv = Server(gw, kind)
    try:
        with diagbridge_host.connect(srv.url, key=KEY, event_credits=16,
                                     timeout_s=TIMEOUT_S) as conn:
            stream = conn.events()
            sent = 0
            received = []
            reports = []
            for burst in range(20):
                srv.call(lambda g, now: g.flood(now, 100))
                sent += 100
                for _ in range(10):                     # a slow consumer
                    ev = stream.get(0.01)
                    if isinstance(ev, E.CanFrame):
                        received.append(int.from_bytes(ev.data, "big"))
                    elif isinstance(ev, E.DropReport):
                        reports.append(ev)
            # drain: the gateway's drops not yet reported come with the next event
            srv.call(lambda g, now: g.flood(now, 1))
            sent += 1

            def drained():
                while (ev := stream.get(0.05)) is not None:
                    if isinstance(ev, E.CanFrame):
                        received.append(int.from_bytes(ev.data, "big"))
                    elif isinstance(ev, E.DropReport):
                        reports.append(ev)
                return len(received) + sum(r.total for r in reports) == sent
            wait_for(drained)
            dropped = sum(r.total for r in reports)
            assert dropped == gw.refused_posts + (gw.link.dropped[0] - gw.refused_posts)
            assert dropped > 0 and len(received) == gw.posted - (dropped - gw.refused_posts)
            assert conn.dropped.total == dropped and conn.dropped.lost_on_wire == 0
            assert conn.dropped.by_kind == {"EV_CAN_RX": dropped}
            assert all(r.counts.keys() == {"EV_CAN_RX"} for r in reports)
            assert any("dropped" in r.message for r in caplog.records
                       if r.levelno == logging.WARNING)
    finally:
        srv.close()


def test_asyncio_api(served):
    async def main():
        conn = await diagbridge_host.connect_async(served.url, key=KEY, timeout_s=TIMEOUT_S)
        async with conn:
            uds = await conn.uds(0, 0x7E0, 0x7E8)
            rsp = await uds.request(b"\x22\xf1\x90")
            assert rsp.ok and rsp[3:] == VIN
            assert await uds.read_data_by_identifier(0xF190) == VIN
            async with conn.events() as stream:
                await conn.can_listen(0, True, echo=True)
                await conn.can_send(0, 0x18DAF110, b"\x01\x02", extended=True)
                ev = await stream.get(TIMEOUT_S)
                assert isinstance(ev, E.CanFrame) and ev.is_extended_id
                assert ev.arbitration_id == 0x18DAF110
            with pytest.raises(LinkTimeout):
                await conn.request(P.MSG_REQ_UDS, {P.K_CHANNEL: 1, P.K_DATA: b"\xaa"},
                                   timeout_s=0.3)
    asyncio.run(main())
