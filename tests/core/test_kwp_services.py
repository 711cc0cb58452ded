# KWP2000 services (ISO 14230-3) tester <-> ECU on the simulated K-Line, in
# virtual time: the example engine ECU (kwp/profiles/kwp_engine.py, address
# 0x10) answered through the UDS server's machinery.  Every service positive
# and refused: a wrong length (0x12 subFunctionNotSupported-invalidFormat, the
# ISO 14230-3 code), an unknown identifier (0x31), security locked (0x33), the
# wrong session (0x80 serviceNotSupportedInActiveDiagnosticMode); each
# refusal reaches the tester as EV_DONE with A_NEGATIVE_RESPONSE and the code.
from diagbridge.codes import OK, A_NEGATIVE_RESPONSE, K_TIMEOUT_P2MAX
from diagbridge.kline import EV_REQUEST as L_REQUEST
from diagbridge.kwp import api
from kwp_support import KwpBench, hexs, unlock

NEG = A_NEGATIVE_RESPONSE


def _bench(**kw):
    b = KwpBench(**kw)
    b.init()
    return b


def _neg(b, req, rc):
    r, nrc, rsp = b.ask(req)
    assert (r, nrc) == (NEG, rc), (req, r, nrc, rsp)
    sid = (hexs(req) if isinstance(req, str) else req)[0]
    assert rsp == bytes((0x7F, sid, rc))


# ---- startDiagnosticSession 0x10 / stopDiagnosticSession 0x20 ----------------------
def test_start_diagnostic_session_positive_and_refused():
    b = _bench()
    assert b.srv.session == 0x81                        # the standard session after init
    assert b.ask("10 81") == (OK, 0, hexs("50 81"))     # the active one: positive
    assert b.ask("10 86") == (OK, 0, hexs("50 86"))
    assert b.srv.session == 0x86
    _neg(b, "10 90", 0x12)                              # no such diagnosticMode
    _neg(b, "10 85 00", 0x12)                           # wrong length: invalidFormat
    _neg(b, "10", 0x12)
    assert b.ask("20") == (OK, 0, hexs("60"))           # stopDiagnosticSession
    assert b.srv.session == 0x81
    _neg(b, "20 00", 0x12)


def test_session_not_enterable_from_the_active_one_is_0x80():
    b = _bench()
    assert b.ask("10 86")[0] == OK
    _neg(b, "10 82", 0x80)          # periodic transmission only from the standard session


# ---- ecuReset 0x11 ------------------------------------------------------------------
def test_ecu_reset_answers_then_resets_the_server():
    b = _bench()
    unlock(b)
    assert b.srv.level == 0x01
    assert b.ask("11 01") == (OK, 0, hexs("51 01"))
    b.run(100000)
    assert (b.srv.session, b.srv.level) == (0x81, 0)    # reset after the response went out
    _neg(b, "11 02", 0x12)                              # resetMode not supported
    _neg(b, "11", 0x12)


# ---- testerPresent 0x3E -----------------------------------------------------------------
def test_tester_present():
    b = _bench()
    assert b.ask("3E") == (OK, 0, hexs("7E"))
    assert b.ask("3E 01") == (OK, 0, hexs("7E"))
    _neg(b, "3E 07", 0x12)
    _neg(b, "3E 01 00", 0x12)
    n = b.ecu.responses
    reqs = len([e for e in b.node.events if e[1] == L_REQUEST])
    # responseRequired = no: the ECU stays silent; the link's tester takes the
    # silence as a timeout and repeats it (3 transmissions, section 6.2.1)
    r = b.ask("3E 02")
    assert r == (K_TIMEOUT_P2MAX, 0, b"")
    assert b.ecu.responses == n
    assert len([e for e in b.node.events if e[1] == L_REQUEST]) == reqs + 3
    assert b.ask("3E 01") == (OK, 0, hexs("7E"))        # the link is still up


# ---- securityAccess 0x27 --------------------------------------------------------------
def test_security_access_seed_key_and_refusals():
    b = _bench()
    _neg(b, "27 01", 0x80)                              # not in the standard session
    assert b.ask("10 86")[0] == OK
    _neg(b, "27 03", 0x12)                              # no such level
    _neg(b, "27 02 00 00", 0x22)                        # key without a seed: sequence error
    r, nrc, rsp = b.ask("27 01")
    assert r == OK and rsp[:2] == hexs("67 01") and len(rsp) == 4 and rsp[2:] != b"\x00\x00"
    _neg(b, "27 02 00", 0x12)                           # key of the wrong length
    r, nrc, rsp = b.ask("27 01")
    bad = bytes(((rsp[2] ^ 0xFF), rsp[3]))
    _neg(b, b"\x27\x02" + bad, 0x35)                  # invalid key
    unlock(b)
    assert b.srv.level == 0x01
    assert b.ask("27 01") == (OK, 0, hexs("67 01 00 00"))   # unlocked: zero seed


