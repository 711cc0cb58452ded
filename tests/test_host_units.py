"""Small pieces of the host library, without a link: URLs, gateway
timestamps across the tick wrap, endpoint specs, UDS response objects."""
import pytest

from diagbridge.clock import TICKS_MASK, TICKS_PERIOD
from diagbridge.codes import OK, A_NEGATIVE_RESPONSE, A_TIMEOUT_P2
from diagbridge.link import proto as P
from diagbridge_host import events as E
from diagbridge_host.errors import NegativeResponseError, UdsTimeout, UsageError
from diagbridge_host.transports import split_url
from diagbridge_host.uds import UdsResponse, endpoint


def test_urls():
    assert split_url("tcp://127.0.0.1:5555") == ("tcp", "127.0.0.1:5555", {})
    assert split_url("serial:///dev/ttyACM0?baudrate=921600") == \
        ("serial", "/dev/ttyACM0", {"baudrate": "921600"})
    assert split_url("serial://loop://") == ("serial", "loop://", {})
    assert split_url("serial://socket://h:1?logging=debug") == \
        ("serial", "socket://h:1?logging=debug", {})          # pyserial's own query
    assert split_url("SIM://?key=abc") == ("sim", "", {"key": "abc"})
    for bad in ("127.0.0.1:5555", "udp://x:1", None):
        with pytest.raises(UsageError):
            split_url(bad)


def test_the_tick_period_is_defined_once_on_the_wire():
    """proto.TS_US_PERIOD is the gateway clock's period; the host library
    imports it and never restates 2**29 (where it could drift)."""
    import ast
    import os
    assert P.TS_US_PERIOD == TICKS_PERIOD == 1 << 29
    root = os.path.dirname(E.__file__)
    for folder, _, files in os.walk(root):
        for name in files:
            if not name.endswith(".py"):
                continue
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                tree = ast.parse(f.read())
            for node in ast.walk(tree):
                # (0x1FFFFFFF is also the 29-bit CAN identifier mask: not checked)
                if isinstance(node, ast.Constant) and node.value == 1 << 29:
                    raise AssertionError("%s:%d restates the tick period"
                                         % (name, node.lineno))
                if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.LShift, ast.Pow)) \
                        and isinstance(node.right, ast.Constant) and node.right.value == 29:
                    raise AssertionError("%s:%d restates the tick period" % (name, node.lineno))


def test_gateway_clock_unwraps_ticks():
    c = E.GatewayClock(wall=lambda: 1000.0)
    t0 = P.TS_US_PERIOD - 500
    assert c.seconds(t0) == 1000.0
    assert c.seconds((t0 + 1000) & TICKS_MASK) == pytest.approx(1000.001)   # across the wrap
    assert c.seconds((t0 + 200_000_000) & TICKS_MASK) == pytest.approx(1200.0)
    assert c.seconds((t0 + 400_000_000) & TICKS_MASK) == pytest.approx(1400.0)
    assert c.seconds((t0 + 399_000_000) & TICKS_MASK) == pytest.approx(1399.0)  # a bit back


def test_events_from_bodies():
    clock = E.GatewayClock(wall=lambda: 5.0)
    f = E.convert(P.MSG_EV_CAN_RX, {P.K_BUS: 1, P.K_TS_US: 7, P.K_ID: 0x18DAF110,
                                    P.K_FLAGS: P.CAN_EXT | P.CAN_FD, P.K_DATA: b"\x01"}, clock)
    assert f.is_extended_id and f.is_fd and not f.is_echo and f.timestamp == 5.0
    s = E.convert(P.MSG_EV_STATE, {P.K_WHAT: P.WHAT_FLASH_STEP, P.K_STATE: 9, P.K_REF: 3},
                  clock)
    assert s.state_name == "transfer" and s.what_name == "flash_step"
    assert E.convert(0x4E, {1: 2}, clock) == E.UnknownEvent(0x4E, {1: 2})
    assert E.drop_report({P.MSG_EV_CAN_RX: 5, P.MSG_EV_PROGRESS: 1}) == \
        E.DropReport({"EV_CAN_RX": 5, "EV_PROGRESS": 1}, 6)
    assert E.kind_name(P.MSG_REQ_UDS) == "REQ_UDS"


def test_endpoint_spec():
    assert endpoint(1, "normal_fixed", ta=0x10, sa=0xF1) == {
        P.K_TRANSPORT: P.TRANSPORT_CANTP, P.K_BUS: 1,
        P.K_ADDRESSING: P.ADDRESSING_NORMAL_FIXED, P.K_TA: 0x10, P.K_SA: 0xF1}
    with pytest.raises(UsageError):
        endpoint(0, "sideways")


