# OBD-II services on the UDS server (services/obd.py; ISO 15031-5 / SAE J1979
# over ISO 15765-4): mode 01 PIDs with the standard's byte counts and the
# supported-PID bitmaps, 03/07/0A DTC lists from the DTC memory, mode 09
# VIN / CALID / ECU name, the silence rules of a functional request, and
# every bad profile field as a ConfigError naming it.
from support import run_locked, raises
from diagbridge.errors import ConfigError
from diagbridge.uds.server.config import UdsServerConfig
from diagbridge.uds.server.core import UdsServer
from diagbridge.uds.server.nvm import MemNvm
from diagbridge.uds.server.profile import Profile
from diagbridge.uds.server.profiles import engine
from diagbridge.uds.server.services import dtc as srv_dtc
from diagbridge.uds.server.services import obd as srv_obd
from diagbridge.uds.server.services import data as srv_data
from diagbridge.uds.server.services import session as srv_session

T0 = 0x1FFF0000             # just before the tick wrap
_BUF = bytearray(4095)


def h(s):
    return bytes(int(x, 16) for x in s.split())


def _engine(state=None, nvm=None):
    st = state if state is not None else engine.EngineState()
    s = UdsServer(Profile(engine.profile(), sources=engine.sources(st)),
                  nvm=nvm if nvm is not None else MemNvm())
    s.power_up(T0)
    return s


def _small(obd, dtcs=(), dids=None, sources=None):
    raw = {"dids": dids or {0xF190: {"length": 17, "value": "WVWZZZ1JZXW000001"}},
           "dtcs": list(dtcs), "obd": obd}
    s = UdsServer(Profile(raw, sources=sources), UdsServerConfig(max_pdu=4095), nvm=MemNvm(),
                  specs=[srv_session.SPECS, srv_data.SPECS, srv_dtc.SPECS, srv_obd.SPECS])
    s.power_up(T0)
    return s


def _run(s, req, functional=False):
    s.feed_pdu(T0, req, len(req), functional)
    n = s.pop_pdu(_BUF)
    return bytes(_BUF[:n]) if n else None


def test_mode01_live_pids_follow_the_engine_state():
    st = engine.EngineState()
    s = _engine(st)
    # 0x0C RPM (256A+B)/4: 850 rpm -> 3400 = 0D 48; 0x0D speed A km/h; 0x05 coolant A-40
    assert _run(s, h("01 0C")) == h("41 0C 0D 48")
    assert _run(s, h("01 0D")) == h("41 0D 00")
    assert _run(s, h("01 05")) == h("41 05 80")          # 88 degC + 40
    st.rpm = 2500
    st.speed_kmh = 87
    st.coolant_c = -10
    st.battery_mv = 14200
    assert _run(s, h("01 0C 0D 05 42")) == h("41 0C 27 10 0D 57 05 1E 42 37 78")


def test_mode01_answers_only_the_supported_pids_and_stays_silent_for_none():
    s = _engine()
    # 0x0A fuel pressure is not configured: dropped from the answer
    assert _run(s, h("01 0A 11")) == h("41 11 00")
    assert _run(s, h("01 0A")) is None                   # physical: no response
    assert _run(s, h("01 0A"), functional=True) is None
    assert _run(s, h("01 61"), functional=True) is None


def test_supported_pid_bitmaps_are_computed_from_the_profile():
    s = _small({"pids": {0x01: {"value": bytes(4)}, 0x0C: {"value": b"\x00\x00"},
                         0x20 + 0x1F: {"value": b"\x01\x02"}, 0x42: {"value": b"\x30\x00"}}})
    # bitmap 00: PIDs 01, 0C and the next bitmap (bit 0 = PID 20)
    assert _run(s, h("01 00")) == h("41 00 80 10 00 01")
    # bitmap 20: PID 3F and bitmap 40 (PID 40)
    assert _run(s, h("01 20")) == h("41 20 00 00 00 03")
    assert _run(s, h("01 40")) == h("41 40 40 00 00 00")
    assert _run(s, h("01 60")) is None                    # no PID above 0x60: no bitmap 60
    assert _run(s, h("01 00 20 40")) == h("41 00 80 10 00 01 20 00 00 00 03 40 40 00 00 00")