def test_security_attempts_exceeded_then_delay():
    b = _bench()
    assert b.ask("10 86")[0] == OK
    for rc in (0x35, 0x35, 0x36):
        b.ask("27 01")
        _neg(b, "27 02 00 00", rc)
    _neg(b, "27 01", 0x37)                              # requiredTimeDelayNotExpired
    # the attempt counter is the UDS machine's, kept in NVM: after a power cycle
    # the delay runs again before a seed is given
    b2 = KwpBench(nvm=b.nvm, keepalive_ms=2000)
    b2.init()
    assert b2.ask("10 86")[0] == OK
    _neg(b2, "27 01", 0x37)
    b2.run(10000000)
    r = b2.ask("27 01")
    assert r[0] == OK and r[2][:2] == hexs("67 01")


# ---- readEcuIdentification 0x1A ----------------------------------------------------------
def test_read_ecu_identification():
    b = _bench()
    assert b.ask("1A 90") == (OK, 0, hexs("5A 90") + b"WDB2020181A000001")
    assert b.ask("1A 97") == (OK, 0, hexs("5A 97") + b"M2.1")
    _neg(b, "1A 80", 0x31)
    _neg(b, "1A", 0x12)
    _neg(b, "1A 90 00", 0x12)


# ---- readDataByLocalIdentifier 0x21 / writeDataByLocalIdentifier 0x3B -----------------------
def test_read_local_identifiers_live_values():
    b = _bench()
    b.state.rpm = 2500
    b.state.coolant_c = 91
    b.state.battery_mv = 14100
    assert b.ask("21 01") == (OK, 0, hexs("61 01 09 C4"))
    assert b.ask("21 02") == (OK, 0, hexs("61 02") + bytes((91 + 40,)))
    assert b.ask("21 03") == (OK, 0, hexs("61 03 8D"))
    _neg(b, "21 55", 0x31)
    _neg(b, "21", 0x12)
    _neg(b, "21 01 02", 0x12)


def test_write_local_identifier_needs_session_and_security_and_persists():
    b = _bench()
    _neg(b, "3B 10 04 00", 0x31)                        # not writable in the standard session
    assert b.ask("10 86")[0] == OK
    _neg(b, "3B 10 04 00", 0x33)                        # locked
    unlock(b)
    _neg(b, "3B 10 04", 0x12)                           # record too short
    _neg(b, "3B 01 00 00", 0x31)                        # a live value is read-only
    _neg(b, "3B 77 00 00", 0x31)
    assert b.ask("3B 10 04 00") == (OK, 0, hexs("7B 10"))
    assert b.ask("21 10") == (OK, 0, hexs("61 10 04 00"))
    assert b.nvm.get("lid:10") == hexs("04 00")         # survives a power cycle
    b2 = KwpBench(nvm=b.nvm, keepalive_ms=2000)
    b2.init()
    assert b2.ask("21 10") == (OK, 0, hexs("61 10 04 00"))


# ---- readDataByCommonIdentifier 0x22 / writeDataByCommonIdentifier 0x2E ----------------------
def test_common_identifiers():
    b = _bench()
    assert b.ask("22 10 01") == (OK, 0, hexs("62 10 01") + b"CAL00417")
    _neg(b, "22 10", 0x12)
    _neg(b, "22 10 01 10 02", 0x12)                     # one identifier per request
    _neg(b, "22 77 77", 0x31)
    _neg(b, "2E 10 02 01 02 03 04", 0x31)               # standard session: not writable
    unlock(b)
    _neg(b, "2E 10 02 01 02", 0x12)
    assert b.ask("2E 10 02 01 02 03 04") == (OK, 0, hexs("6E 10 02"))
    assert b.ask("22 10 02") == (OK, 0, hexs("62 10 02 01 02 03 04"))


# ---- DTCs: 0x18 / 0x17 / 0x14 ----------------------------------------------------------------
def test_read_dtc_by_status_groups_and_refusals():
    b = _bench()
    # identified: P0115 failing (storage state 11), P0301 stored (01), C0035 stored, lamp on
    assert b.ask("18 02 FF 00") == (OK, 0, hexs("58 03 01 15 60 03 01 20 40 35 A0"))
    assert b.ask("18 00 FF 00") == (OK, 0, hexs("58 03 01 15 60 03 01 20 40 35 A0"))
    # supported: P0562 too, status 00
    r = b.ask("18 03 FF 00")
    assert r == (OK, 0, hexs("58 04 01 15 60 03 01 20 05 62 00 40 35 A0"))
    assert b.ask("18 02 40 00") == (OK, 0, hexs("58 01 40 35 A0"))   # chassis group
    assert b.ask("18 02 05 62") == (OK, 0, hexs("58 00"))            # one DTC, not identified
    _neg(b, "18 02 12 34", 0x31)                                     # no such DTC
    _neg(b, "18 07 FF 00", 0x31)
    _neg(b, "18 02 FF", 0x12)
    dtcs = api.decode(api.read_dtc_by_status(), *_rsp(b.ask("18 02 FF 00")))
    assert [(api.dtc_name(c), s) for c, s in dtcs] == [("P0115", 0x60), ("P0301", 0x20),
                                                       ("C0035", 0xA0)]