def test_uds_response_is_bytes_with_the_outcome():
    r = UdsResponse.from_body(b"\x22\xf1\x90", {P.K_RESULT: OK, P.K_DATA: b"\x62\xf1\x90A"})
    assert r == b"\x62\xf1\x90A" and r.ok and r.nrc is None and r.raise_for_result() is r
    n = UdsResponse.from_body(b"\x27\x02", {P.K_RESULT: A_NEGATIVE_RESPONSE,
                                            P.K_DATA: b"\x7f\x27\x35"})
    assert n.nrc == 0x35 and n.nrc_name == "IK" and n.nrc_text == "invalidKey" and "NRC 0x35" in repr(n)
    with pytest.raises(NegativeResponseError, match=r"0x27: negative response 0x35 invalidKey \(IK\)"):
        n.raise_for_nrc()
    t = UdsResponse.from_body(b"\x3e\x00", {P.K_RESULT: A_TIMEOUT_P2})
    assert t == b"" and t.nrc is None and t.result_name == "A_TIMEOUT_P2"
    with pytest.raises(UdsTimeout):
        t.raise_for_result()


def test_gateway_error_text_reads_cleanly():
    """ERROR TEXT may arrive as utf-8 bytes (bin): the exception's message is
    decoded text, never a b'...' repr; undecodable bytes are replaced."""
    from diagbridge.codes import LINK_MALFORMED, LINK_REFUSED
    from diagbridge_host.errors import error_for, LinkError, LinkRefused
    from diagbridge_host.link import RequestFailed
    e = error_for(LINK_MALFORMED, b"bad field: flash.functional_prep")
    assert isinstance(e, LinkError) and e.code == LINK_MALFORMED
    assert str(e) == ("gateway refused the request: bad field: flash.functional_prep "
                      "(LINK_MALFORMED)")
    assert "b'" not in str(error_for(LINK_MALFORMED, bytearray(b"x")))
    assert "bad \ufffd byte" in str(error_for(LINK_MALFORMED, b"bad \xff byte"))
    assert isinstance(error_for(LINK_REFUSED, "role too low"), LinkRefused)
    assert "no reason given" in str(error_for(LINK_MALFORMED, b""))
    f = RequestFailed(3, P.MSG_REQ_FLASH, LINK_MALFORMED, b"bad field: total")
    assert str(f.exception()) == "gateway refused the request: bad field: total (LINK_MALFORMED)"


class _Recorder:
    """A connection stand-in: records the request PDUs and answers each with
    the positive response a test queued."""

    def __init__(self, answers):
        self.sent = []
        self.answers = list(answers)

    def request(self, kind, body, timeout_s=None):
        self.sent.append(body[P.K_DATA])
        return {P.K_RESULT: OK, P.K_DATA: self.answers.pop(0) if self.answers else b"\x7e\x00"}


def test_typed_helpers_send_the_core_codecs_layouts_and_refuse_bad_arguments():
    from diagbridge_host.uds import UdsClient
    conn = _Recorder([b"\x50\x03\x00\x32\x01\xf4", b"\x62\xf1\x90VIN",
                      b"\x59\x02\xff\x01\x02\x03\x2f\x0a\x0b\x0c\x08",
                      b"\x63\xaa\xbb", b"\x67\x01\x12\x34", b"\x67\x02"])
    u = UdsClient(conn, 1, 0)
    u.change_session(0x03)
    assert u.read_data_by_identifier(0xF190) == b"VIN"
    assert u.read_dtc_by_status_mask(0xFF) == [(0x010203, 0x2F), (0x0A0B0C, 0x08)]
    assert u.read_memory_by_address(0x1000, 2, addr_len=2, size_len=1) == b"\xaa\xbb"
    assert u.unlock(1, lambda level, seed: bytes(b ^ 0xFF for b in seed)).ok
    u.clear_dtc()
    u.routine_control(1, 0xFF00, b"\x01")
    u.communication_control(0x03, 0x01)
    u.control_dtc_setting(False)
    u.write_data_by_identifier(0xF190, b"X")
    assert conn.sent == [b"\x10\x03", b"\x22\xf1\x90", b"\x19\x02\xff",
                         b"\x23\x12\x10\x00\x02", b"\x27\x01", b"\x27\x02\xed\xcb",
                         b"\x14\xff\xff\xff", b"\x31\x01\xff\x00\x01", b"\x28\x03\x01",
                         b"\x85\x02", b"\x2e\xf1\x90X"]
    for call in (lambda: u.read_data_by_identifier(0x10000), lambda: u.change_session(-1),
                 lambda: u.clear_dtc(1 << 24), lambda: u.unlock(2, None),
                 lambda: u.read_memory_by_address(0x10000, 1, addr_len=2),
                 lambda: u.routine_control(1, 0xFF00, bytes(5000)), lambda: u.ecu_reset(True)):
        with pytest.raises(UsageError):
            call()
    assert len(conn.sent) == 11                 # nothing was sent for a bad argument
