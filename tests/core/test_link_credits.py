# Nothing lost silently: event credits, bounded queues, exact drop counts
# reported in EV_DROPPED at the place of the gap, and sequence numbers.
from diagbridge.link import proto as P
from diagbridge.link.session import EV_LINK_LOST
from link_support import Host, make_session


def _post(h, ts):
    return h.s.post_can_rx(h.now, ts, 0, 0x7E8, 0, b"\x03\x7f\x22\x78\x00\x00\x00\x00", 8)


def _ready(credits, **kw):
    h = Host(make_session(**kw))
    h.login(credits=credits)
    h.recv()
    h.events()
    return h


def test_1000_events_into_a_queue_of_64_with_10_credits():
    h = _ready(10, event_queue=64)
    queued = sum(1 for ts in range(1000) if _post(h, ts))
    assert queued == 64 and h.s.dropped[0] == 936
    first = h.recv()
    assert [m[1] for m in first] == list(range(10))          # seq
    assert [m[2][P.K_TS_US] for m in first] == list(range(10))
    assert h.s.event_credits == 0 and h.recv() == []
    h.send(P.MSG_CREDIT, 0, {P.K_CREDITS: 100})
    rest = h.recv()
    assert [m[2][P.K_TS_US] for m in rest[:54]] == list(range(10, 64))
    assert rest[54] == [P.MSG_EV_DROPPED, 64, {P.K_COUNTS: {P.MSG_EV_CAN_RX: 936}}]
    assert len(rest) == 55 and h.s.event_credits == 100 - 55
    # delivered + dropped == posted, exactly
    assert len(first) + 54 + rest[54][2][P.K_COUNTS][P.MSG_EV_CAN_RX] == 1000


def test_a_host_reading_as_it_goes_gets_its_credits_worth_then_the_queue():
    h = _ready(10, event_queue=64)
    got = []
    for ts in range(1000):
        _post(h, ts)
        got += h.recv()
    assert len(got) == 10 and h.s.dropped[0] == 1000 - 10 - 64
    h.send(P.MSG_CREDIT, 0, {P.K_CREDITS: 1000})
    got += h.recv()
    assert [m[2][P.K_TS_US] for m in got[:74]] == list(range(74))
    assert got[74] == [P.MSG_EV_DROPPED, 74, {P.K_COUNTS: {P.MSG_EV_CAN_RX: 926}}]
    _post(h, 5000)                                  # the link goes on, seq continues
    assert h.recv() == [[P.MSG_EV_CAN_RX, 75, {P.K_BUS: 0, P.K_TS_US: 5000, P.K_ID: 0x7E8,
                                               P.K_FLAGS: 0, P.K_DATA: b"\x03\x7f\x22\x78"
                                               + bytes(4)}]]


def test_drop_report_sits_at_the_gap_and_counts_per_kind():
    h = _ready(0, event_queue=4)
    for ts in range(6):
        _post(h, ts)                                # 4 queued, 2 dropped
    h.s.post_bytes(h.now, P.MSG_EV_KLINE_RX, 1, 7, b"\x55", 1)
    h.s.post_progress(h.now, 9, 1, 10)
    h.send(P.MSG_CREDIT, 0, {P.K_CREDITS: 2})
    assert [m[2][P.K_TS_US] for m in h.recv()] == [0, 1]
    h.send(P.MSG_CREDIT, 0, {P.K_CREDITS: 1})
    h.s.post_event(h.now, P.MSG_EV_STATE, {P.K_WHAT: 1, P.K_STATE: 2})   # queued after the gap
    h.send(P.MSG_CREDIT, 0, {P.K_CREDITS: 10})
    got = h.recv()
    assert [m[0] for m in got] == [P.MSG_EV_CAN_RX, P.MSG_EV_CAN_RX, P.MSG_EV_DROPPED,
                                   P.MSG_EV_STATE]
    assert got[2][2] == {P.K_COUNTS: {P.MSG_EV_CAN_RX: 2, P.MSG_EV_KLINE_RX: 1,
                                      P.MSG_EV_PROGRESS: 1}}
    assert [m[1] for m in got] == [2, 3, 4, 5]
    assert h.s.dropped[0] == 2 and h.s.dropped[1] == 1 and h.s.dropped[3] == 1


def test_byte_limit_of_the_queue_also_counts():
    h = _ready(0, event_queue=1000, event_queue_bytes=400)
    queued = sum(1 for ts in range(100) if _post(h, ts))
    each = 2 + 5 + 2 + 2 + 2 + 2 + 3 + 2 + 10        # length prefix + message
    assert queued == 400 // each and h.s.dropped[0] == 100 - queued


def test_events_without_a_host_are_discarded_and_counted():
    h = Host(make_session())
    assert not _post(h, 1) and h.s.discarded == 1
    h.login()
    h.events()
    h.send(P.MSG_BYE, 0, {})
    assert h.events() == [EV_LINK_LOST]
    assert not _post(h, 2) and h.s.discarded == 2


def test_a_new_link_starts_with_empty_queues_and_seq_0():
    h = _ready(0, event_queue=8)
    for ts in range(20):
        _post(h, ts)
    h.login(credits=5)
    h.recv()
    _post(h, 99)
    assert [(m[0], m[1], m[2][P.K_TS_US]) for m in h.recv()] == [(P.MSG_EV_CAN_RX, 0, 99)]


def test_credit_messages_must_grant_something():
    h = _ready(0)
    h.send(P.MSG_CREDIT, 0, {P.K_CREDITS: 0})
    h.send(P.MSG_CREDIT, 0, {P.K_CREDITS: -3})
    h.send(P.MSG_CREDIT, 0, {})
    assert h.s.event_credits == 0 and h.s.faults == 3
