"""End to end: host library -> gateway -> simulated ECUs -> back, over a
real TCP loopback connection, a real pseudo-terminal pair and sim:// (the
vehicle in-process).  The vehicle is diagbridge.sim.vehicle (engine and
gearbox on bus 0, ABS on bus 1) with its virtual clock run in real time.
Real clocks: behaviour only, generous timeouts."""
import os
import tempfile
import time

import can
import pytest
import udsoncan
from udsoncan.client import Client
from udsoncan.exceptions import NegativeResponseException

import diagbridge_host
from diagbridge.codes import OK, A_NEGATIVE_RESPONSE
from diagbridge.uds.client.api import key_function
from diagbridge_host import events as E
from diagbridge_host.errors import LinkRefused
from diagbridge_host.udsoncan import GatewayConnection

from test_host_rig import Server, VehicleGateway, KEY, MONITOR_KEY, TIMEOUT_S, wait_for

ENGINE_VIN = b"W0L000043MB541326"


class Rig:
    """A served vehicle: url, and inject(fn) to run fn(vehicle) in its thread."""

    def __init__(self, kind):
        self.kind = kind
        self.srv = None
        if kind == "sim":
            self.url = "sim://?key=" + KEY.decode()
            self._conns = []
        else:
            self.srv = Server(VehicleGateway(), kind)
            self.url = self.srv.url

    def connect(self, **kw):
        kw.setdefault("key", KEY)
        kw.setdefault("timeout_s", TIMEOUT_S)
        conn = diagbridge_host.connect(self.url, **kw)
        if self.kind == "sim":
            self._conns.append(conn)
        return conn

    def inject(self, fn, conn=None):
        if self.kind == "sim":
            return (conn or self._conns[-1])._engine.transport.call(fn)
        return self.srv.call(lambda gw, now: fn(gw.vehicle))

    def close(self):
        if self.srv is not None:
            self.srv.close()


@pytest.fixture(params=["tcp", "pty", "sim"])
def rig(request):
    r = Rig(request.param)
    yield r
    r.close()


def test_uds_on_can(rig):
    with rig.connect() as conn:
        assert conn.gateway.name == "diagbridge-sim" and len(conn.gateway.buses) == 2
        engine = conn.uds(0, 0x7E0, 0x7E8, func_tx_id=0x7DF)
        gearbox = conn.uds(0, 0x7E1, 0x7E9)
        assert engine.read_data_by_identifier(0xF190) == ENGINE_VIN
        assert gearbox.read_data_by_identifier(0xF187) == b"GBX0001234"
        dtcs = engine.read_dtc_by_status_mask(0xFF)
        assert (0x010100, 0x2F) in dtcs and len(dtcs) >= 10
        rsp = engine.request(b"\x22\x12\x34")                  # an NRC is data
        assert rsp.result == A_NEGATIVE_RESPONSE and rsp.nrc == 0x31 and rsp == b"\x7f\x22\x31"
        assert engine.change_session(3).ok
        assert engine.unlock(1, key_function("diagbridge1", b"EngineExt01")).ok
        assert engine.write_data_by_identifier(0x0200, b"\x03\x60").ok
        assert engine.request(b"\x22\x02\x00") == b"\x62\x02\x00\x03\x60"
        answers = engine.request_functional(b"\x3e\x00")
        assert answers == {engine.channel: b"\x7e\x00", gearbox.channel: b"\x7e\x00"}
        assert engine.ecu_reset(1).ok
        st = conn.status()
        assert st.stats["uds_requests"] >= 8 and set(st.channels) == {engine.channel,
                                                                       gearbox.channel}
        gearbox.close()
        assert conn.status().channels == [engine.channel]


def test_roles_through_the_gateway(rig):
    with rig.connect(key=MONITOR_KEY, role="monitor") if rig.kind != "sim" else \
            diagbridge_host.connect("sim://?open_role=monitor&key=" + KEY.decode(),
                                    role="monitor", timeout_s=TIMEOUT_S) as conn:
        with pytest.raises(LinkRefused, match="REQ_CHANNEL"):
            conn.uds(0, 0x7E0, 0x7E8)
        with pytest.raises(LinkRefused):
            conn.can_send(0, 0x7E0, b"\x02\x11\x01")
        assert conn.status().stats["link_refused"] == 2


