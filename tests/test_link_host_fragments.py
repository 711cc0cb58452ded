"""The host link carries any UDS PDU (CPython): the host library's FRAGMENTs
against the gateway's session (sans-I/O pairs), then through the daemon over
real TCP with the engine ECU on a python-can virtual bus, where udsoncan's
connection (GatewayConnection) downloads 1026-byte TransferData blocks and
uploads 2050-byte ones, both longer than the daemon's 1024-byte frames.
Also the host's half of "a keyed host never takes an open grant".  Real
clocks in the daemon tests: behaviour only, generous timeouts."""
import hashlib
import itertools
import os
import struct

import can
import pytest
import udsoncan
from udsoncan import DataFormatIdentifier, MemoryLocation
from udsoncan.client import Client

import diagbridge_host
from diagbridge.codes import OK, LINK_AUTH_FAILED, LINK_OVERSIZE
from diagbridge.cpy.ecu.runner import EcuRunner, build_ecu
from diagbridge.cpy.gateway.config import Board, load_board
from diagbridge.cpy.gateway.daemon import Daemon
from diagbridge.errors import UsageError
from diagbridge.link import proto as P
from diagbridge.link.config import LinkConfig
from diagbridge.link.session import LinkSession, EV_REQUEST
from diagbridge.uds.seedkey import key_function
from diagbridge_host.errors import LinkAuthError
from diagbridge_host.link import HostLink, READY, FAILED, Response, RequestFailed
from diagbridge_host.udsoncan import GatewayConnection

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY = b"fragment-test-key-0123456789abcd"
TIMEOUT_S = 20.0
PDU = bytes((0x36, 0x01)) + bytes((i * 11) & 0xFF for i in range(4093))   # 4095 bytes
_ids = itertools.count()


class Rand:
    def __init__(self):
        self.n = 0

    def __call__(self, k):
        self.n += 1
        return bytes((self.n + i) & 0xFF for i in range(k))


def pump(gw, host, t=0.0, rounds=50):
    """Move bytes both ways until neither side has anything to send."""
    out = bytearray(8192)
    for _ in range(rounds):
        moved = False
        data = host.data_to_send()
        if data:
            gw.feed_bytes(0, data, len(data))
            moved = True
        while True:
            n = gw.pop_bytes(out)
            if n == 0:
                break
            host.receive_bytes(t, bytes(out[:n]))
            moved = True
        if not moved:
            return


def pair(key=KEY, gw_keys=((P.ROLE_FULL, KEY),), open_role=P.ROLE_NONE, **host_kw):
    gw = LinkSession(LinkConfig(keys=gw_keys, open_role=open_role, max_frame=256),
                     hashlib.sha256, Rand())
    host = HostLink(key=key, urandom=Rand(), **host_kw)
    host.connect(0.0)
    pump(gw, host)
    while gw.poll():                    # EV_LINK_UP
        pass
    return gw, host


def _events(host):
    evs = []
    while True:
        ev = host.next_event()
        if ev is None:
            return evs
        evs.append(ev)


# ---- the host library against the gateway's session ---------------------------------
def test_a_4095_byte_request_and_answer_through_hostlink_both_ways():
    gw, host = pair(max_frame=200)
    assert host.state == READY and host.mac_on
    assert gw.frame_size == 200 and host.gateway.max_frame == 256
    assert host.gateway.max_message == P.message_size(4095)
    _events(host)
    rid = host.request(0.0, P.MSG_REQ_UDS, {P.K_CHANNEL: 1, P.K_DATA: PDU})
    wire = host.data_to_send()
    gw.feed_bytes(0, wire, len(wire))
    assert gw.poll() == EV_REQUEST and gw.req_id == rid and gw.body()[P.K_DATA] == PDU
    answer = b"\x76" + PDU[1:]
    assert gw.respond(0, rid, OK, answer, len(answer))
    pump(gw, host)
    (ev,) = _events(host)
    assert isinstance(ev, Response) and ev.req_id == rid and ev.data == answer
    assert host.frame_faults["fragments"] == 0 and host.bad_mac == 0 and gw.faults == 0
    # longer than the gateway takes: refused here, before anything is sent
    with pytest.raises(UsageError, match="exceeds the gateway's max_message"):
        host.request(0.0, P.MSG_REQ_UDS, {P.K_CHANNEL: 1, P.K_DATA: bytes(5000)})


