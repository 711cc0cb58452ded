# Frame size and fragments (proto.py): the frame size is the smaller of the
# two ends' MAX_FRAME, a longer message crosses as FRAGMENTs both ways (each
# signed on its own after a keyed login), and every fault of a fragmented or
# oversize message is a named code with an ERROR to its request id, the
# session left as it was.  Also: a host that says it holds a key is always
# challenged when the gateway has a key for its role.
from diagbridge.codes import OK, LINK_OVERSIZE, LINK_TRUNCATED, LINK_MALFORMED
from diagbridge.link import proto as P
from diagbridge.link.cobs import Deframer, EV_FRAME
from diagbridge.link.session import EV_REQUEST, EV_LINK_FAULT, S_READY, S_WAIT_HELLO
from diagbridge.link.msgpack import Reader
from link_support import Host, make_session, frame, KEY_FULL, KEY_MON
from support import run_locked

PDU = bytes((0x36, 0x01)) + bytes((i * 7) & 0xFF for i in range(4093))     # 4095 bytes


def _frames(wire):
    """The message lengths (tag included) of every frame in wire."""
    d = Deframer(65535)
    sizes = []
    i = 0
    while i < len(wire):
        i = d.feed_bytes(0, wire, len(wire), i)
        if d.poll() == EV_FRAME:
            sizes.append(d.length)
    return sizes


def _keyed(frame_size=256, **kw):
    h = Host(make_session(**kw))
    msgs = h.login(extra={P.K_MAX_FRAME: frame_size})
    assert msgs[-1][0] == P.MSG_AUTH_OK and h.s.mac_on, msgs
    h.events()
    return h


def _open(frame_size=256, **kw):
    h = Host(make_session(keys=(), open_role=P.ROLE_FULL, **kw))
    msgs = h.hello(extra={P.K_MAX_FRAME: frame_size})
    assert msgs[-1][0] == P.MSG_AUTH_OK, msgs
    h.events()
    return h


def _errors(msgs):
    return [(m[1], m[2][P.K_CODE]) for m in msgs if m[0] == P.MSG_ERROR]


def test_a_4095_byte_uds_request_and_answer_cross_in_fragments_both_ways():
    h = _keyed(256)
    s = h.s
    assert s.frame_size == 256
    h.send_fragmented(P.MSG_REQ_UDS, 7, {P.K_CHANNEL: 1, P.K_DATA: PDU}, 256)
    assert len(h.sent) > 16                     # 4 KiB in frames of 256 bytes
    assert h.events() == [EV_REQUEST] and s.req_id == 7 and s.req_kind == P.MSG_REQ_UDS
    body = s.body()
    assert body[P.K_DATA] == PDU and body[P.K_CHANNEL] == 1
    mark = len(h.wire)
    answer = bytes((0x76,)) + PDU[1:]
    assert s.respond(h.now, 7, OK, answer, len(answer))
    got = h.recv()
    assert got == [[P.MSG_RESPONSE, 7, {P.K_RESULT: OK, P.K_DATA: answer}]]
    sizes = _frames(bytes(h.wire[mark:]))
    assert len(sizes) >= 17 and max(sizes) <= 256 + P.TAG_LEN      # every one signed
    assert h.mac.bad == 0 and s.faults == 0 and s.state == S_READY
    # and a short message afterwards needs no fragment
    h.send(P.MSG_REQ_STATUS, 8, {})
    assert h.events() == [EV_REQUEST] and s.req_id == 8


def test_negotiation_picks_the_smaller_limit():
    for host, want in ((2000, 512), (512, 512), (100, 100), (64, 64)):
        h = Host(make_session(max_frame=512, keys=(), open_role=P.ROLE_FULL))
        msgs = h.hello(extra={P.K_MAX_FRAME: host, P.K_MAX_MESSAGE: 100000})
        ack = msgs[0][2]
        assert ack[P.K_MAX_FRAME] == 512 and ack[P.K_MAX_MESSAGE] == P.message_size(4095)
        assert h.s.frame_size == want and h.s.host_message == P.message_size(4095)
        assert max(_frames(bytes(h.wire))) <= want
    # a host that says nothing gets the gateway's own sizes; a smaller
    # MAX_MESSAGE bounds what the gateway sends
    h = Host(make_session(max_frame=512))
    h.hello()
    assert h.s.frame_size == 512 and h.s.host_message == P.message_size(4095)
    h = Host(make_session(max_frame=512))
    h.hello(extra={P.K_MAX_MESSAGE: 2000})
    assert h.s.host_message == 2000 and not h.s.carries(4095) and h.s.carries(1936)