def test_simulated_ecu_started_from_the_host(rig):
    with rig.connect() as conn:
        conn.ecu_sim(5, "engine", bus=1, tx_id=0x7EA, rx_id=0x7E2)
        assert conn.status().ecus == [5]
        # a tester elsewhere on bus 1 asks; the gateway's hosted ECU answers
        with conn.can_monitor(1, filters=[(0x7EA, 0x7FF)], echo=True) as frames:
            rig.inject(lambda v: v.buses[1].attach("tester").send(
                0x7E2, b"\x03\x22\xf1\x90\xcc\xcc\xcc\xcc"), conn)
            f = frames.get(TIMEOUT_S)
            assert isinstance(f, E.CanFrame) and f.bus == 1 and f.arbitration_id == 0x7EA
            assert f.data[:5] == b"\x10\x14\x62\xf1\x90" and f.is_echo
        conn.ecu_sim(5, "engine", on=False)
        assert conn.status().ecus == []


def test_flash_with_progress(rig):
    if rig.kind == "pty":
        pytest.skip("same path as tcp; the pty test would only be slower")
    img = bytes(((i * 7) ^ (i >> 8)) & 0xFF for i in range(8192))
    with rig.connect() as conn:
        uds = conn.uds(0, 0x7E0, 0x7E8, func_tx_id=0x7DF)
        progress, steps = [], []
        rep = uds.flash(img, 0x10000, security_level=3, secret=b"EngineProg03",
                        progress=lambda d, t: progress.append((d, t)), on_step=steps.append)
        assert rep.ok, rep
        assert rep.bytes == len(img) and rep.verified and rep.step_name == "done"
        assert progress and progress[-1] == (len(img), len(img))
        assert [d for d, _ in progress] == sorted(d for d, _ in progress)
        assert steps[0] == "pre_session" and "transfer" in steps and steps[-1] == "done"
        assert conn.status().jobs == []


def test_raw_can_and_python_can(rig):
    with rig.connect() as conn:
        bus = can.Bus(interface="diagbridge", channel=rig.url, key=KEY,
                      connection=conn, can_filters=[{"can_id": 0x7E8, "can_mask": 0x7FF}])
        try:
            bus.send(can.Message(arbitration_id=0x7E0, is_extended_id=False,
                                 data=b"\x02\x10\x03\xcc\xcc\xcc\xcc\xcc"))
            msg = bus.recv(TIMEOUT_S)
            assert msg is not None and msg.arbitration_id == 0x7E8
            assert bytes(msg.data[:3]) == b"\x06\x50\x03" and msg.is_rx
            assert abs(msg.timestamp - time.time()) < 60
        finally:
            bus.shutdown()
        assert conn.is_up                                    # a shared connection stays
        # python-can's logger: everything on bus 0 (the gateway's own frames
        # too) to an ASC file while UDS runs
        path = os.path.join(tempfile.mkdtemp(), "bus0.asc")
        bus = can.Bus(interface="diagbridge", channel=rig.url + "#0", key=KEY,
                      connection=conn, receive_own_messages=True)
        writer = can.ASCWriter(path)
        notifier = can.Notifier(bus, [writer])
        try:
            uds = conn.uds(0, 0x7E0, 0x7E8)
            assert uds.read_data_by_identifier(0xF190) == ENGINE_VIN
            time.sleep(0.2)
        finally:
            notifier.stop()
            writer.stop()
            bus.shutdown()
        logged = list(can.LogReader(path))
        ids = [m.arbitration_id for m in logged]
        assert ids[:4] == [0x7E0, 0x7E8, 0x7E0, 0x7E8]        # SF, FF, FC, CF...
        ts = [m.timestamp for m in logged]
        assert ts == sorted(ts) and ts[-1] - ts[0] < 1.0
        # python-can's player: the log's tester frames replayed onto the bus
        # (a fresh session of the same request), the ECU answers again
        bus = can.Bus(interface="diagbridge", channel=rig.url, connection=conn,
                      receive_own_messages=True)
        try:
            for m in logged:
                if m.arbitration_id == 0x7E0 and m.data[0] == 0x03:
                    bus.send(m)
                    break
            got = [bus.recv(TIMEOUT_S) for _ in range(2)]
            assert got[0].arbitration_id == 0x7E0 and not got[0].is_rx
            assert got[1].arbitration_id == 0x7E8 and got[1].data[0] == 0x10   # FF
        finally:
            bus.shutdown()


