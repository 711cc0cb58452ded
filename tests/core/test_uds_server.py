# The UDS server's general response behaviour (ISO 14229-1 §8.7, uds-digest
# §3-§4): the NRC check order, SPRMIB, functional suppression, busy, the
# 0x78 cadence, S3 -- byte-exact, in virtual time.  Helpers here are shared
# by the other test_uds_*.py files.
from diagbridge.clock import TICKS_PERIOD, ticks_diff, ticks_add
from diagbridge.codes import EV_NONE
from diagbridge.errors import ConfigError
from diagbridge.uds.server.nvm import MemNvm
from diagbridge.uds.server.profile import Profile
from diagbridge.uds.server.core import UdsServer, EV_SESSION_CHANGED, EV_RESET, T_PENDING
from diagbridge.uds.server.config import UdsServerConfig
from diagbridge.uds.server.service import ServiceSpec, SubFunction, RSP_PENDING, RSP_NONE
from diagbridge.uds.server.services import session as srv_session
from diagbridge.uds.server.services import security as srv_security
from diagbridge.uds.server.services import data as srv_data
from diagbridge.uds.server.services import memory as srv_memory
from support import raises, run_locked

T0 = TICKS_PERIOD - 20000          # 20 ms before the wrap: every test crosses it
VIN = b"W0L000043MB541326"
MY_SPECS = [srv_session.SPECS, srv_security.SPECS, srv_data.SPECS, srv_memory.SPECS]


def make_profile(**over):
    p = {
        "name": "test",
        "sessions": {1: {}, 2: {}, 3: {}, 0x40: {"p2_ms": 100, "p2star_ms": 2000, "from": [3]}},
        "security": {"levels": {
            # the §10.4.5 example: fixed seed 3657, key = two's complement C9A9
            1: {"fixed_seed": b"\x36\x57", "algorithm": "twos_complement", "attempts": 3,
                "delay_ms": 10000},
            3: {"seed_len": 4, "secret": b"prog", "sessions": [2]},
        }},
        "reset": {"types": [1, 2, 3, 4, 5], "power_down_time_s": 0x0A},
        "comm_control": {"types": [0, 1, 2, 3, 4, 5], "node_ids": [0x0001]},
        "limits": {"max_dids": 4},
        "dids": {
            0xF190: {"length": 17, "value": VIN, "scaling": b"\x6F\x62",
                     "write": {"sessions": [3], "levels": [1]}},
            0xF180: {"length": 4, "value": "BOOT", "write": {}},     # never writable
            0x0105: {"length": 1, "value": b"\x20",
                     "scaling": b"\x01\x95\x00\xE0\x4B\x00\x1E\xA1\x30"},
            0x0200: {"length": 2, "value": b"\x12\x34", "read": {"levels": [1]},
                     "write": {"sessions": [3], "levels": [1]}},
            0x0300: {"length": 1, "value": b"\x55", "read": {"auth": True}},
            0x0400: {"length": 1, "value": b"\x44", "read": {"sessions": [3]}},
            0x0500: {"length": 2, "live": "rpm"},
        },
        "memory": [
            {"start": 0x20481392, "size": 0x200, "fill": 0xA5},
            {"start": 0x4800, "size": 0x100, "fill": 0x11},
            {"start": 0x204800, "size": 0x100, "fill": 0x22},
            {"start": 0x1000, "size": 0x10, "init": b"0123456789ABCDEF",
             "write": {"sessions": [3], "levels": [1]}, "read": {"auth": True}},
        ],
    }
    for k in over:
        p[k] = over[k]
    return p