def test_a_peer_announcing_the_smallest_frame_still_works():
    h = Host(make_session(name=b"g" * 60))      # a HELLO_ACK longer than 64 bytes
    msgs = h.login(extra={P.K_MAX_FRAME: P.MIN_FRAME})
    assert [m[0] for m in msgs] == [P.MSG_HELLO_ACK, P.MSG_CHALLENGE, P.MSG_AUTH_OK]
    assert msgs[0][2][P.K_NAME] == "g" * 60 and h.asm.fragments > 1
    assert max(_frames(bytes(h.wire))) <= P.MIN_FRAME + P.TAG_LEN
    h.events()
    h.send_fragmented(P.MSG_REQ_UDS, 3, {P.K_CHANNEL: 0, P.K_DATA: PDU}, P.MIN_FRAME)
    assert h.events() == [EV_REQUEST] and h.s.body()[P.K_DATA] == PDU
    h.s.respond(h.now, 3, OK, PDU, len(PDU))
    assert h.recv()[0][2][P.K_DATA] == PDU and h.mac.bad == 0
    # below the floor (or MAX_MESSAGE below MAX_FRAME): refused, named
    for extra in ({P.K_MAX_FRAME: 63}, {P.K_MAX_FRAME: 512, P.K_MAX_MESSAGE: 100},
                  {P.K_MAX_FRAME: "big"}):
        h = Host(make_session())
        msgs = h.hello(extra=extra)
        assert _errors(msgs) == [(0, LINK_MALFORMED)] and h.s.state == S_WAIT_HELLO
        assert "max_frame" in msgs[1][2][P.K_TEXT]


def _clean(h, credits=4):
    """The session holds nothing: every credit is free for new requests."""
    for k in range(credits):
        h.send(P.MSG_REQ_STATUS, 100 + k, {})
    evs = h.events()
    assert evs == [EV_REQUEST] * credits, evs
    for k in range(credits):
        assert h.s.respond(h.now, 100 + k, OK)
    assert [m[1] for m in h.recv()] == [100 + k for k in range(credits)]


def test_fragments_out_of_order_missing_or_too_long_are_named_and_leave_no_trace():
    h = _keyed(128)
    s = h.s
    parts = h.fragments(P.MSG_REQ_UDS, 21, {P.K_CHANNEL: 1, P.K_DATA: PDU[:600]}, 128)
    assert len(parts) > 3
    # out of order: the third before the second
    h.send(*parts[0])
    h.send(*parts[2])
    assert h.events() == [EV_LINK_FAULT] and s.result == LINK_TRUNCATED
    assert _errors(h.recv()) == [(21, LINK_TRUNCATED)]
    h.send(*parts[1])                           # the rest of it is dropped: counted only
    assert h.events() == [EV_LINK_FAULT] and h.recv() == []
    # missing: another message comes before the last fragment
    for p in parts[:-1]:
        h.send(*p)
    h.send(P.MSG_HEARTBEAT, 0, {})
    assert h.events() == [EV_LINK_FAULT] and _errors(h.recv()) == [(21, LINK_TRUNCATED)]
    # a second message's first fragment before the first one ended
    h.send(*parts[0])
    h.send(*h.fragments(P.MSG_REQ_UDS, 22, {P.K_DATA: PDU[:600]}, 128)[0])
    assert _errors(h.recv()) == [(21, LINK_TRUNCATED)]
    h.send(P.MSG_HEARTBEAT, 0, {})
    assert _errors(h.recv()) == [(22, LINK_TRUNCATED)]
    h.events()
    # a total beyond max_message: ERROR LINK_OVERSIZE to its id, the rest dropped
    big = h.fragments(P.MSG_REQ_FLASH, 23, {P.K_OP: P.OP_DATA, P.K_JOB: 1, P.K_OFFSET: 0,
                                            P.K_DATA: bytes(5000)}, 128)
    h.send(*big[0])
    assert h.events() == [EV_LINK_FAULT] and s.result == LINK_OVERSIZE
    assert _errors(h.recv()) == [(23, LINK_OVERSIZE)]
    for p in big[1:]:
        h.send(*p)
    assert h.events() == [] and h.recv() == [] and s.state == S_READY
    # a fragment claiming more than its total
    bad = [P.MSG_FRAGMENT, 0, {P.K_OFFSET: 0, P.K_TOTAL: 10,
                               P.K_DATA: parts[0][2][P.K_DATA]}]
    h.send(*bad)
    assert _errors(h.recv()) == [(21, LINK_OVERSIZE)]
    h.events()
    # not {OFFSET, TOTAL, DATA}; a fragment inside a fragment
    for body in ({P.K_OFFSET: 0, P.K_TOTAL: 5}, {P.K_OFFSET: -1, P.K_TOTAL: 5, P.K_DATA: b"x"},
                 {P.K_OFFSET: 0, P.K_TOTAL: 5, P.K_DATA: "text"}, None):
        h.send(P.MSG_FRAGMENT, 0, body)
        assert h.events() == [EV_LINK_FAULT] and s.result == LINK_MALFORMED
        assert _errors(h.recv()) == [(0, LINK_MALFORMED)]
    inner = h.fragments(P.MSG_REQ_STATUS, 24, {P.K_DATA: bytes(300)}, 128)
    h.send_fragmented(inner[0][0], inner[0][1], inner[0][2], 64)
    assert h.events() == [EV_LINK_FAULT] and _errors(h.recv()) == [(0, LINK_MALFORMED)]
    # the session is as it was: every credit free, the MAC in step, nothing held
    assert s.state == S_READY and s.mac_on and h.mac.bad == 0 and s.bad_mac == 0
    _clean(h)
    h.send_fragmented(P.MSG_REQ_UDS, 30, {P.K_CHANNEL: 1, P.K_DATA: PDU}, 128)
    assert h.events() == [EV_REQUEST] and s.body()[P.K_DATA] == PDU


