# RoutineControl 0x31 (ISO 14229-1 §14, digest §10.11, vector V38).
# NRC order of Fig 30 and the F.1 RIDs are ISO 14229-1:2020 (not in provided text).
from uds_xfer_driver import make, ask, h, run_pending, T0
from diagbridge.uds.server.services import transfer as srv_transfer
from diagbridge.uds.server.services import routine as srv_routine
from diagbridge.uds.codec.routine import (
    build_routine_control_request, build_erase_memory_request,
    parse_routine_control_response, RC_START, RC_RESULTS, RID_ERASE_MEMORY)

PROFILE = {
    "transfer": {
        "download_regions": [{"start": 0x600000, "size": 0x20000, "erase_us_per_kib": 100000},
                             {"start": 0x700000, "size": 0x1000, "erase_us_per_kib": 0,
                              "erase_required": True}],
        "max_block_length": 0x402,
    },
    "routines": {
        0xFF00: {"kind": "erase", "sessions": [2], "result": b"\x00"},
        0xFF01: {"kind": "check_dependencies", "sessions": [2]},
        0x0201: {"kind": "generic", "result": b"\x10\x20"},
        0x0202: {"kind": "generic", "option_length": 2, "duration_ms": 1000, "result": b"\x01"},
        0x0300: {"kind": "checksum", "sessions": "non_default", "duration_ms": 20},
        0x0400: {"kind": "generic", "levels": [1], "option_length": 0},
        0x0500: {"kind": "generic", "sessions": [3]},
    },
}
SPECS = [srv_transfer.SPECS, srv_routine.SPECS]


def _srv(session=2, level=0):
    return make(PROFILE, SPECS, session=session, level=level)


def _download(s, addr, data):
    n = len(data)
    assert ask(s, T0, h("34 00 44") + bytes((addr >> 24, (addr >> 16) & 0xFF, (addr >> 8) & 0xFF,
                                             addr & 0xFF, n >> 24, (n >> 16) & 0xFF,
                                             (n >> 8) & 0xFF, n & 0xFF)))[0] == 0x74
    bsc = 1
    for i in range(0, n, 1024):
        assert ask(s, T0, bytes((0x36, bsc)) + data[i:i + 1024]) == bytes((0x76, bsc))
        bsc = (bsc + 1) & 0xFF
    assert ask(s, T0, h("37")) == h("77")


def _crc16(data):
    crc = 0xFFFF
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def test_erase_with_sprmib_sends_78_cadence_then_the_positive_response():
    # V38: 64 KiB at 100 ms/KiB = 6.4 s.  0x78 10 ms (margin) before P2 = 50 ms,
    # then before each P2* = 5000 ms; the final response goes out although
    # SPRMIB is set, because a 0x78 was sent (§8.7.5).
    s = _srv()
    assert ask(s, T0, h("31 81 FF 00 44 00 60 00 00 00 01 00 00")) is None
    pend, rsp, t = run_pending(s, T0, 0x31)
    assert pend == [40000, 40000 + 4990000]
    assert rsp == h("71 01 FF 00 00") and t == 6400000


def test_erase_of_one_kib_has_one_78():
    s = _srv()
    assert ask(s, T0, h("31 01 FF 00 44 00 60 00 00 00 00 01 00")) is None
    pend, rsp, t = run_pending(s, T0, 0x31)
    assert pend == [40000] and rsp == h("71 01 FF 00 00") and t == 100000  # 256 B -> 1 KiB


def test_short_erase_with_sprmib_is_suppressed():
    s = _srv()
    assert ask(s, T0, h("31 81 FF 00 44 00 70 00 00 00 00 01 00")) is None
    assert ask(s, T0, h("31 03 FF 00")) == h("71 03 FF 00 00")


def test_erase_then_check_programming_dependencies():
    s = _srv()
    assert ask(s, T0, h("31 01 FF 01")) == h("71 01 FF 01 00")      # nothing erased
    # the 0x700000 region takes downloads only after an erase (0x70 before)
    assert ask(s, T0, h("34 00 44 00 70 00 00 00 00 04 00")) == h("7F 34 70")
    assert ask(s, T0, h("31 01 FF 00 44 00 70 00 00 00 00 08 00")) == h("71 01 FF 00 00")
    assert ask(s, T0, h("31 01 FF 01")) == h("71 01 FF 01 01")      # erased, not programmed
    _download(s, 0x700000, bytes(range(256)) * 4)
    assert ask(s, T0, h("31 01 FF 01")) == h("71 01 FF 01 01")      # half of it
    _download(s, 0x700400, bytes(1024))
    assert ask(s, T0, h("31 01 FF 01")) == h("71 01 FF 01 00")
    assert ask(s, T0, h("31 03 FF 01")) == h("71 03 FF 01 00")


