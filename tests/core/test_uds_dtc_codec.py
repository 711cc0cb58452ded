# The client half of codec/dtc: requests built byte-exact for every
# sub-function, and every server response parsed back into plain values.
from support import raises
from diagbridge.errors import UsageError
from diagbridge.uds.codec import dtc as c
from diagbridge.uds.server.services import dtc as srv_dtc
from diagbridge.uds.server.services import session as srv_session
from diagbridge.uds.server.core import UdsServer

T0 = 0x1FFF0000
_BUF = bytearray(4095)


def h(s):
    return bytes(int(x, 16) for x in s.split())


def _req(sf, **kw):
    out = bytearray(8)
    n = c.build_read_dtc_request(out, sf, **kw)
    return " ".join("%02X" % x for x in out[:n])


def test_build_read_requests():
    assert _req(0x01, status_mask=0x08) == "19 01 08"
    assert _req(0x02, status_mask=0x84) == "19 02 84"
    assert _req(0x03) == "19 03"
    assert _req(0x04, dtc=0x123456, record=0x02) == "19 04 12 34 56 02"
    assert _req(0x05, record=0xFF) == "19 05 FF"
    assert _req(0x06, dtc=0x123456, record=0xFE) == "19 06 12 34 56 FE"
    assert _req(0x07, severity_mask=0xC0, status_mask=0x01) == "19 07 C0 01"
    assert _req(0x08, severity_mask=0xC0, status_mask=0x01) == "19 08 C0 01"
    assert _req(0x09, dtc=0x080511) == "19 09 08 05 11"
    for sf in (0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x14, 0x15):
        assert _req(sf) == "19 %02X" % sf
    assert _req(0x16, record=0x05) == "19 16 05"
    assert _req(0x17, status_mask=0xFF, memory_selection=0x10) == "19 17 FF 10"
    assert _req(0x18, dtc=1, record=3, memory_selection=0x10) == "19 18 00 00 01 03 10"
    assert _req(0x19, dtc=1, record=3, memory_selection=0x10) == "19 19 00 00 01 03 10"
    assert _req(0x1A, record=0x91) == "19 1A 91"
    assert _req(0x42, fgid=0x33, status_mask=0x08, severity_mask=0xFF) == "19 42 33 08 FF"
    assert _req(0x55, fgid=0x33) == "19 55 33"
    assert _req(0x56, fgid=0x33, readiness_group=0x01) == "19 56 33 01"
    assert _req(0x02, status_mask=0x08, suppress=True) == "19 82 08"
    assert raises(UsageError, _req, 0x0F)
    assert raises(UsageError, c.build_read_dtc_request, bytearray(3), 0x04)


def test_build_clear_request():
    out = bytearray(5)
    assert c.build_clear_dtc_request(out) == 4 and bytes(out[:4]) == h("14 FF FF FF")
    assert c.build_clear_dtc_request(out, 0x123456, 0x10) == 5
    assert bytes(out) == h("14 12 34 56 10")
    assert c.parse_clear_dtc_response(h("54"), 1) == 0
    assert c.parse_clear_dtc_response(h("7F 14 31"), 3) == 0x31
    assert c.parse_clear_dtc_response(h("54 00"), 2) == -1


def _server():
    raw = {"dtcs": [
        {"code": 0x123456, "status": 0x24, "severity": 0x40, "functional_unit": 0x10,
         "functional_group": 0x33, "readiness_group": 1, "permanent": True,
         "snapshots": {1: {0x4711: b"\x01\x02"}, 2: {0x4711: b"\x03\x04", 0x0101: b"\x05"}},
         "extended": {0x05: b"\x17\x18", 0x91: b"\x91"},
         "stored_data": {0x01: {0x4711: b"\xAA\xBB"}}},
        {"code": 0x789ABC, "status": 0x2F, "extended": {0x05: b"\x27\x28"}}],
        "dtc": {"user_memories": {0x10: [{"code": 0xABCDEF, "status": 0x09,
                                          "snapshots": {3: {0x0101: b"\x55"}},
                                          "extended": {0x20: b"\x66"}}]}}}
    s = UdsServer(raw, specs=[srv_session.SPECS, srv_dtc.SPECS])
    s.power_up(T0)
    return s