def test_one_fragmented_request_at_a_time():
    """A long body stays where it was reassembled until the gateway takes
    it (slots are max_frame bytes): a second long request before that is
    ERROR LINK_NO_CREDIT to its id; short ones go on meanwhile."""
    from diagbridge.codes import LINK_NO_CREDIT
    h = _keyed(256)
    s = h.s
    wire = b""
    for ref in (1, 2):
        for f in h.fragments(P.MSG_REQ_UDS, ref, {P.K_CHANNEL: 1, P.K_DATA: PDU[:1500 + ref]},
                             256):
            wire += h.mac.frame(f)
    wire += h.mac.frame([P.MSG_REQ_STATUS, 3, {}])
    s.feed_bytes(h.now, wire, len(wire))        # all in one read, before any poll()
    assert _errors(h.recv()) == [(2, LINK_NO_CREDIT)]
    assert s.poll() == EV_REQUEST and s.req_id == 1 and s.body()[P.K_DATA] == PDU[:1501]
    assert s.poll() == EV_LINK_FAULT and s.result == LINK_NO_CREDIT
    assert s.poll() == EV_REQUEST and s.req_id == 3 and s.poll() == 0
    h.send_fragmented(P.MSG_REQ_UDS, 2, {P.K_CHANNEL: 1, P.K_DATA: PDU[:1502]}, 256)
    assert h.events() == [EV_REQUEST] and s.body()[P.K_DATA] == PDU[:1502]