class Ecu:
    """The server plus a virtual clock and a log of what it sent and when."""

    def __init__(self, profile=None, nvm=None, specs=None, cfg=None, conditions=None,
                 sources=None, trace=None):
        self.nvm = nvm if nvm is not None else MemNvm()
        self.prof = Profile(profile if profile is not None else make_profile(),
                            sources=sources)
        self.srv = UdsServer(self.prof, cfg=cfg, nvm=self.nvm,
                             specs=specs if specs is not None else MY_SPECS,
                             conditions=conditions, trace=trace)
        self.now = T0
        self.elapsed = 0
        self.out = bytearray(4095)
        self.sent = []          # (elapsed_us, hex)
        self.events = []
        self.srv.power_up(self.now)

    def req(self, hexs, functional=False):
        """Send a request; the responses it produced at once, as hex strings."""
        data = bytes.fromhex(hexs) if isinstance(hexs, str) else hexs
        mark = len(self.sent)
        self.srv.feed_pdu(self.now, data, len(data), functional)
        self.drain()
        return [s[1] for s in self.sent[mark:]]

    def one(self, hexs, functional=False):
        r = self.req(hexs, functional)
        assert len(r) <= 1, r
        return r[0] if r else None

    def drain(self):
        ev = self.srv.poll()
        while ev != EV_NONE:
            self.events.append(ev)
            ev = self.srv.poll()
        n = self.srv.pop_pdu(self.out)
        while n:
            self.sent.append((self.elapsed, hexstr(self.out, n)))
            n = self.srv.pop_pdu(self.out)

    def advance(self, us):
        """Run the server's timers for `us` microseconds of virtual time."""
        end = self.elapsed + us
        while True:
            d = self.srv.deadline()
            if d is None:
                break
            dt = ticks_diff(d, self.now)
            if dt < 0:
                dt = 0
            if self.elapsed + dt > end:
                break
            self.now = d if dt else self.now
            self.elapsed += dt
            self.srv.on_timer(self.now)
            self.drain()
            if dt == 0 and self.srv.deadline() == d:
                break               # nothing more due at this instant
        self.now = ticks_add(self.now, end - self.elapsed)
        self.elapsed = end


def hexstr(b, n=None):
    if n is None:
        n = len(b)
    return " ".join("%02X" % b[i] for i in range(n))


def unlock(ecu, session="10 03"):
    assert ecu.one(session).startswith("50")
    assert ecu.one("27 01") == "67 01 36 57"
    assert ecu.one("27 02 C9 A9") == "67 02"


# ---- conformance vectors (digest §14) --------------------------------------------
def test_v1_v2_dsc_reports_timing():
    e = Ecu()
    assert e.one("10 01") == "50 01 00 32 01 F4"
    assert e.one("10 02") == "50 02 00 32 01 F4"
    assert e.one("10 03") == "50 03 00 32 01 F4"
    assert e.one("10 40") == "50 40 00 64 00 C8"     # the new session's P2/P2* (§10.2.1)


def test_v3_v4_v5_length():
    e = Ecu()
    assert e.one("10") == "7F 10 13"
    assert e.one("10 01 FF") == "7F 10 13"
    assert e.one("10 01 FF", functional=True) == "7F 10 13"   # 13 is never suppressed


def test_v6_v7_v8_unsupported_sub_function():
    e = Ecu()
    assert e.one("10 05") == "7F 10 12"
    assert e.one("10 05", functional=True) is None
    assert e.one("10 85") == "7F 10 12"               # SPRMIB ignored for NRs


def test_v9_suppressed_positive_response_still_acts():
    e = Ecu()
    assert e.one("10 83") is None
    assert e.srv.session == 3


def test_v10_v11_v12_tester_present():
    e = Ecu()
    assert e.one("3E 00") == "7E 00"
    assert e.one("3E 80") is None
    assert e.one("3E 80", functional=True) is None
    assert e.one("3E 00 00") == "7F 3E 13"
    assert e.one("3E 01") == "7F 3E 12"


def test_v13_unsupported_service():
    e = Ecu()
    assert e.one("12 00") == "7F 12 11"
    assert e.one("12 00", functional=True) is None
    assert e.one("83 01") == "7F 83 11"               # AccessTimingParameter withdrawn
    assert e.one("01 00") == "7F 01 11"               # OBD SIDs not served here


def test_v24_v25_v26_rdbi():
    e = Ecu()
    assert e.one("22 F1") == "7F 22 13"
    assert e.one("22 12 34") == "7F 22 31"
    assert e.one("22 12 34", functional=True) is None
    assert e.one("22 12 34 F1 90") == "62 F1 90 " + hexstr(VIN)


def test_v42_uds_version_and_f186():
    e = Ecu()
    assert e.one("22 FF 00") == "62 FF 00 03 00 00 00"
    assert e.one("22 F1 86") == "62 F1 86 01"
    e.one("10 03")
    assert e.one("22 F1 86") == "62 F1 86 03"