def test_engine_profile_supports_the_documented_pids():
    s = _engine()
    rsp = _run(s, h("01 00 20 40"))
    assert rsp[0] == 0x41
    pids = []
    for i, base in ((1, 0), (6, 0x20), (11, 0x40)):
        assert rsp[i] == base
        bm = rsp[i + 1:i + 5]
        for bit in range(32):
            if bm[bit >> 3] & (0x80 >> (bit & 7)) and (base + bit + 1) & 0x1F:
                pids.append(base + bit + 1)
    for pid in (0x01, 0x04, 0x05, 0x0B, 0x0C, 0x0D, 0x0F, 0x10, 0x11, 0x1C, 0x1F, 0x21, 0x2F,
                0x33, 0x42, 0x46, 0x5C):
        assert pid in pids
    assert len(pids) >= 30


def test_monitor_status_counts_confirmed_dtcs_and_the_mil():
    dtcs = ({"code": 0x010100, "status": 0x2F}, {"code": 0x042000, "status": 0x24},
            {"code": 0x030000, "status": 0x89})
    s = _small({"pids": {0x01: {"value": b"\x00\x07\x65\x00"}}}, dtcs)
    # two confirmed (0x2F, 0x89); 0x89 has warningIndicatorRequested: MIL on
    assert _run(s, h("01 01")) == h("41 01 82 07 65 00")
    assert _run(s, h("14 FF FF FF")) == h("54")
    assert _run(s, h("01 01")) == h("41 01 00 07 65 00")


def test_mode03_07_0a_list_confirmed_pending_permanent_dtcs():
    dtcs = ({"code": 0x010100, "status": 0x2F}, {"code": 0x042000, "status": 0x24},
            {"code": 0xC10000, "status": 0x08, "permanent": True},
            {"code": 0x011500, "status": 0x50})
    s = _small({}, dtcs)
    assert _run(s, h("03")) == h("43 02 01 01 C1 00")          # P0101, U0100
    assert _run(s, h("07")) == h("47 02 01 01 04 20")          # P0101, P0420
    assert _run(s, h("0A")) == h("4A 01 C1 00")
    assert _run(s, h("14 FF FF FF")) == h("54")
    assert _run(s, h("03")) == h("43 00")                       # cleared: none confirmed


def test_engine_dtcs_as_obd_codes():
    s = _engine()
    rsp = _run(s, h("03"))
    assert rsp[0] == 0x43 and rsp[1] == (len(rsp) - 2) // 2
    codes = [rsp[i] << 8 | rsp[i + 1] for i in range(2, len(rsp), 2)]
    assert 0x0101 in codes and 0x0300 in codes and 0xC100 in codes     # P0101 P0300 U0100
    assert 0x0110 not in codes                                         # pending only
    rsp = _run(s, h("07"))
    codes = [rsp[i] << 8 | rsp[i + 1] for i in range(2, len(rsp), 2)]
    assert 0x0110 in codes and 0x0171 in codes and 0x0117 not in codes


def test_mode09_vin_calids_and_ecu_name():
    s = _engine()
    assert _run(s, h("09 02")) == h("49 02 01") + b"W0L000043MB541326"
    assert _run(s, h("09 04")) == (h("49 04 02") + b"03L906018JL" + bytes(5)
                                   + b"CAL-ENGINE-2.0" + bytes(2))
    assert _run(s, h("09 0A")) == h("49 0A 01") + b"ECM\x00-EngineControl" + bytes(2)
    assert _run(s, h("09 00")) == h("49 00 50 40 00 00")      # InfoTypes 02, 04, 0A
    assert _run(s, h("09 06")) is None                        # CVN not supported: silent


def test_vin_follows_a_written_f190():
    s = _small({}, dids={0xF190: {"length": 17, "value": "WVWZZZ1JZXW000001",
                                  "write": {}}})
    assert _run(s, h("2E F1 90") + b"WVWZZZ1JZXW999999") == h("6E F1 90")
    assert _run(s, h("09 02")) == h("49 02 01") + b"WVWZZZ1JZXW999999"


def test_wrong_lengths_are_invalid_format_and_silent_when_functional():
    s = _engine()
    for req in (h("01"), h("01 01 02 03 04 05 06 07"), h("03 00"), h("09"), h("09 02 04")):
        assert _run(s, req) == bytes((0x7F, req[0], 0x12))
        assert _run(s, req, functional=True) is None