def test_the_host_sends_one_fragmented_request_at_a_time():
    gw, host = pair(max_frame=200)
    _events(host)
    a = host.request(0.0, P.MSG_REQ_UDS, {P.K_CHANNEL: 1, P.K_DATA: PDU[:1000]})
    b = host.request(0.0, P.MSG_REQ_UDS, {P.K_CHANNEL: 2, P.K_DATA: PDU[:1001]})
    c = host.request(0.0, P.MSG_REQ_STATUS, {})
    pump(gw, host)
    assert gw.poll() == EV_REQUEST and gw.req_id == a and gw.poll() == 0   # b waits, c behind it
    gw.respond(0, a, OK)
    pump(gw, host)
    assert gw.poll() == EV_REQUEST and gw.req_id == b and gw.body()[P.K_DATA] == PDU[:1001]
    assert gw.poll() == EV_REQUEST and gw.req_id == c and gw.poll() == 0
    assert gw.faults == 0


def test_the_gateway_answers_a_request_the_host_cannot_take_with_link_oversize():
    gw, host = pair(max_frame=200, max_message=1000)
    _events(host)
    assert gw.host_message == 1000 and not gw.carries(4095)
    rid = host.request(0.0, P.MSG_REQ_UDS, {P.K_CHANNEL: 1, P.K_DATA: b"\x22\xf1\x90"})
    pump(gw, host)
    assert gw.poll() == EV_REQUEST
    gw.respond(0, rid, OK, PDU, 2000)
    pump(gw, host)
    (ev,) = _events(host)
    assert isinstance(ev, RequestFailed) and ev.code == LINK_OVERSIZE and ev.req_id == rid


def test_damaged_fragments_from_the_gateway_are_counted_and_dropped():
    gw, host = pair(key=None, gw_keys=(), open_role=P.ROLE_FULL)
    _events(host)
    from diagbridge.link.cobs import encode_frame, frame_size
    import msgpack

    def send(obj):
        m = msgpack.packb(obj, use_bin_type=True)
        out = bytearray(frame_size(len(m)))
        host.receive_bytes(0.0, bytes(out[:encode_frame(m, len(m), out)]))

    whole = msgpack.packb([P.MSG_EV_STATE, 0, {P.K_WHAT: 1, P.K_STATE: 2}], use_bin_type=True)
    send([P.MSG_FRAGMENT, 0, {P.K_OFFSET: 0, P.K_TOTAL: len(whole), P.K_DATA: whole[:5]}])
    send([P.MSG_FRAGMENT, 0, {P.K_OFFSET: 7, P.K_TOTAL: len(whole), P.K_DATA: whole[7:]}])
    assert host.frame_faults["fragments"] == 1 and _events(host) == []
    send([P.MSG_FRAGMENT, 0, {P.K_OFFSET: 0, P.K_TOTAL: 1 << 30, P.K_DATA: whole}])
    assert host.frame_faults["fragments"] == 2
    send([P.MSG_FRAGMENT, 0, {P.K_OFFSET: 0, P.K_TOTAL: len(whole), P.K_DATA: whole[:5]}])
    send([P.MSG_FRAGMENT, 0, {P.K_OFFSET: 5, P.K_TOTAL: len(whole), P.K_DATA: whole[5:]}])
    (ev,) = _events(host)
    assert ev.kind == P.MSG_EV_STATE and ev.body[P.K_STATE] == 2
    assert host.state == READY


# ---- a keyed host never takes an open grant -------------------------------------------
def test_a_keyed_host_is_challenged_by_an_open_gateway_that_has_its_key():
    gw, host = pair(gw_keys=((P.ROLE_FULL, KEY),), open_role=P.ROLE_FULL)
    assert host.state == READY and host.mac_on and gw.mac_on
    gw, host = pair(key=None, gw_keys=((P.ROLE_FULL, KEY),), open_role=P.ROLE_FULL)
    assert host.state == READY and not host.mac_on        # no key: the open grant


def test_a_keyed_host_refuses_an_auth_ok_without_a_challenge():
    gw = LinkSession(LinkConfig(keys=(), open_role=P.ROLE_FULL), hashlib.sha256, Rand())
    host = HostLink(key=KEY, urandom=Rand())
    host.connect(0.0)
    with pytest.raises(LinkAuthError) as e:
        pump(gw, host)
    assert str(e.value) == (
        "the gateway let us in without checking our key (no challenge for the full role): it "
        "may not be the gateway; connect without a key to accept an open gateway")
    assert e.value.code == LINK_AUTH_FAILED and host.state == FAILED and not host.mac_on
    # an impostor that ignores KEYED and grants at once: the same refusal
    import msgpack
    from diagbridge.link.cobs import encode_frame, frame_size
    host = HostLink(key=KEY, urandom=Rand())
    host.connect(0.0)
    wire = b""
    for m in ([P.MSG_HELLO_ACK, 0, {P.K_VERSION: P.LINK_PROTOCOL_VERSION, P.K_NAME: "gw",
                                    P.K_MAX_FRAME: 1024, P.K_AUTH: False}],
              [P.MSG_AUTH_OK, 0, {P.K_ROLE: P.ROLE_FULL, P.K_CREDITS: 4}]):
        b = msgpack.packb(m, use_bin_type=True)
        out = bytearray(frame_size(len(b)))
        wire += bytes(out[:encode_frame(b, len(b), out)])
    with pytest.raises(LinkAuthError, match="without checking our key"):
        host.receive_bytes(0.0, wire)
    assert host.state == FAILED