def _parse(s, sf, **kw):
    out = bytearray(8)
    n = c.build_read_dtc_request(out, sf, **kw)
    s.feed_pdu(T0, out, n, False)
    m = s.pop_pdu(_BUF)
    return c.parse_read_dtc_response(_BUF, m, {0x4711: 2, 0x0101: 1}, {0x05: 2, 0x91: 1})


def test_parse_every_server_response():
    s = _server()
    assert _parse(s, 0x01, status_mask=0x08) == \
        {"sf": 1, "availability_mask": 0xFF, "format": 1, "count": 1}
    assert _parse(s, 0x02, status_mask=0xFF)["dtcs"] == [(0x123456, 0x24), (0x789ABC, 0x2F)]
    assert _parse(s, 0x03)["records"] == [(0x123456, 1), (0x123456, 2)]
    r = _parse(s, 0x04, dtc=0x123456, record=0xFF)
    assert r["dtc"] == (0x123456, 0x24)
    assert r["snapshots"] == [(1, {0x4711: b"\x01\x02"}),
                              (2, {0x0101: b"\x05", 0x4711: b"\x03\x04"})]
    assert _parse(s, 0x05, record=0x01)["records"] == \
        [(1, (0x123456, 0x24), {0x4711: b"\xAA\xBB"})]
    assert _parse(s, 0x06, dtc=0x123456, record=0xFF)["ext"] == [(5, b"\x17\x18"), (0x91, b"\x91")]
    assert _parse(s, 0x07, severity_mask=0x40, status_mask=0xFF)["count"] == 1
    assert _parse(s, 0x08, severity_mask=0x40, status_mask=0xFF)["dtcs"] == \
        [(0x40, 0x10, 0x123456, 0x24)]
    assert _parse(s, 0x09, dtc=0x123456)["dtcs"] == [(0x40, 0x10, 0x123456, 0x24)]
    assert len(_parse(s, 0x0A)["dtcs"]) == 2
    assert _parse(s, 0x0B)["dtcs"] == []
    s.dtc_store.primary.report_prefailed(0x789ABC, -3)
    s.dtc_store.primary.report_prefailed(0x123456, 9)
    assert _parse(s, 0x14)["dtcs"] == [(0x123456, 9)]
    assert _parse(s, 0x15)["dtcs"] == [(0x123456, 0x24)]
    r = _parse(s, 0x16, record=0x05)
    assert r["record"] == 5
    assert r["dtcs"] == [(0x123456, 0x24, b"\x17\x18"), (0x789ABC, 0x2F, b"\x27\x28")]
    r = _parse(s, 0x17, status_mask=0xFF, memory_selection=0x10)
    assert r["memory"] == 0x10 and r["dtcs"] == [(0xABCDEF, 0x09)]
    r = _parse(s, 0x18, dtc=0xABCDEF, record=0xFF, memory_selection=0x10)
    assert r["dtc"] == (0xABCDEF, 0x09) and r["snapshots"] == [(3, {0x0101: b"\x55"})]
    r = _parse(s, 0x19, dtc=0xABCDEF, record=0x20, memory_selection=0x10)
    assert r["ext"] == [(0x20, b"\x66")]
    r = _parse(s, 0x1A, record=0x91)
    assert r["record"] == 0x91 and r["dtcs"] == [(0x123456, 0x24)]
    r = _parse(s, 0x42, fgid=0x33, status_mask=0xFF, severity_mask=0xFF)
    assert r["fgid"] == 0x33 and r["dtcs"] == [(0x40, 0x123456, 0x24)]
    assert _parse(s, 0x55, fgid=0x33)["dtcs"] == [(0x123456, 0x24)]
    r = _parse(s, 0x56, fgid=0x33, readiness_group=1)
    assert r["readiness_group"] == 1 and r["dtcs"] == [(0x123456, 0x24)]
    assert _parse(s, 0x04, dtc=0x999999, record=1) == {"nrc": 0x31}


def test_parse_rejects_malformed():
    assert c.parse_read_dtc_response(h("59 01 FF 01 00"), 5) is None
    assert c.parse_read_dtc_response(h("59 02 FF 12 34 56"), 6) is None
    assert c.parse_read_dtc_response(h("62 F1 90"), 3) is None
    assert c.parse_read_dtc_response(h("7F 19 31 00"), 4) is None
    assert c.parse_read_dtc_response(h("59 7F"), 2) is None
