"""Connection.reconnect() after a lost link, and the asyncio face of the host
library when things go wrong: a vanished gateway ends every pending request
with LinkError and every event stream with LinkLost, close() fails what is
still waiting, and sim:// (a blocking transport under the asyncio task)
serves the whole simulated vehicle.  Real clocks: behaviour only, generous
timeouts."""
import asyncio

import pytest

from diagbridge.codes import OK
from diagbridge.link import proto as P
import diagbridge_host
from diagbridge_host import events as E
from diagbridge_host.connection import Connection
from diagbridge_host.errors import LinkAuthError, LinkError, UsageError

from test_host_rig import FakeGateway, Server, KEY, VIN, TIMEOUT_S, wait_for


class Mute(FakeGateway):
    """Answers STATUS, never anything else (requests stay pending)."""

    def _service(self, now):
        s = self.link
        while (ev := s.poll()) != 0:
            if ev == 3 and s.req_kind == P.MSG_REQ_STATUS:
                s.respond(now, s.req_id, OK)


@pytest.fixture
def tcp():
    srv = Server(FakeGateway(), "tcp")
    yield srv
    srv.close()


def test_reconnect_after_the_link_was_lost(tcp):
    conn = diagbridge_host.connect(tcp.url, key=KEY, timeout_s=TIMEOUT_S)
    try:
        first = conn.new_channel_id()
        stream = conn.events()
        tcp.drop_client()                       # the gateway vanishes
        assert isinstance(stream.get(TIMEOUT_S), E.LinkLost)
        wait_for(lambda: not conn.is_up)
        with pytest.raises(LinkError):
            conn.status()
        conn.reconnect()                        # the same URL, key and role
        assert conn.is_up and conn.role == P.ROLE_FULL
        assert conn.status().uptime_ms == 1234
        assert conn.new_channel_id() == first + 1   # ids go on counting
        uds = conn.uds(0, 0x7E0, 0x7E8)
        assert uds.read_data_by_identifier(0xF190) == VIN
        # the old stream ended with the old link; a new one sees new events
        assert stream.get(0.05) is None
    finally:
        conn.close()


def test_reconnect_of_a_live_connection_starts_a_new_session(tcp):
    with diagbridge_host.connect(tcp.url, key=KEY, timeout_s=TIMEOUT_S) as conn:
        conn.status()
        conn.reconnect()                        # the old link is closed first
        assert conn.is_up and conn.status().uptime_ms == 1234


def test_reconnect_that_the_gateway_refuses_leaves_the_connection_down():
    gw = FakeGateway()
    srv = Server(gw, "tcp")
    try:
        conn = diagbridge_host.connect(srv.url, key=KEY, timeout_s=TIMEOUT_S)
        srv.drop_client()
        wait_for(lambda: not conn.is_up)
        good = gw.link._hs._cfg.keys
        other = ((P.ROLE_FULL, b"another key of 16+ bytes"),)
        srv.call(lambda g, now: setattr(g.link._hs._cfg, "keys", other))
        with pytest.raises(LinkAuthError):
            conn.reconnect()
        assert not conn.is_up
        with pytest.raises(LinkError):
            conn.status()
        srv.call(lambda g, now: setattr(g.link._hs._cfg, "keys", good))
        conn.reconnect()                        # may be tried again
        assert conn.status().uptime_ms == 1234
        conn.close()
    finally:
        srv.close()


def test_reconnect_needs_a_connection_made_by_connect():
    with pytest.raises(UsageError, match="not made by connect"):
        Connection(None, "tcp://127.0.0.1:1").reconnect()


def test_asyncio_link_loss_ends_requests_and_streams():
    srv = Server(Mute(), "tcp")

    async def main():
        conn = await diagbridge_host.connect_async(srv.url, key=KEY, timeout_s=TIMEOUT_S)
        st = await conn.status()
        assert st.uptime_ms == 0 and st.jobs == []      # Mute answers an empty body
        stream = conn.events()
        pending = asyncio.ensure_future(
            conn.request(P.MSG_REQ_UDS, {P.K_CHANNEL: 1, P.K_DATA: b"\x10\x01"},
                         timeout_s=TIMEOUT_S))
        await asyncio.sleep(0.2)
        assert not pending.done()
        await asyncio.get_running_loop().run_in_executor(None, srv.drop_client)
        with pytest.raises(LinkError, match="link lost"):
            await asyncio.wait_for(pending, TIMEOUT_S)
        assert isinstance(await stream.get(TIMEOUT_S), E.LinkLost)
        assert not conn.is_up
        with pytest.raises(LinkError):
            await conn.status()
        await conn.close()
    try:
        asyncio.run(main())
    finally:
        srv.close()


def test_asyncio_close_fails_what_still_waits():
    srv = Server(Mute(), "tcp")

    async def main():
        conn = await diagbridge_host.connect_async(srv.url, key=KEY, timeout_s=TIMEOUT_S)
        pending = asyncio.ensure_future(
            conn.request(P.MSG_REQ_UDS, {P.K_CHANNEL: 1, P.K_DATA: b"\x10\x01"},
                         timeout_s=TIMEOUT_S))
        await asyncio.sleep(0.1)
        await conn.close()
        with pytest.raises(LinkError):
            await asyncio.wait_for(pending, TIMEOUT_S)
        assert not conn.is_up
    try:
        asyncio.run(main())
    finally:
        srv.close()


def test_asyncio_over_sim_serves_the_simulated_vehicle():
    async def main():
        async with await diagbridge_host.connect_async("sim://", timeout_s=TIMEOUT_S) as conn:
            assert conn.is_up and conn.role_name == "full"
            st = await conn.status()
            assert st.uptime_ms >= 0 and isinstance(st.stats, dict)
            async with await conn.uds(0, 0x7E0, 0x7E8) as uds:
                vin = await uds.read_data_by_identifier(0xF190)
                assert len(vin) == 17
                rsp = await uds.request(b"\x10\x03")
                assert rsp.ok and rsp[:2] == b"\x50\x03"
                nrc = await uds.request(b"\x31\x01\xff\xff")
                assert not nrc.ok and nrc.nrc is not None
    asyncio.run(main())


def test_a_per_request_ecu_timeout_through_the_gateway():
    """ecu_timeout_ms reaches the gateway's tester (REQ_UDS TIMEOUT): a silent
    ECU times out after it, not after the session's P2; bad values are the
    caller's mistake, nothing is sent."""
    import time
    from diagbridge.codes import A_TIMEOUT_P2
    with diagbridge_host.connect("sim://", timeout_s=TIMEOUT_S) as conn:
        with conn.uds(0, 0x7E5, 0x7ED) as silent:
            t = time.monotonic()
            rsp = silent.request(b"\x22\xf1\x90", ecu_timeout_ms=600)
            assert rsp.result == A_TIMEOUT_P2 and time.monotonic() - t >= 0.6
            for bad in (0, 600001, 1.5, True):
                with pytest.raises(UsageError):
                    silent.request(b"\x22\xf1\x90", ecu_timeout_ms=bad)
        with conn.uds(0, 0x7E0, 0x7E8) as engine:
            assert engine.request(b"\x22\xf1\x90", ecu_timeout_ms=2000).ok

    async def main():
        async with await diagbridge_host.connect_async("sim://", timeout_s=TIMEOUT_S) as conn:
            async with await conn.uds(0, 0x7E0, 0x7E8) as uds:
                assert (await uds.request(b"\x22\xf1\x90", ecu_timeout_ms=2000)).ok
                with pytest.raises(UsageError):
                    await uds.request(b"\x22\xf1\x90", ecu_timeout_ms=0)
    asyncio.run(main())