def test_functional_requests_are_answered():
    s = _engine()
    assert _run(s, h("01 0C"), functional=True) == h("41 0C 0D 48")
    assert _run(s, h("09 02"), functional=True) == h("49 02 01") + b"W0L000043MB541326"


def test_an_ecu_without_the_module_is_silent_to_functional_obd():
    s = UdsServer({"modules": ["session"]})
    s.power_up(T0)
    assert _run(s, h("01 00"), functional=True) is None
    assert _run(s, h("01 00")) == h("7F 01 11")


def test_live_pid_scaling_and_clamping():
    val = [200]
    src = {"x": lambda srv, pid: val[0]}
    s = _small({"pids": {0x0D: {"live": "x", "mul": 3, "div": 4, "offset": 30}}}, sources=src)
    assert _run(s, h("01 0D")) == h("41 0D B4")               # 200 * 3 // 4 + 30 = 180
    val[0] = 400
    assert _run(s, h("01 0D")) == h("41 0D FF")               # clamped to one byte
    val[0] = -100
    assert _run(s, h("01 0D")) == h("41 0D 00")


def test_a_profile_built_without_its_sources_reads_live_pids_as_zeros():
    # as a live DID reads its static value: the profile itself stays valid
    s = _small({"pids": {0x0C: {"live": "engine_speed"}}})
    assert _run(s, h("01 0C")) == h("41 0C 00 00")


def test_bad_obd_sections_name_the_field():
    def bad(obd, field, sources=None, dids=None):
        try:
            _small(obd, sources=sources, dids=dids)
        except ConfigError as e:
            assert str(e) == field, (str(e), field)
            return
        assert False, "accepted: %r" % (obd,)
    bad({"pids": {0x20: {"value": bytes(4)}}}, "obd.pids.0x20")
    bad({"pids": {0x0C: {"value": b"\x01"}}}, "obd.pids.0x0C.value")
    bad({"pids": {0x0C: {"value": b"\x01\x02", "length": 3}}}, "obd.pids.0x0C.length")
    bad({"pids": {0x0C: {"live": "nope"}}}, "obd.pids.0x0C.live",    # a source not given
        sources={"x": lambda srv, pid: 0})
    bad({"pids": {0x0C: {"live": 5}}}, "obd.pids.0x0C.live")
    bad({"pids": {0x0C: {}}}, "obd.pids.0x0C.value")
    bad({"pids": {0x0C: {"live": "x", "div": 0}}}, "obd.pids.0x0C.div",
        sources={"x": lambda srv, pid: 0})
    bad({"pids": {0x70: {"value": b"\x01"}}}, "obd.pids.0x70.length")  # beyond the table
    bad({"pids": {0x100: {"value": b"\x01"}}}, "obd.pids")
    bad({"pids": []}, "obd.pids")
    bad({"calids": ["X" * 17]}, "obd.calids.0")
    bad({"ecu_name": "E" * 21}, "obd.ecu_name")
    bad({"vin_did": 0xF18C}, "obd.vin_did", dids={0xF18C: {"length": 10, "value": "ENG0004711"}})
    raises(ConfigError, _small, "not a dict")
    # a PID beyond the table is accepted with its length given
    s = _small({"pids": {0x70: {"value": b"\x01\x02", "length": 2}}})
    assert _run(s, h("01 70")) == h("41 70 01 02")


def test_requests_allocate_nothing():
    s = _engine()
    reqs = [h("01 0C 0D 05"), h("01 00"), h("03"), h("07"), h("09 02"), h("01 01")]
    for r in reqs:                          # warm up (the DTC store is built on first use)
        _run(s, r)

    def go():
        for r in reqs:
            s.feed_pdu(T0, r, len(r), False)
            s.pop_pdu(_BUF)
    run_locked(go)


def test_obd_read_modes_need_only_the_diagnostic_role():
    # a host with the diagnostic role reads OBD through the gateway (REQ_UDS);
    # mode 04 (clear emission DTCs) changes the vehicle: full role
    from diagbridge.link import proto as P
    for mode in (0x01, 0x02, 0x03, 0x06, 0x07, 0x09, 0x0A):
        assert P.required_role(P.MSG_REQ_UDS, mode, -1) == P.ROLE_DIAGNOSTIC
    assert P.required_role(P.MSG_REQ_UDS, 0x04, -1) == P.ROLE_FULL
