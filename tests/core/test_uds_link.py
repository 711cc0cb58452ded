# LinkControl 0x87 (ISO 14229-1 §10.10, uds-digest §10.9, vector V35) on the
# real server: the §10.10.5 examples byte-exact, the switch raised after the
# response went out, 0x24 without a verification, back to normal on default
# session / S3 / reset, the NRC order.  Table B.3 identifiers and the
# request/response tables are ISO 14229-1:2020 (not in provided text).
from diagbridge.codes import EV_NONE
from diagbridge.errors import ConfigError
from diagbridge.uds.server.services import link as srv_link
from diagbridge.uds.codec.link import (build_link_control_request, parse_link_control_response,
                                       fixed_baud, link_record)
from diagbridge.uds.server.core import EV_LINK_CONTROL, EV_RESPONSE
from support import raises
from test_uds_server import Ecu, make_profile, MY_SPECS

SPECS = MY_SPECS + [srv_link.SPECS]


class _LinkEcu(Ecu):
    def __init__(self, *a, **k):
        self.link_log = []
        Ecu.__init__(self, *a, **k)

    def _poll_all(self):
        srv = self.srv
        got = False
        ev = srv.poll()
        while ev != EV_NONE:
            got = True
            self.events.append(ev)
            if ev == EV_LINK_CONTROL:
                self.link_log.append((srv.link_baud, srv.link_mode))
            ev = srv.poll()
        return got

    def drain(self):
        # EV_LINK_CONTROL is raised inside pop_pdu, once the responses are out
        while True:
            self._poll_all()
            n = self.srv.pop_pdu(self.out)
            if n:
                self.sent.append((self.elapsed, " ".join("%02X" % self.out[i]
                                                         for i in range(n))))
                self.link_log.append(("sent", self.sent[-1][1]))
            elif not self._poll_all():
                return


def _lecu(conditions=None, **link):
    p = make_profile(link={"normal_baud": 500000, "fixed": [0x05, 0x12, 0x13, 0x20],
                           "specific": [150000]})
    for k in link:
        p["link"][k] = link[k]
    return _LinkEcu(p, specs=SPECS, conditions=conditions)


def test_codec():
    out = bytearray(8)
    assert bytes(out[:build_link_control_request(out, 1, 0x05)]) == b"\x87\x01\x05"
    n = build_link_control_request(out, 2, 150000)
    assert bytes(out[:n]) == b"\x87\x02\x02\x49\xF0"              # §10.10.5.2
    assert bytes(out[:build_link_control_request(out, 3, sprmib=True)]) == b"\x87\x83"
    assert parse_link_control_response(b"\xC7\x01", 2) == 1
    assert parse_link_control_response(b"\x7F\x87\x24", 3) == -1
    assert fixed_baud(0x05) == 115200 and fixed_baud(0x13) == 1000000
    assert fixed_baud(0x20) == 0 and fixed_baud(0x07) == -1
    assert link_record(b"\x02\x49\xF0", 0) == 150000


def test_v35_fixed_baud_115200():
    e = _lecu()
    assert e.one("10 03").startswith("50 03")
    assert e.one("87 01 05") == "C7 01"
    assert e.link_log[-1] == ("sent", "C7 01")              # verifying changes nothing
    assert e.one("87 83") is None
    assert e.link_log[-1] == (115200, 0x05)


def test_example2_specific_baud_and_example3_programming_setup():
    e = _lecu()
    assert e.one("10 03").startswith("50 03")
    assert e.one("87 02 02 49 F0") == "C7 02"
    assert e.one("87 83") is None
    assert e.link_log[-1] == (150000, 0)
    assert e.one("87 01 20") == "C7 01"                     # FlexRay programming cycle
    assert e.one("87 83") is None
    assert e.link_log[-1] == (0, 0x20)