def test_erase_really_erases_and_checksum_routine_computes_crc():
    s = _srv()
    data = bytes((i * 13) & 0xFF for i in range(2048))
    _download(s, 0x601000, data)
    assert ask(s, T0, h("31 01 03 00 44 00 60 10 00 00 00 08 00")) is None
    pend, rsp, t = run_pending(s, T0, 0x31)
    c = _crc16(data)
    assert rsp == h("71 01 03 00") + bytes((c >> 8, c & 0xFF)) and t == 20000
    assert ask(s, T0, h("31 01 FF 00 44 00 60 10 00 00 00 04 00")) is None
    pend, rsp, t = run_pending(s, T0, 0x31)
    assert rsp == h("71 01 FF 00 00") and t == 100000
    assert ask(s, T0, h("31 01 03 00 44 00 60 10 00 00 00 08 00")) is None
    pend, rsp, t = run_pending(s, T0, 0x31)
    c = _crc16(b"\xff" * 1024 + data[1024:])
    assert rsp == h("71 01 03 00") + bytes((c >> 8, c & 0xFF))


def test_generic_start_stop_results():
    s = _srv(session=1)
    assert ask(s, T0, h("31 02 02 01")) == h("7F 31 24")     # stop before start
    assert ask(s, T0, h("31 03 02 01")) == h("7F 31 24")     # results before start
    assert ask(s, T0, h("31 01 02 01")) == h("71 01 02 01 10 20")
    assert ask(s, T0, h("31 02 02 01")) == h("71 02 02 01")
    assert ask(s, T0, h("31 03 02 01")) == h("71 03 02 01 10 20")
    assert ask(s, T0, h("31 81 02 01")) is None              # SPRMIB, no 0x78


def test_routine_that_runs_for_a_while_stops_itself():
    s = _srv(session=1)
    assert ask(s, T0, h("31 01 02 02 05")) == h("7F 31 13")   # option is 2 bytes
    assert ask(s, T0, h("31 01 02 02 05 01")) == h("71 01 02 02")
    assert ask(s, T0, h("31 01 02 02 05 01")) == h("7F 31 22")   # already running
    assert ask(s, T0 + 999999, h("31 03 02 02")) == h("7F 31 24")  # not finished
    assert ask(s, T0 + 1000000, h("31 03 02 02")) == h("71 03 02 02 01")
    assert ask(s, T0, h("31 02 02 02 00")) == h("7F 31 13")   # stop has no option


def test_nrc_order():
    s = _srv(session=2)
    # general checks first: short -> 13, unknown SF -> 12, SF checked before length
    assert ask(s, T0, h("31")) == h("7F 31 13")
    assert ask(s, T0, h("31 04 02 01")) == h("7F 31 12")
    assert ask(s, T0, h("31 04")) == h("7F 31 12")
    assert ask(s, T0, h("31 01 02")) == h("7F 31 13")
    # 31 unknown RID before 13 option length
    assert ask(s, T0, h("31 01 12 34 00 00 00")) == h("7F 31 31")
    # 31 RID not in this session before 33 / 13
    assert ask(s, T0, h("31 01 05 00 01")) == h("7F 31 31")
    # 33 security before 13 option length
    assert ask(s, T0, h("31 01 04 00 01")) == h("7F 31 33")
    s.set_level(1)
    assert ask(s, T0, h("31 01 04 00 01")) == h("7F 31 13")
    assert ask(s, T0, h("31 01 04 00")) == h("71 01 04 00")
    # 13 option layout before 31 option values; 31 values before 24 / 22
    assert ask(s, T0, h("31 01 FF 00 44 00 60 00 00 00 01")) == h("7F 31 13")
    assert ask(s, T0, h("31 01 FF 00 40 00 60 00 00")) == h("7F 31 31")
    assert ask(s, T0, h("31 01 FF 00 44 00 50 00 00 00 00 01 00")) == h("7F 31 31")
    # 24 (stop never started) before 22 (conditions)
    assert ask(s, T0, h("31 02 02 02")) == h("7F 31 24")
    # 22: no erase under an open download
    ask(s, T0, h("34 00 44 00 60 00 00 00 00 01 00"))
    assert ask(s, T0, h("31 01 FF 00 44 00 60 00 00 00 00 01 00")) == h("7F 31 22")


def test_unknown_rid_functional_is_silent_but_13_is_not():
    s = _srv()
    assert ask(s, T0, h("31 01 12 34"), functional=True) is None
    assert ask(s, T0, h("31 01 02"), functional=True) == h("7F 31 13")


def test_reset_forgets_routines():
    s = _srv(session=1)
    ask(s, T0, h("31 01 02 01"))
    s.reset(T0, 1)
    assert ask(s, T0, h("31 03 02 01")) == h("7F 31 24")


def test_malformed_lengths():
    s = _srv()
    for req in ("31", "31 01", "31 01 FF", "31 02 02", "31 03 02",
                "31 01 FF 00", "31 01 FF 00 44 00", "31 01 FF 00 44 00 60 00 00 00 01 00 00 00"):
        assert ask(s, T0, h(req)) == h("7F 31 13"), req


def test_codec():
    out = bytearray(16)
    n = build_routine_control_request(out, RC_START, 0x0202, b"\x05\x01", suppress=True)
    assert bytes(out[:n]) == h("31 81 02 02 05 01")
    n = build_erase_memory_request(out, 0x600000, 0x10000)
    assert bytes(out[:n]) == h("31 01 FF 00 44 00 60 00 00 00 01 00 00")
    assert parse_routine_control_response(h("71 03 02 01 10 20"), 6) == (RC_RESULTS, 0x0201, 4)
    assert parse_routine_control_response(h("7F 31 24"), 3) is None
    assert RID_ERASE_MEMORY == 0xFF00
