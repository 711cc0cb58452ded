# The link's steady state allocates nothing: events out, credits and
# heartbeats in, requests in and responses out, all under heap_lock in the
# MicroPython stage.  (The locked functions capture at most 5 variables:
# calling a MicroPython closure with more copies them to the heap.)
# The session here is an open-role one: a keyed session adds the frame MAC,
# whose hash objects MicroPython's hashlib allocates per frame (it has no
# copy()); test_link_mac.py proves that this is all a keyed session adds.
from diagbridge.clock import ticks_add
from diagbridge.link import proto as P
from diagbridge.link.cobs import Deframer, EV_FRAME
from diagbridge.link.session import EV_REQUEST
from link_support import Host, make_session, frame
from support import run_locked


def _ready():
    h = Host(make_session(event_queue=32, heartbeat_ms=100, link_timeout_ms=1000, keys=(),
                          open_role=P.ROLE_FULL))
    assert h.hello(credits=1000)[-1][0] == P.MSG_AUTH_OK and not h.s.mac_on
    h.recv()
    h.events()
    return h


def test_can_events_credits_and_heartbeats_without_allocation():
    h = _ready()
    s = h.s
    credit = frame([P.MSG_CREDIT, 0, {P.K_CREDITS: 40}])
    beat = frame([P.MSG_HEARTBEAT, 0, {}])
    data = bytearray(b"\x10\x14\x62\xf1\x90\x57\x56\x57")
    out = bytearray(256)
    d = Deframer(256)
    st = [0, 0, 0, h.now]       # frames seen by the host, bytes, can ids summed, now
    io = (credit, beat, data, out, d)

    def run():
        credit, beat, data, out, d = io
        now = st[3]
        for k in range(200):
            data[7] = k & 0xFF
            s.post_can_rx(now, now, 0, 0x18DAF110, P.CAN_EXT, data, 8)
            if k % 40 == 39:
                s.feed_bytes(now, credit, len(credit))
                s.feed_bytes(now, beat, len(beat))
            now = ticks_add(now, 700)
            s.on_timer(now)
            while True:
                n = s.pop_bytes(out)
                if n == 0:
                    break
                st[1] += n
                i = 0
                while i < n:
                    i = d.feed_bytes(now, out, n, i)
                    if d.poll() == EV_FRAME:
                        st[0] += 1
            while s.poll():
                pass
        st[3] = now

    run()                       # warm-up (first-use caches)
    st[0] = 0
    run_locked(run)
    # 200 events + one heartbeat each 100 ms (140 ms of virtual time)
    assert st[0] == 200 + 1 and s.dropped[0] == 0 and d.bad_crc == 0


def test_requests_and_responses_without_allocation():
    h = _ready()
    s = h.s
    req = frame([P.MSG_REQ_UDS, 7, {P.K_BUS: 0, P.K_DATA: b"\x22\xf1\x90"}])
    rsp = bytearray(b"\x62\xf1\x90WVWZZZ1JZXW000001")
    out = bytearray(512)
    st = [0, 0, 0]
    io = (req, rsp, out, h.now)

    def run():
        req, rsp, out, now = io
        for _ in range(50):
            s.feed_bytes(now, req, len(req))
            ev = s.poll()
            if ev == EV_REQUEST:
                r = s.body_reader()
                if r.seek_key(P.K_DATA, r.read_map()) and r.read_bin() == 3:
                    st[0] += s.req_buf[r.start]
                s.respond(now, s.req_id, 0, rsp, len(rsp))
            st[1] += s.pop_bytes(out)
            st[2] += s.poll()
    run()
    st[0] = st[1] = 0
    run_locked(run)
    assert st[0] == 50 * 0x22 and st[1] > 50 * len(rsp) and st[2] == 0