# ---- one test per NRC-order step: two rules broken -> the earlier check ---------
def test_order_busy_before_everything():
    e = Ecu(specs=MY_SPECS + [_slow_spec(300000)])
    assert e.req("31 01 FF 00") == []
    # unsupported SID while busy: 0x21 (step 1) beats 0x11 (step 3)
    assert e.one("12 00") == "7F 12 21"
    assert e.one("12 00", functional=True) == "7F 12 21"   # 0x21 is not suppressed
    assert e.srv.busy_rejects == 2


def test_order_sns_before_snsias():
    e = Ecu()
    assert e.one("99") == "7F 99 11"                  # too short and unknown: 11 first


def test_order_snsias_before_security_and_length():
    e = Ecu()
    # 27 in default (not allowed: 7F) with a bad length (13) and bad SF (12)
    assert e.one("27") == "7F 27 7F"
    assert e.one("27 55 00 00 00") == "7F 27 7F"
    assert e.one("28 00", functional=True) is None        # 7F suppressed when functional


def test_order_auth_before_security():
    # a service restricted by both authentication and security: 34 comes first
    p = make_profile(services={0x11: {"auth": True, "levels": [1]}})
    e = Ecu(p)
    assert e.one("11 01") == "7F 11 34"               # V41
    e.srv.auth_role = 1
    assert e.one("11 01") == "7F 11 33"
    e.srv.auth_role = 0
    assert e.one("11 99") == "7F 11 34"               # before the SF check


def test_order_security_before_length():
    e = Ecu(make_profile(services={0x3E: {"levels": [1]}}))
    assert e.one("3E") == "7F 3E 33"                  # 33 (step 5b) before 13 (Fig 6.1)


def test_order_length_before_sub_function():
    e = Ecu()
    assert e.one("11") == "7F 11 13"                  # no SF at all: 13, not 12


def test_order_sfns_before_sfnsias():
    e = Ecu()
    assert e.one("10 41") == "7F 10 12"               # unknown SF and not in session: 12


def test_order_sfnsias_before_sf_security_and_length():
    e = Ecu()
    # 10 40 is only allowed from extended (profile "from": [3]); too long as well
    assert e.one("10 40 00") == "7F 10 7E"
    assert e.one("10 40 00", functional=True) is None
    e.one("10 03")
    assert e.one("27 03") == "7F 27 7E"               # level 3 only in programming


def test_order_sf_auth_before_sf_security_before_exact_length():
    p = make_profile(services={0x11: {"sub_functions": {1: {"auth": 2, "levels": [1]}}}})
    e = Ecu(p)
    assert e.one("11 01 00") == "7F 11 34"
    e.srv.auth_role = 1                               # a role without bit 1
    assert e.one("11 01 00") == "7F 11 34"
    e.srv.auth_role = 2
    assert e.one("11 01 00") == "7F 11 33"
    e.srv.auth_role = 0
    assert e.one("11 03 00") == "7F 11 13"            # the other SFs are unrestricted


def test_order_exact_length_before_sequence():
    e = Ecu()
    e.one("10 03")
    assert e.one("27 02 C9") == "7F 27 13"            # no seed requested (24) but short
    assert e.one("27 02 C9 A9") == "7F 27 24"


def test_order_service_specific_after_general():
    e = Ecu()
    e.one("10 03")
    assert e.one("28 00 00") == "7F 28 31"            # communicationType 0: data check
    assert e.one("28 00 00 00") == "7F 28 13"         # ... but exact length first


def test_conditions_hook():
    state = {"nrc": 0x22}
    e = Ecu(conditions=lambda srv, now, req, n: state["nrc"] if req[0] == 0x10 else 0)
    assert e.one("10 03") == "7F 10 22"
    assert e.srv.session == 1                         # the current session continues
    assert e.one("10 83") == "7F 10 22"               # an NR ignores SPRMIB
    state["nrc"] = 0x88                               # vehicleSpeedTooHigh (A.1 0x80-FF)
    assert e.one("10 02") == "7F 10 88"
    state["nrc"] = 0
    assert e.one("10 02") == "50 02 00 32 01 F4"