def test_python_can_owns_its_connection(rig):
    if rig.kind == "sim":
        pytest.skip("sim:// makes a new vehicle per connection")
    with can.Bus(interface="diagbridge", channel=rig.url, key=KEY) as bus:
        assert "diagbridge-sim" in bus.channel_info
        bus.send(can.Message(arbitration_id=0x7E1, is_extended_id=False,
                             data=b"\x02\x3e\x00\x00\x00\x00\x00\x00"))
        msg = bus.recv(TIMEOUT_S)
        assert msg.arbitration_id == 0x7E9 and bytes(msg.data[:3]) == b"\x02\x7e\x00"


def test_udsoncan_through_the_gateway(rig):
    with rig.connect() as conn:
        cfg = dict(udsoncan.configs.default_client_config)
        cfg["data_identifiers"] = {0xF190: udsoncan.AsciiCodec(17),
                                   0x1234: udsoncan.AsciiCodec(4)}
        cfg["p2_timeout"] = 0.5
        with Client(GatewayConnection(conn, 0, 0x7E0, 0x7E8), config=cfg) as client:
            assert client.read_data_by_identifier(0xF190).service_data.values[0xF190] == \
                ENGINE_VIN.decode()
            client.change_session(3)
            client.tester_present()
            with pytest.raises(NegativeResponseException) as ei:
                client.read_data_by_identifier(0x1234)         # no such DID
            assert ei.value.response.code == 0x31
            # a 2 s routine: the gateway handles the ECU's 0x78s; udsoncan's own
            # 0.5 s P2 is extended by the connection's 7F 31 78
            rsp = client.start_routine(0x0201)
            assert rsp.positive


def test_flood_of_can_frames_to_a_slow_host(rig):
    """A burst on bus 0 faster than the host reads: every frame is received
    or counted as dropped, exactly, and the gateway's counters agree."""
    if rig.kind == "pty":
        pytest.skip("tcp and sim cover it")
    n = 1500
    with rig.connect(event_credits=32) as conn:
        with conn.can_monitor(0, filters=[(0x555, 0x7FF)]) as frames:
            def burst(v):
                port = v.buses[0].attach("flooder")
                for i in range(n):
                    port.send(0x555, i.to_bytes(8, "big"))
            rig.inject(burst, conn)
            got, reports = [], []

            def drained():
                ev = frames.get(0.2)
                if isinstance(ev, E.CanFrame):
                    got.append(int.from_bytes(ev.data, "big"))
                    if len(got) < 200:
                        time.sleep(0.002)               # slow at first
                elif isinstance(ev, E.DropReport):
                    reports.append(ev)
                return len(got) + sum(r.total for r in reports) >= n and ev is None
            wait_for(drained, 60)
            dropped = sum(r.total for r in reports)
            assert len(got) + dropped == n and dropped == conn.dropped.total > 0
            assert got == sorted(got) and len(set(got)) == len(got)
            st = conn.status().bus_stats[0]
            assert st["listened"] == len(got) and st["listen_dropped"] == dropped


def test_route_between_networks_set_up_from_the_host():
    """A 29-bit tester on bus 0 reaches the 11-bit ABS on bus 1 (sim://)."""
    from diagbridge.cantp import Channel, TpConfig, Address, ADDR_NORMAL_FIXED
    from diagbridge.sim import tester_node
    from diagbridge.uds.client.core import UdsClient, UdsClientConfig
    from diagbridge_host.uds import endpoint
    with diagbridge_host.connect("sim://", timeout_s=TIMEOUT_S) as conn:
        conn.route(1, endpoint(0, "normal_fixed", ta=0xF1, sa=0x10),
                   endpoint(1, "normal_11", tx_id=0x7E0, rx_id=0x7E8), pending_ms=40)
        assert conn.status().routes == [1]
        box = {}

        def tester(v):
            ch = Channel(TpConfig(), Address(ADDR_NORMAL_FIXED, ta=0x10, sa=0xF1))
            c = UdsClient(UdsClientConfig(p2_client_ms=100, adopt_timing=False))
            box["node"] = tester_node.TesterNode(v.k, v.buses[0].attach("t29"), [ch], [c])
            box["c"] = c
            c.request(v.k.now, b"\x22\xf1\x87", 3)
            box["node"].kick()
        conn._engine.transport.call(tester)
        wait_for(lambda: conn._engine.transport.call(lambda v: box["c"].busy()) is False)
        c = box["c"]
        assert c.result == OK and bytes(c.payload[:c.length]) == b"\x62\xf1\x87ABS0007001"
        assert conn.status().stats["routed"] == 1