def _rsp(r):
    return r[2], len(r[2])


def test_read_status_of_dtc_and_clear():
    b = _bench()
    assert b.ask("17 01 15") == (OK, 0, hexs("57 01 01 15 60"))
    assert b.ask("17 00 00") == (OK, 0, hexs("57 03 01 15 60 03 01 20 05 62 00"))
    _neg(b, "17 99 99", 0x31)
    _neg(b, "17 01", 0x12)
    assert b.ask("14 01 15") == (OK, 0, hexs("54 01 15"))
    assert b.ask("17 01 15") == (OK, 0, hexs("57 01 01 15 00"))
    _neg(b, "14 99 99", 0x31)
    _neg(b, "14 FF", 0x12)
    assert b.ask("14 FF 00") == (OK, 0, hexs("54 FF 00"))
    assert b.ask("18 02 FF 00") == (OK, 0, hexs("58 00"))


def test_application_test_results_show_in_kwp_status():
    b = _bench()
    from diagbridge.uds.server.services.dtc import store_of
    store_of(b.srv).report_test_result(b.k.now, 0x0562, True)
    r = b.ask("17 05 62")
    assert r[0] == OK and r[2][:4] == hexs("57 01 05 62") and r[2][4] & 0x60 == 0x60


# ---- inputOutputControlByLocalIdentifier 0x30 ---------------------------------------------------
def test_io_control_by_local_identifier():
    b = _bench()
    _neg(b, "30 20 07 80", 0x80)                        # not in the standard session
    assert b.ask("10 86")[0] == OK
    _neg(b, "30 20 07 80", 0x33)                        # locked
    unlock(b)
    assert b.ask("30 20 01") == (OK, 0, hexs("70 20 01 40"))     # reportCurrentState
    assert b.ask("30 20 07 80") == (OK, 0, hexs("70 20 07 80"))  # shortTermAdjustment
    assert b.ask("30 20 01") == (OK, 0, hexs("70 20 01 80"))
    assert b.ask("30 20 00") == (OK, 0, hexs("70 20 00 40"))     # returnControlToECU
    assert b.ask("30 20 07 11") == (OK, 0, hexs("70 20 07 11"))
    assert b.ask("30 20 04") == (OK, 0, hexs("70 20 04 40"))     # resetToDefault
    _neg(b, "30 20 07", 0x12)
    _neg(b, "30 21 00", 0x31)
    _neg(b, "30 20 09", 0x31)
    _neg(b, "30 20", 0x12)
    assert b.ask("30 20 07 22")[0] == OK
    assert b.ask("20")[0] == OK                                  # back to standard: control ends
    assert b.srv.uds_io[0x20].controlled is False


# ---- routines 0x31 / 0x32 / 0x33 ------------------------------------------------------------
def test_routines_by_local_identifier():
    b = _bench()
    _neg(b, "31 01", 0x31)                              # not in the standard session
    assert b.ask("10 86")[0] == OK
    _neg(b, "33 01", 0x22)                              # results before a start
    assert b.ask("31 01") == (OK, 0, hexs("71 01 00"))
    assert b.ask("33 01") == (OK, 0, hexs("73 01 00"))
    assert b.ask("32 01") == (OK, 0, hexs("72 01"))
    _neg(b, "31 01 05", 0x12)                           # no routineEntryOption for 01
    _neg(b, "31 09", 0x31)
    _neg(b, "33 01 00", 0x12)
    _neg(b, "31", 0x12)
    _neg(b, "31 02 44 00 01 00 00 00 00 00 10", 0x31)   # 02 is a programming-session routine


# ---- download / upload 0x34-0x37 -----------------------------------------------------------------
def test_download_transfer_exit_and_upload_back():
    b = _bench()
    _neg(b, "34 01 00 00 00 00 00 10", 0x80)            # not in the standard session
    assert b.ask("10 85")[0] == OK
    _neg(b, "34 01 00 00 00 00 00 10", 0x33)            # region needs level 01
    unlock(b, "10 85")
    _neg(b, "34 01 00 00 00 00 00", 0x12)
    _neg(b, "34 02 00 00 00 00 00 10", 0x31)            # outside the region
    _neg(b, "34 01 00 00 07 00 00 10", 0x31)            # data format not supported
    _neg(b, "36 01 02", 0x22)                           # no transfer requested
    assert b.ask("34 01 00 00 00 00 00 08") == (OK, 0, hexs("74 81"))
    _neg(b, "34 01 00 00 00 00 00 08", 0x22)            # one transfer at a time
    assert b.ask("36 11 22 33 44") == (OK, 0, hexs("76"))
    assert b.ask("36 55 66 77 88") == (OK, 0, hexs("76"))
    _neg(b, "36 99", 0x22)                              # past the requested size: sequence error
    assert b.ask("37") == (OK, 0, hexs("77"))
    assert b.ask("35 01 00 00 00 00 00 08") == (OK, 0, hexs("75 81"))
    assert b.ask("36") == (OK, 0, hexs("76 11 22 33 44 55 66 77 88"))
    assert b.ask("37") == (OK, 0, hexs("77"))