# ---- SPRMIB and functional suppression matrix (§8.7.3, §8.7.5) -------------------
def test_sprmib_functional_matrix():
    cases = (
        # request, physical, functional
        ("3E 00", "7E 00", "7E 00"),
        ("3E 80", None, None),
        ("10 81", None, None),
        ("10 01", "50 01 00 32 01 F4", "50 01 00 32 01 F4"),
        ("10 05", "7F 10 12", None),          # SFNS
        ("10 85", "7F 10 12", None),
        ("10 40", "7F 10 7E", None),          # SFNSIAS
        ("10 C0", "7F 10 7E", None),
        ("27 01", "7F 27 7F", None),          # SNSIAS
        ("55 01", "7F 55 11", None),          # SNS
        ("22 12 34", "7F 22 31", None),       # ROOR
        ("22 12", "7F 22 13", "7F 22 13"),    # IMLOIF is sent
        ("10 01 00", "7F 10 13", "7F 10 13"),
        ("10 81 00", "7F 10 13", "7F 10 13"),
    )
    for req, phys, func in cases:
        for functional, want in ((False, phys), (True, func)):
            e = Ecu()
            assert e.one(req, functional) == want, (req, functional)


def test_sprmib_suppression_of_positive_responses_only():
    e = Ecu()
    e.one("10 03")
    assert e.one("28 80 01") is None and e.srv.comm_control == 0
    assert e.one("28 81 01") is None and e.srv.comm_control == 1
    assert e.one("28 81 00") == "7F 28 31"            # NR despite SPRMIB
    assert e.one("85 82") is None and e.srv.dtc_setting_on is False


# ---- response pending (0x78) cadence --------------------------------------------
_DONE = {}


def _slow_handler(srv, now, req, n, functional):
    _DONE["at"] = ticks_add(now, _DONE["us"])
    _DONE["result"] = _DONE.get("final", 0)
    return RSP_PENDING


def _slow_deadline(srv):
    return _DONE.get("at")


def _slow_resume(srv, now):
    _DONE["at"] = None
    if _DONE["result"]:
        return -_DONE["result"]
    rsp = srv.rsp
    rsp[0] = 0x71
    rsp[1] = 0x01
    rsp[2] = 0xFF
    rsp[3] = 0x00
    return 4


def _slow_spec(us, final_nrc=0):
    _DONE.clear()
    _DONE["us"] = us
    _DONE["final"] = final_nrc
    return ServiceSpec(0x31, _slow_handler, has_sf=True, min_len=4,
                       sub_functions=(SubFunction(0x01, min_len=4),),
                       resume=_slow_resume, deadline=_slow_deadline)


def test_v38_rcrrp_cadence_and_final_response_despite_sprmib():
    e = Ecu(specs=MY_SPECS + [_slow_spec(12000000)])   # 12 s erase
    assert e.req("31 81 FF 00") == []
    e.advance(13000000)
    # margin 10 ms: 0x78 at P2 - 10 ms, then every P2* - 10 ms; the final
    # positive response is sent although SPRMIB = 1 (a 0x78 went out, §8.7.5)
    assert e.sent == [(40000, "7F 31 78"), (5030000, "7F 31 78"), (10020000, "7F 31 78"),
                      (12000000, "71 01 FF 00")]


def test_no_rcrrp_when_the_work_ends_before_p2():
    e = Ecu(specs=MY_SPECS + [_slow_spec(30000)])
    assert e.req("31 01 FF 00") == []
    e.advance(1000000)
    assert e.sent == [(30000, "71 01 FF 00")]
    e2 = Ecu(specs=MY_SPECS + [_slow_spec(30000)])
    e2.req("31 81 FF 00")
    e2.advance(1000000)
    assert e2.sent == []                              # SPRMIB honoured: no 0x78 went out


def test_functional_suppressed_nrc_is_sent_after_rcrrp():
    e = Ecu(specs=MY_SPECS + [_slow_spec(100000, final_nrc=0x31)])
    assert e.req("31 01 FF 00", functional=True) == []
    e.advance(200000)
    assert e.sent == [(40000, "7F 31 78"), (100000, "7F 31 31")]
    e2 = Ecu(specs=MY_SPECS + [_slow_spec(30000, final_nrc=0x31)])
    e2.req("31 01 FF 00", functional=True)
    e2.advance(200000)
    assert e2.sent == []                              # no 0x78 yet: 31 suppressed


