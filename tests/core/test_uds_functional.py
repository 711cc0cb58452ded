# One functional request, every answer collected per ECU: the P2 window to
# the microsecond, 0x78 stretching one ECU past it, segmented answers, silent
# ECUs, suppressed NRCs, and a flood of answers.
from diagbridge.codes import OK, A_TIMEOUT_P2, A_PENDING_LIMIT
from diagbridge.errors import ConfigError, UsageError
from diagbridge.sim.canframe import frame_time_ns
from diagbridge.uds.client import api
from diagbridge.uds.client.core import UdsClient
from diagbridge.uds.client.functional import (FunctionalQuery, FunctionalConfig, EV_DONE, ANS_NONE,
                                       ANS_POSITIVE, ANS_NEGATIVE, ANS_FAILED)
from uds_client_support import Rig, engine_server
from support import raises


def _script(*items):
    def script(now, req):
        return [(d, bytes.fromhex(h)) for d, h in items]
    return script


def _sf_us(data, can_id=0x7DF):
    return -(-frame_time_ns(500000, 2000000, can_id, False, False, False, data, len(data)) // 1000)


def test_window_collects_every_ecu_and_closes_exactly():
    q = FunctionalQuery(4, FunctionalConfig(p2_client_ms=150))
    ecus = [engine_server(), engine_server(), lambda now, req: [],
            _script((30000, "62 F1 90 41 42 43"))]
    r = Rig([None] * 4, ecus, functional=q)
    r.k.run_for(1000)
    q.request(r.k.now, b"\x22\xf1\x90", 3)
    r.tester.kick()
    t = r.run_until_done(q, EV_DONE, 2000000)
    sf = b"\x03\x22\xf1\x90" + b"\xcc" * 4
    assert t == 1000 + _sf_us(sf) + 150000
    assert [q.status(i) for i in range(4)] == [ANS_POSITIVE, ANS_POSITIVE, ANS_NONE,
                                               ANS_POSITIVE]
    assert bytes(q.answer(0)) == b"\x62\xf1\x90W0L000043MB541326"   # segmented (FF + CFs)
    assert bytes(q.answer(3)) == b"\x62\xf1\x90ABC"
    assert q.responders == 3
    # NRCs a server must not send to functional requests stay away (0x31)
    q.request(r.k.now, b"\x22\x12\x34", 3)
    r.tester.kick()
    r.run_until_done(q, EV_DONE, 2000000)
    assert q.responders == 0 and q.status(0) == ANS_NONE


def test_pending_stretches_one_ecu_past_the_window():
    q = FunctionalQuery(3, FunctionalConfig(p2_client_ms=100, p2star_client_ms=2000,
                                            max_pending=3))
    ecus = [_script((40000, "7F 31 78"), (1500000, "71 01 02 01 00")),
            _script((50000, "7F 31 22")),
            _script(*[(40000 + 1000000 * i, "7F 31 78") for i in range(10)])]
    r = Rig([None] * 3, ecus, functional=q)
    q.request(r.k.now, b"\x31\x01\x02\x01", 4)
    r.tester.kick()
    t = r.run_until_done(q, EV_DONE, 10000000)
    assert q.status(0) == ANS_POSITIVE and q.pending_count(0) == 1
    assert q.status(1) == ANS_NEGATIVE and q.nrc(1) == 0x22
    assert q.status(2) == ANS_FAILED and q.result(2) == A_PENDING_LIMIT
    assert 3040000 < t < 3050000        # the 4th 0x78 of ECU 2 at 3.04 s ends the query
    # a 0x78 and then silence: that ECU times out after P2*
    q2 = FunctionalQuery(1, FunctionalConfig(p2_client_ms=100, p2star_client_ms=2000))
    r = Rig([None], [_script((40000, "7F 31 78"))], functional=q2)
    q2.request(r.k.now, b"\x31\x01\x02\x01", 4)
    r.tester.kick()
    r.run_until_done(q2, EV_DONE, 10000000)
    assert q2.status(0) == ANS_FAILED and q2.result(0) == A_TIMEOUT_P2


def test_a_flood_of_answers_is_counted_not_stored():
    q = FunctionalQuery(2)
    # 800 answers back to back (230 us each): the bus carries them past the window
    ecus = [_script(*[(1000 + 10 * i, "7E 00") for i in range(800)]),
            _script(*[(2000 + 10 * i, "62 F1 90 0%d" % (i % 10)) for i in range(100)])]
    r = Rig([None] * 2, ecus, functional=q)
    q.request(r.k.now, b"\x3e\x00", 2)
    r.tester.kick()
    r.run_until_done(q, EV_DONE, 10000000)
    assert q.status(0) == ANS_POSITIVE and q.duplicates > 500
    assert q.status(1) == ANS_NONE      # 0x7E9 loses arbitration to the flood on 0x7E8
    r.k.run_for(2000000)
    assert q.duplicates + q.late + q.unexpected == 799 + 100


def test_functional_and_physical_clients_share_the_tester():
    c = UdsClient()
    q = FunctionalQuery(2)
    r = Rig([c, None], [engine_server(), engine_server()], functional=q)
    q.request(r.k.now, b"\x3e\x00", 2)
    r.tester.kick()
    r.run_until_done(q, EV_DONE)
    assert q.responders == 2
    r.go(c, api.read_data(0xF18C))
    r.run_until_done(c)
    assert c.result == OK and bytes(c.payload[3:c.length]) == b"ENG0004711"


def test_misuse():
    assert raises(ConfigError, FunctionalQuery, 0)
    assert raises(ConfigError, FunctionalConfig, 0)
    q = FunctionalQuery(2)
    q.request(0, b"\x3e\x00", 2)
    assert raises(UsageError, q.request, 0, b"\x3e\x00", 2)
    assert raises(UsageError, FunctionalQuery(1).request, 0, bytes(63), 63)
    q.feed_pdu(0, 7, b"\x7e\x00", 2)    # an ECU index it does not know: counted
    assert q.unexpected == 1