def test_switch_comes_after_the_response_went_out():
    e = _lecu()
    assert e.one("10 03").startswith("50 03")
    assert e.one("87 01 13") == "C7 01"
    assert e.one("87 03") == "C7 03"
    assert e.link_log[-2:] == [("sent", "C7 03"), (1000000, 0x13)]
    srv = e.srv
    assert e.one("87 01 12") == "C7 01"
    srv.feed_pdu(e.now, b"\x87\x03", 2, False)
    evs = []
    ev = srv.poll()
    while ev != EV_NONE:
        evs.append(ev)
        ev = srv.poll()
    assert EV_RESPONSE in evs and EV_LINK_CONTROL not in evs    # not before the response
    assert srv.pop_pdu(e.out) == 2
    assert srv.pop_pdu(e.out) == 0
    assert srv.poll() == EV_LINK_CONTROL or EV_LINK_CONTROL in (srv.poll(), srv.poll())
    assert (srv.link_baud, srv.link_mode) == (500000, 0x12)


def test_transition_needs_a_verification():
    e = _lecu()
    assert e.one("10 03").startswith("50 03")
    assert e.one("87 03") == "7F 87 24"
    assert e.one("87 01 05") == "C7 01"
    assert e.one("87 03") == "C7 03"
    assert e.one("87 03") == "7F 87 24"                     # used up
    assert e.one("87 01 05") == "C7 01"
    assert e.one("10 03").startswith("50 03")               # dropped by a transition
    assert e.one("87 03") == "7F 87 24"


def test_back_to_normal_on_default_session_s3_and_reset():
    e = _lecu()
    assert e.one("10 03").startswith("50 03")
    e.req("87 01 05")
    e.req("87 83")
    assert e.one("10 02").startswith("50 02")               # non-default: mode kept
    assert e.link_log[-1] == ("sent", "50 02 00 32 01 F4")
    assert e.one("10 01") == "50 01 00 32 01 F4"
    assert e.link_log[-2:] == [("sent", "50 01 00 32 01 F4"), (500000, 0xFF)]
    assert e.one("10 03").startswith("50 03")
    e.req("87 01 13")
    e.req("87 83")
    mark = len(e.link_log)
    e.advance(5000000)                                      # S3
    assert e.srv.session == 1
    assert e.link_log[mark:] == [(500000, 0xFF)]
    assert e.one("10 03").startswith("50 03")
    e.req("87 01 13")
    e.req("87 83")
    e.srv.reset(e.now, 1)
    e.drain()
    assert e.link_log[-1] == (500000, 0xFF)
    mark = len(e.link_log)
    assert e.one("10 01").startswith("50 01")               # already normal: no switch
    assert [x for x in e.link_log[mark:] if x[0] != "sent"] == []


def test_nrc_order_two_rules_broken():
    e = _lecu(conditions=lambda srv, now, req, n: 0x22 if req[0] == 0x87 and n == 3
              and req[2] == 0x13 else 0)
    assert e.one("87 01 05") == "7F 87 7F"                  # not in default (Table 23)
    assert e.one("87 04") == "7F 87 7F"                     # service check first
    assert e.one("10 03").startswith("50 03")
    assert e.one("87") == "7F 87 13"
    assert e.one("87 04") == "7F 87 12"
    assert e.one("87 01") == "7F 87 13"
    assert e.one("87 01 07 00") == "7F 87 13"               # length + unknown: 13 first
    assert e.one("87 03 00") == "7F 87 13"                  # length + sequence: 13 first
    assert e.one("87 01 07") == "7F 87 31"                  # not in Table B.3
    assert e.one("87 01 01") == "7F 87 31"                  # not supported by this ECU
    assert e.one("87 02 00 00 01") == "7F 87 31"
    assert e.one("87 01 13") == "7F 87 22"
    assert e.one("87 03") == "7F 87 24"                     # nothing verified


def test_functional():
    e = _lecu()
    assert e.one("10 03").startswith("50 03")
    assert e.one("87 01 07", functional=True) is None       # 31 suppressed
    assert e.one("87 01", functional=True) == "7F 87 13"
    assert e.one("87 01 05", functional=True) == "C7 01"    # step 1: everyone answers
    assert e.one("87 83", functional=True) is None
    assert e.link_log[-1] == (115200, 0x05)


def test_bad_link_profile():
    assert raises(ConfigError, Ecu, make_profile(link={"fixed": [0x07]}), None, SPECS)
    assert raises(ConfigError, Ecu, make_profile(link={"normal_baud": 0}), None, SPECS)
    assert raises(ConfigError, Ecu, make_profile(link={"specific": [0x1000000]}), None, SPECS)
