# The simulated vehicle end to end through the gateway's host link: host
# bytes (portable msgpack + COBS) -> gateway -> CAN-TP -> UDS ECUs -> back,
# in exact virtual time.  Runs under pytest and real MicroPython.
from diagbridge.codes import (OK, A_NEGATIVE_RESPONSE, LINK_UNEXPECTED,
                              LINK_MALFORMED, LINK_UNSUPPORTED)
from diagbridge.cantp import Channel, TpConfig, Address, ADDR_NORMAL_11, EV_RX_DONE
from diagbridge.link import proto as P
from diagbridge.sim.cantp_node import CanTpNode
from gateway_support import logged_in, merge, ENGINE, GEARBOX

VIN = b"W0L000043MB541326"


def test_read_vin_end_to_end():
    v, h = logged_in()
    h.open(1, ENGINE)
    t0 = v.k.elapsed_us
    r = h.uds(1, b"\x22\xf1\x90")
    assert r[P.K_RESULT] == OK and r[P.K_PENDING] == 0
    assert r[P.K_DATA] == b"\x62\xf1\x90" + VIN
    assert v.ecu("engine").requests == 1
    # 1 SF request + FF, FC, 2 CF: five 8-byte frames at 500 kbit/s
    assert 0 < v.k.elapsed_us - t0 < 2000


def test_negative_response_is_data():
    v, h = logged_in()
    h.open(1, ENGINE)
    r = h.uds(1, b"\x22\x12\x34")
    assert r[P.K_RESULT] == A_NEGATIVE_RESPONSE and r[P.K_NRC] == 0x31
    assert r[P.K_DATA] == b"\x7f\x22\x31"


def test_read_dtcs():
    v, h = logged_in()
    h.open(1, ENGINE)
    r = h.uds(1, b"\x19\x02\xff")
    d = r[P.K_DATA]
    assert r[P.K_RESULT] == OK and d[0:2] == b"\x59\x02" and (len(d) - 3) % 4 == 0
    assert len(d) > 3


def test_scan_functional_tester_present_and_vin():
    v, h = logged_in()
    h.open(1, ENGINE)
    h.open(2, GEARBOX)
    h.open(3, {P.K_BUS: 0, P.K_ADDRESSING: P.ADDRESSING_NORMAL_11, P.K_TX_ID: 0x7E2,
               P.K_RX_ID: 0x7EA})                          # nobody there
    r = h.uds(1, b"\x3e\x00", functional=True)
    assert r[P.K_RESULT] == OK
    assert r[P.K_ANSWERS] == [[1, OK, b"\x7e\x00"], [2, OK, b"\x7e\x00"]]
    r = h.uds(1, b"\x22\xf1\x90", functional=True)
    assert r[P.K_ANSWERS] == [[1, OK, b"\x62\xf1\x90" + VIN], [2, OK, b"\x62\xf1\x90" + VIN]]
    # the channels still work physically afterwards
    assert h.uds(2, b"\x22\xf1\x87")[P.K_DATA] == b"\x62\xf1\x87GBX0001234"


def test_caller_mistakes_are_errors():
    v, h = logged_in()
    m = h.request(P.MSG_REQ_UDS, {P.K_CHANNEL: 9, P.K_DATA: b"\x22\xf1\x90"})
    assert m[0] == P.MSG_ERROR and m[2][P.K_CODE] == LINK_UNEXPECTED
    m = h.request(P.MSG_REQ_CHANNEL, {P.K_CHANNEL: 1, P.K_BUS: 0, P.K_ADDRESSING: 99})
    assert m[0] == P.MSG_ERROR and m[2][P.K_CODE] == LINK_MALFORMED
    assert "fmt" in m[2][P.K_TEXT]
    m = h.request(P.MSG_REQ_CHANNEL, {P.K_CHANNEL: 1, P.K_BUS: 7, P.K_ADDRESSING: 0})
    assert m[0] == P.MSG_ERROR and m[2][P.K_TEXT] == "bad field: bus"
    m = h.request(P.MSG_REQ_KWP, {P.K_CHANNEL: 1, P.K_DATA: b"\x1a\x90"})
    assert m[0] == P.MSG_ERROR and m[2][P.K_CODE] == LINK_UNSUPPORTED
    h.open(1, ENGINE)
    m = h.request(P.MSG_REQ_CHANNEL, merge(ENGINE, {P.K_CHANNEL: 1}))
    assert m[0] == P.MSG_ERROR and m[2][P.K_CODE] == LINK_UNEXPECTED
    m = h.request(P.MSG_REQ_CHANNEL, merge(ENGINE, {P.K_CHANNEL: 2, P.K_TP: {"nope": 1}}))
    assert m[0] == P.MSG_ERROR and m[2][P.K_TEXT] == "bad field: tp"


def _external_tester(v, bus, tx_id, rx_id):
    """A plain CAN-TP tester on its own port (the gateway does not hear itself)."""
    got = []

    def on_event(now, ev, ch):
        if ev == EV_RX_DONE:
            got.append(bytes(ch.payload[0:ch.length]))
    ch = Channel(TpConfig(), Address(ADDR_NORMAL_11, tx_id=tx_id, rx_id=rx_id))
    return CanTpNode(v.k, v.buses[bus].attach("ext"), ch, on_event), ch, got


def test_hosted_ecu_start_stop():
    v, h = logged_in()
    ep = {P.K_BUS: 1, P.K_ADDRESSING: P.ADDRESSING_NORMAL_11}
    h.ok(P.MSG_REQ_ECU_SIM, merge(ep, {P.K_ECU: 5, P.K_PROFILE: "engine",
                                       P.K_TX_ID: 0x7ED, P.K_RX_ID: 0x7E5}))
    node, ch, got = _external_tester(v, 1, 0x7E5, 0x7ED)
    node.send(ch, b"\x22\xf1\x90")
    h.run(20000)
    assert got == [b"\x62\xf1\x90" + VIN]
    st = h.ok(P.MSG_REQ_STATUS, {})
    assert st[P.K_ECUS] == [5]
    h.ok(P.MSG_REQ_ECU_SIM, {P.K_ECU: 5, P.K_ON: False})
    node.send(ch, b"\x22\xf1\x90")
    h.run(200000)
    assert len(got) == 1                    # nobody answers any more
    m = h.request(P.MSG_REQ_ECU_SIM, {P.K_ECU: 5, P.K_ON: False})
    assert m[0] == P.MSG_ERROR and m[2][P.K_CODE] == LINK_UNEXPECTED
    m = h.request(P.MSG_REQ_ECU_SIM, {P.K_ECU: 6, P.K_BUS: 1, P.K_PROFILE: "no_such"})
    assert m[0] == P.MSG_ERROR and m[2][P.K_CODE] == LINK_UNSUPPORTED