def test_pending_uses_the_session_timing_and_margin():
    cfg = UdsServerConfig(pending_margin_ms=5)
    e = Ecu(specs=MY_SPECS + [_slow_spec(2500000)], cfg=cfg)
    e.one("10 03")
    assert e.one("10 40") == "50 40 00 64 00 C8"       # P2 100 ms, P2* 2000 ms
    e.sent = []
    e.req("31 01 FF 00")
    e.advance(3000000)
    assert [s[0] for s in e.sent] == [95000, 2090000, 2500000]


def test_busy_keepalive_bypass_and_s3_while_pending():
    e = Ecu(specs=MY_SPECS + [_slow_spec(7000000)])
    e.one("10 03")
    e.req("31 01 FF 00")
    e.advance(1000000)
    assert e.req("3E 80", functional=True) == []      # bypass: no 0x21, nothing blocked
    assert e.req("3E 80") == ["7F 3E 21"]             # physical 3E 80 is an ordinary request
    assert e.req("3E 00", functional=True) == ["7F 3E 21"]
    e.advance(6500000)                                # S3 does not run while pending
    assert e.srv.session == 3
    assert e.sent[-1] == (7000000, "71 01 FF 00")
    e.advance(4499999)                                # to 11.999999 s
    assert e.srv.session == 3
    e.advance(1)                                      # S3 counts from the final response
    assert e.srv.session == 1


def test_rsp_none_sends_nothing():
    spec = ServiceSpec(0xBA, lambda srv, now, req, n, f: RSP_NONE)
    e = Ecu(specs=MY_SPECS + [spec])
    assert e.req("BA 01") == []


def test_response_not_yet_popped_is_busy():
    e = Ecu()
    e.srv.feed_pdu(e.now, b"\x3e\x00", 2, False)
    e.srv.feed_pdu(e.now, b"\x22\xf1\x90", 3, False)
    e.drain()
    assert [s[1] for s in e.sent] == ["7E 00", "7F 22 21"]


# ---- S3 ----------------------------------------------------------------------------
def test_s3_timeout_exact_and_restarted_by_any_request():
    e = Ecu()
    e.one("10 03")
    e.advance(4000000)
    e.one("22 F1 90")                                 # any request restarts S3
    e.advance(4999999)
    assert e.srv.session == 3
    e.advance(1)
    assert e.srv.session == 1 and e.srv.old_session == 3
    assert e.events[-1] == EV_SESSION_CHANGED
    assert e.srv.deadline() is None                   # default session: no S3


def test_s3_kept_alive_by_functional_tester_present():
    e = Ecu()
    e.one("10 02")
    for _ in range(5):
        e.advance(4000000)
        e.req("3E 80", functional=True)
    assert e.srv.session == 2
    e.advance(5000000)
    assert e.srv.session == 1


def test_s3_not_in_default_session():
    e = Ecu()
    e.one("10 01")
    assert e.srv.deadline() is None


# ---- construction ---------------------------------------------------------------
def test_duplicate_sid_and_bad_overrides_are_config_errors():
    assert raises(ConfigError, UdsServer, Profile(make_profile()), None, None,
                  MY_SPECS + [srv_data.SPECS])
    assert raises(ConfigError, UdsServer, Profile(make_profile(services={0x99: {}})),
                  None, None, MY_SPECS)
    assert raises(ConfigError, UdsServer, Profile(make_profile(
        services={0x10: {"sub_functions": {0x05: {}}}})), None, None, MY_SPECS)
    assert raises(ConfigError, UdsServer, Profile(make_profile(modules=["nope"])))


def test_service_can_be_removed_by_the_profile():
    e = Ecu(make_profile(services={"0x3D": {"supported": False}}))
    assert e.one("3D 11 10 01 00") == "7F 3D 11"
    assert not e.srv.supports(0x3D) and e.srv.supports(0x23)


def test_modules_loaded_by_name():
    srv = UdsServer(make_profile(modules=["session", "data"]))
    assert srv.supports(0x10) and srv.supports(0x22) and not srv.supports(0x27)