def test_an_oversize_request_gets_error_link_oversize_with_its_id():
    h = _open(256, max_frame=512)
    s = h.s
    # longer than the agreed 256 but inside the gateway's buffer
    h.feed(frame([P.MSG_REQ_UDS, 41, {P.K_CHANNEL: 1, P.K_DATA: bytes(300)}]))
    assert h.events() == [EV_LINK_FAULT] and s.result == LINK_OVERSIZE
    assert _errors(h.recv()) == [(41, LINK_OVERSIZE)]
    # longer than the gateway's buffer: the head it kept names the request
    h.feed(frame([P.MSG_REQ_UDS, 42, {P.K_CHANNEL: 1, P.K_DATA: bytes(3000)}]))
    assert h.events() == [EV_LINK_FAULT] and _errors(h.recv()) == [(42, LINK_OVERSIZE)]
    # no readable head: counted and reported to no request
    faults = s.faults
    h.feed(b"\x00" + b"\x01" * 2000 + b"\x00")
    assert h.events() == [EV_LINK_FAULT] and s.faults == faults + 1
    assert _errors(h.recv()) == [(0, LINK_OVERSIZE)]
    assert s.state == S_READY
    _clean(h)
    # keyed: a frame too long to check is noise to the MAC, its head unchecked
    h = _keyed(256, max_frame=512)
    h.feed(frame([P.MSG_REQ_UDS, 43, {P.K_CHANNEL: 1, P.K_DATA: bytes(3000)}]))
    assert _errors(h.recv()) == [(0, LINK_OVERSIZE)] and h.s.state == S_READY
    h.send(P.MSG_REQ_UDS, 44, {P.K_CHANNEL: 1, P.K_DATA: bytes(300)})   # signed, too long
    assert _errors(h.recv()) == [(44, LINK_OVERSIZE)] and h.s.bad_mac == 0
    assert h.events() == [EV_LINK_FAULT, EV_LINK_FAULT]
    _clean(h)


def test_an_answer_the_host_cannot_take_is_error_link_oversize():
    h = Host(make_session(keys=(), open_role=P.ROLE_FULL))
    h.hello(extra={P.K_MAX_FRAME: 256, P.K_MAX_MESSAGE: 1000})
    h.events()
    h.send(P.MSG_REQ_UDS, 5, {P.K_CHANNEL: 1, P.K_DATA: b"\x22\xf1\x90"})
    h.send(P.MSG_REQ_STATUS, 6, {})
    assert h.events() == [EV_REQUEST, EV_REQUEST]
    assert h.s.respond(h.now, 5, OK, PDU, 2000)
    assert h.s.respond_obj(h.now, 6, {P.K_RESULT: OK, P.K_DATA: bytes(995)})
    assert _errors(h.recv()) == [(5, LINK_OVERSIZE), (6, LINK_OVERSIZE)]
    assert not h.s.carries(4095) and h.s.carries(900)
    _clean(h)


def test_a_keyed_host_is_challenged_inside_the_open_role():
    keys = ((P.ROLE_FULL, KEY_FULL),)
    # a host without a key: the open grant, no MAC
    h = Host(make_session(keys=keys, open_role=P.ROLE_FULL))
    msgs = h.hello()
    assert [m[0] for m in msgs] == [P.MSG_HELLO_ACK, P.MSG_AUTH_OK] and not h.s.mac_on
    assert msgs[0][2][P.K_AUTH] is False
    # a host with a key: challenged, proves it, and the session is signed
    h = Host(make_session(keys=keys, open_role=P.ROLE_FULL))
    msgs = h.login(extra={P.K_KEYED: True})
    assert [m[0] for m in msgs] == [P.MSG_HELLO_ACK, P.MSG_CHALLENGE, P.MSG_AUTH_OK]
    assert msgs[0][2][P.K_AUTH] is True and P.K_MAC in msgs[2][2] and h.s.mac_on
    # ... also for a lower role the full key covers
    h = Host(make_session(keys=keys, open_role=P.ROLE_FULL))
    msgs = h.login(role=P.ROLE_MONITOR, extra={P.K_KEYED: True})
    assert msgs[1][0] == P.MSG_CHALLENGE and h.s.role == P.ROLE_MONITOR and h.s.mac_on
    # no key for the role on the gateway: the open grant (the host decides)
    h = Host(make_session(keys=((P.ROLE_MONITOR, KEY_MON),), open_role=P.ROLE_FULL))
    msgs = h.hello(extra={P.K_KEYED: True})
    assert [m[0] for m in msgs] == [P.MSG_HELLO_ACK, P.MSG_AUTH_OK] and not h.s.mac_on
    # KEYED must be true itself: anything else is "no key"
    h = Host(make_session(keys=keys, open_role=P.ROLE_FULL))
    assert [m[0] for m in h.hello(extra={P.K_KEYED: 1})] == [P.MSG_HELLO_ACK, P.MSG_AUTH_OK]