# ---- through the daemon, real TCP, the engine ECU ------------------------------------------
class Rig:
    """The daemon (1024-byte frames) on a fresh virtual channel, the engine ECU beside it."""

    def __init__(self):
        self.channel = "dfrag%d-%d" % (os.getpid(), next(_ids))
        board = Board(name="frag-gw", can=({"interface": "virtual", "channel": self.channel,
                                            "bitrate": 500000},), link_tcp="tcp://127.0.0.1:0")
        self.daemon = Daemon(board, ((P.ROLE_FULL, KEY),), P.ROLE_NONE).open().start()
        self.url = self.daemon.urls[0]
        self.ecu_bus = can.Bus(interface="virtual", channel=self.channel)
        self.ecu = EcuRunner(self.ecu_bus, build_ecu("engine"), name="engine")
        self.ecu.__enter__()

    def close(self):
        self.ecu.__exit__(None, None, None)
        self.ecu_bus.shutdown()
        self.daemon.stop()


@pytest.fixture
def rig():
    r = Rig()
    yield r
    r.close()


def _client(conn):
    secret = key_function("diagbridge1", b"EngineProg03")
    cfg = dict(udsoncan.configs.default_client_config)
    cfg.update({"request_timeout": 60, "p2_timeout": 10, "p2_star_timeout": 30,
                "use_server_timing": False,
                "security_algo": lambda level, seed, params=None: secret(level, seed),
                "server_address_format": 32, "server_memorysize_format": 32})
    return Client(GatewayConnection(conn, bus=0, tx_id=0x7E0, rx_id=0x7E8), config=cfg)


def test_udsoncan_downloads_1026_byte_blocks_and_uploads_through_the_daemon(rig):
    data = bytes((i * 29 + (i >> 8)) & 0xFF for i in range(0x1000))
    start = 0x10000
    with diagbridge_host.connect(rig.url, key=KEY, timeout_s=TIMEOUT_S) as conn:
        frame = conn.gateway.max_frame
        assert frame == 1024 and conn.gateway.max_message == P.message_size(4095)
        with _client(conn) as c:
            c.change_session(2)
            c.unlock_security_access(3)
            c.start_routine(0xFF00, b"\x44" + struct.pack(">II", start, len(data)))
            r = c.request_download(MemoryLocation(start, len(data), 32, 32),
                                   DataFormatIdentifier(0, 0))
            assert r.service_data.max_length >= 1026
            seq = 1
            for pos in range(0, len(data), 1024):           # 1026-byte TransferData PDUs
                r = c.transfer_data(seq & 0xFF, data[pos:pos + 1024])
                assert r.service_data.sequence_number_echo == seq & 0xFF
                seq += 1
            c.request_transfer_exit()
            # upload: every 0x36 answer is longer than a frame, so it arrives in fragments
            r = c.request_upload(MemoryLocation(start, len(data), 32, 32))
            step = r.service_data.max_length - 2
            assert step + 2 > frame
            back = b""
            seq = 1
            while len(back) < len(data):
                r = c.transfer_data(seq & 0xFF)
                assert r.service_data.sequence_number_echo == seq & 0xFF
                back += r.service_data.parameter_records[:step]
                seq += 1
            c.request_transfer_exit()
            assert back == data
        assert conn.frame_faults["fragments"] == 0 and conn.frame_faults["bad_mac"] == 0
        st = conn.status()
        assert st.stats["link_faults"] == 0


def test_the_pi_board_sizes_the_link_from_its_max_pdu():
    board = load_board(os.path.join(ROOT, "boards", "pi-can-hat", "board.py"))
    gcfg = board.gateway_config()
    lcfg = board.link_config((), P.ROLE_FULL)
    assert lcfg.max_message == P.message_size(gcfg.max_pdu) and lcfg.max_frame >= 1024