def test_trace_hook_gets_ints():
    log = []
    e = Ecu(specs=MY_SPECS + [_slow_spec(100000)],
            trace=lambda c, a, b: log.append((c, a, b)))
    e.req("31 01 FF 00")
    e.advance(200000)
    assert (T_PENDING, 0x31, 1) in log
    assert all(isinstance(x, int) for t in log for x in t)


# ---- malformed requests of every length ------------------------------------------
def test_fuzz_lengths_every_sid_gets_a_standard_answer():
    allowed = (0x10, 0x11, 0x12, 0x13, 0x14, 0x22, 0x24, 0x31, 0x33, 0x34, 0x35, 0x7E, 0x7F)
    for session in ("10 01", "10 03"):
        for sid in (0x10, 0x11, 0x22, 0x23, 0x24, 0x27, 0x28, 0x2E, 0x3D, 0x3E, 0x85):
            for n in range(1, 12):
                for fill in (0x00, 0x01, 0x7F, 0xFF):
                    e = Ecu()
                    e.one(session)
                    req = bytearray([sid] + [fill] * (n - 1))
                    r = e.req(bytes(req))
                    if EV_RESET in e.events:
                        e.srv.reset(e.now, e.srv.reset_kind)
                    for rsp in r:
                        b = bytes.fromhex(rsp)
                        assert b[0] == sid + 0x40 or (b[0] == 0x7F and b[1] == sid
                                                      and b[2] in allowed), (hexstr(req), rsp)
                    # the server is still consistent: it answers the next request
                    assert e.one("3E 00") == "7E 00"


# ---- heap_lock proof --------------------------------------------------------------
_TP = b"\x3e\x00"
_RD = b"\x22\xf1\x90"
_DS = b"\x10\x03"


def test_common_paths_do_not_allocate():
    # (a MicroPython closure with more than 5 free variables allocates on
    # every call, so the requests are module constants)
    e = Ecu()
    srv = e.srv
    out = e.out
    e.one("10 03")
    e.one("22 F1 90")
    e.one("3E 00")
    now = e.now

    def run():
        total = 0
        for _ in range(3):
            srv.feed_pdu(now, _TP, 2, False)
            total += srv.pop_pdu(out)
            srv.feed_pdu(now, _RD, 3, False)
            total += srv.pop_pdu(out)
            srv.feed_pdu(now, _DS, 2, False)
            total += srv.pop_pdu(out)
            srv.on_timer(now)
            while srv.poll():
                pass
        return total

    assert run_locked(run) == 3 * (2 + 20 + 6)


# ---- plumbing other service modules rely on --------------------------------------
_UNSOL = {"due": None, "count": 0}


def _unsol_deadline(srv):
    return _UNSOL["due"]


def _unsol_timer(srv, now):
    if _UNSOL["due"] is not None and ticks_diff(now, _UNSOL["due"]) >= 0:
        _UNSOL["due"] = ticks_add(now, 100000)      # a 100 ms periodic message
        _UNSOL["count"] += 1
        srv.unsolicited_ready()


def _unsol_pop(srv, out):
    if _UNSOL["count"]:
        _UNSOL["count"] -= 1
        out[0] = 0xE3
        out[1] = 0x42
        return 2
    return 0


def test_service_timers_and_unsolicited_pdus():
    spec = ServiceSpec(0xBC, lambda srv, now, req, n, f: -0x31, deadline=_unsol_deadline,
                       on_timer=_unsol_timer, pop_unsolicited=_unsol_pop)
    e = Ecu(specs=MY_SPECS + [spec])
    _UNSOL["due"] = ticks_add(e.now, 100000)
    _UNSOL["count"] = 0
    e.advance(350000)
    assert e.sent == [(100000, "E3 42"), (200000, "E3 42"), (300000, "E3 42")]
    _UNSOL["due"] = None


def test_unsolicited_waits_for_the_pending_response():
    spec = ServiceSpec(0xBC, lambda srv, now, req, n, f: -0x31, pop_unsolicited=_unsol_pop)
    e = Ecu(specs=MY_SPECS + [spec, _slow_spec(100000)])
    e.req("31 01 FF 00")
    _UNSOL["count"] = 1
    e.srv.unsolicited_ready()
    e.drain()
    assert e.sent == []                             # not during a request (§10.9.1 b)
    e.advance(200000)
    assert [s[1] for s in e.sent] == ["7F 31 78", "71 01 FF 00", "E3 42"]