def test_reassembly_allocates_nothing():
    h = _open(128)
    s = h.s
    # a body that fits a slot (copied there) and a longer one (left in place)
    parts = [frame(p) for p in h.fragments(P.MSG_REQ_UDS, 9, {P.K_CHANNEL: 1,
                                                             P.K_DATA: PDU[:1000]}, 128)]
    parts += [frame(p) for p in h.fragments(P.MSG_REQ_UDS, 10, {P.K_CHANNEL: 1,
                                                               P.K_DATA: PDU[:3000]}, 128)]
    st = [0, 0]

    def run():
        for f in parts:
            s.feed_bytes(h.now, f, len(f))
        while s.poll() == EV_REQUEST:
            st[0] += 1
            st[1] += s.req_end - s.req_start

    run_locked(run)
    assert st[0] == 2 and st[1] > 4000


def test_a_long_answer_leaves_in_fragments_without_allocation():
    h = _open(128)
    s = h.s
    h.send(P.MSG_REQ_UDS, 11, {P.K_CHANNEL: 1, P.K_DATA: b"\x35"})
    assert h.events() == [EV_REQUEST]
    answer = bytearray(PDU)
    out = bytearray(100)
    wire = bytearray(8000)
    st = [0]
    io = (answer, out, wire)

    def run():
        answer, out, wire = io
        s.respond(h.now, 11, OK, answer, len(answer))
        while True:
            n = s.pop_bytes(out)
            if n == 0:
                break
            for j in range(n):
                wire[st[0] + j] = out[j]
            st[0] += n

    run_locked(run)
    sizes = _frames(bytes(wire[:st[0]]))
    assert len(sizes) > 30 and max(sizes) <= 128
    d = Deframer(200)
    got = []
    i = 0
    while i < st[0]:
        i = d.feed_bytes(0, wire, st[0], i)
        if d.poll() == EV_FRAME:
            m = h.asm.take(Reader(d.payload, 0, d.length).read_obj())
            if m is not None:
                got.append(m)
    assert got == [[P.MSG_RESPONSE, 11, {P.K_RESULT: OK, P.K_DATA: bytes(PDU)}]]


def test_drop_reports_and_long_events_fit_a_tiny_frame():
    """With 64-byte frames an EV_DROPPED naming 14 kinds is split into
    reports that each fit (counts exact, sequence numbers unbroken), and a
    long event crosses in fragments."""
    h = Host(make_session(event_queue=1, event_queue_bytes=4096))
    msgs = h.login(credits=0, extra={P.K_MAX_FRAME: 64})
    assert msgs[-1][0] == P.MSG_AUTH_OK
    s = h.s
    kinds = [k for k in range(P.MSG_EV_FIRST, P.MSG_EV_LAST + 1) if k != P.MSG_EV_DROPPED]
    assert s.post_event(h.now, P.MSG_EV_STATE, {P.K_DATA: bytes(300)})     # queued, long
    for k in kinds:
        assert not s.post_event(h.now, k, {P.K_STATE: 1})                 # queue full
    h.send(P.MSG_CREDIT, 0, {P.K_CREDITS: 10})
    got = h.recv()
    assert got[0][0] == P.MSG_EV_STATE and got[0][2][P.K_DATA] == bytes(300)
    reports = [m for m in got[1:] if m[0] == P.MSG_EV_DROPPED]
    assert len(reports) == 2 and len(got) == 3
    counts = {}
    for m in reports:
        for k in m[2][P.K_COUNTS]:
            counts[k] = counts.get(k, 0) + m[2][P.K_COUNTS][k]
    assert counts == dict((k, 1) for k in kinds)
    assert [m[1] for m in got] == [0, 1, 2]             # seq: nothing lost on the wire
    assert max(_frames(bytes(h.wire))) <= 64 + P.TAG_LEN and h.mac.bad == 0


def test_the_sizes_are_validated_with_the_field_named():
    from diagbridge.errors import ConfigError
    from diagbridge.link.config import LinkConfig
    from support import raises
    assert LinkConfig().max_message == P.message_size(4095) == 4095 + P.MESSAGE_OVERHEAD
    for kw, field in (({"max_frame": 63}, "max_frame"), ({"max_frame": 65536}, "max_frame"),
                      ({"max_message": 1000}, "max_message"),       # below max_frame 1024
                      ({"max_message": 65536}, "max_message"), ({"max_message": "4k"},
                                                                "max_message")):
        try:
            LinkConfig(**kw)
            assert False, kw
        except ConfigError as e:
            assert str(e) == field
    assert raises(ConfigError, lambda: LinkConfig(max_frame=64, max_message=63))
