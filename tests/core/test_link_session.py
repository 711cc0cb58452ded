# The gateway-side link session, driven with bytes and virtual time only.
from diagbridge.clock import ticks_add, ticks_diff
from diagbridge.codes import (LINK_VERSION, LINK_AUTH_FAILED, LINK_REFUSED, LINK_NO_CREDIT,
                              LINK_UNEXPECTED, LINK_UNSUPPORTED, LINK_MALFORMED, LINK_TIMEOUT,
                              LINK_BYE, LINK_BAD_CRC, LINK_BAD_MAC, OK)
from diagbridge.link import proto as P
from diagbridge.link.session import (EV_LINK_UP, EV_LINK_LOST, EV_REQUEST, EV_LINK_FAULT,
                                     S_WAIT_HELLO, S_WAIT_AUTH, S_READY, S_CLOSED)
from link_support import (Host, make_session, frame, frame_msg, T0, KEY_FULL, KEY_DIAG, KEY_MON,
                            HOST_NONCE)


def _errors(msgs):
    return [(m[1], m[2][P.K_CODE]) for m in msgs if m[0] == P.MSG_ERROR]


def test_handshake_with_a_key():
    h = Host(make_session(name=b"bench-pi", buses=((0, P.BUS_CAN, 500000, 0),)))
    msgs = h.login()
    ack, chal, ok = msgs
    assert ack[0] == P.MSG_HELLO_ACK and ack[2][P.K_VERSION] == P.LINK_PROTOCOL_VERSION
    assert ack[2][P.K_NAME] == "bench-pi" and ack[2][P.K_BUSES] == [[0, P.BUS_CAN, 500000, 0]]
    assert ack[2][P.K_ROLES] == [1, 2, 3] and ack[2][P.K_AUTH] is True
    assert chal[0] == P.MSG_CHALLENGE and len(chal[2][P.K_NONCE]) == P.NONCE_LEN
    assert ok[0] == P.MSG_AUTH_OK and ok[2][P.K_ROLE] == P.ROLE_FULL and ok[2][P.K_CREDITS] == 4
    # the gateway proves it knows the key too
    assert ok[2][P.K_MAC] == h.auth(KEY_FULL, P.ROLE_FULL, chal[2][P.K_NONCE], who=b"G")
    assert h.events() == [EV_LINK_UP] and h.s.state == S_READY and h.s.role == P.ROLE_FULL


def test_open_role_without_a_key():
    h = Host(make_session(keys=(), open_role=P.ROLE_MONITOR))
    msgs = h.hello(P.ROLE_MONITOR)
    assert [m[0] for m in msgs] == [P.MSG_HELLO_ACK, P.MSG_AUTH_OK]
    assert msgs[0][2][P.K_AUTH] is False and P.K_MAC not in msgs[1][2]
    assert h.s.role == P.ROLE_MONITOR
    h2 = Host(make_session(keys=(), open_role=P.ROLE_MONITOR))
    assert _errors(h2.hello(P.ROLE_DIAGNOSTIC)) == [(0, LINK_REFUSED)]
    assert h2.s.state == S_WAIT_HELLO and h2.s.refused == 1


def test_wrong_key_is_refused():
    h = Host(make_session())
    msgs = h.login(key=KEY_MON, role=P.ROLE_FULL)
    assert _errors(msgs) == [(0, LINK_AUTH_FAILED)]
    assert h.s.state == S_WAIT_HELLO and h.s.role == P.ROLE_NONE and h.s.auth_failures == 1
    assert h.events() == [EV_LINK_FAULT] and h.s.result == LINK_AUTH_FAILED
    h.send(P.MSG_REQ_STATUS, 1, {})                 # still not authenticated
    assert _errors(h.recv()) == [(1, LINK_REFUSED)]


def test_a_key_grants_its_role_and_every_lower_one():
    h = Host(make_session())
    assert h.login(key=KEY_FULL, role=P.ROLE_MONITOR)[-1][2][P.K_ROLE] == P.ROLE_MONITOR
    h = Host(make_session())
    assert _errors(h.login(key=KEY_DIAG, role=P.ROLE_FULL)) == [(0, LINK_AUTH_FAILED)]
    h = Host(make_session(keys=((P.ROLE_DIAGNOSTIC, KEY_DIAG),)))
    assert _errors(h.hello(P.ROLE_FULL)) == [(0, LINK_REFUSED)]     # no key for FULL at all


def test_replayed_answer_fails():
    h = Host(make_session())
    msgs = h.hello()
    mac = h.auth(KEY_FULL, P.ROLE_FULL, msgs[1][2][P.K_NONCE])
    h.send(P.MSG_AUTH, 0, {P.K_MAC: mac})
    assert h.recv()[0][0] == P.MSG_AUTH_OK
    h.send(P.MSG_AUTH, 0, {P.K_MAC: mac})           # again on the live link
    assert _errors(h.recv()) == [(0, LINK_UNEXPECTED)]
    msgs = h.hello()                                # a new handshake: a new nonce
    assert msgs[1][2][P.K_NONCE] != msgs[0] and h.s.state == S_WAIT_AUTH
    h.send(P.MSG_AUTH, 0, {P.K_MAC: mac})           # the captured answer
    assert _errors(h.recv()) == [(0, LINK_AUTH_FAILED)] and h.s.state == S_WAIT_HELLO
    h.send(P.MSG_AUTH, 0, {P.K_MAC: mac})           # the nonce is gone
    assert _errors(h.recv()) == [(0, LINK_UNEXPECTED)]


def test_version_mismatch_is_answered_with_our_version():
    h = Host(make_session())
    msgs = h.hello(version=P.LINK_PROTOCOL_VERSION + 1)
    assert msgs[0][0] == P.MSG_HELLO_ACK and msgs[0][2][P.K_VERSION] == P.LINK_PROTOCOL_VERSION
    assert _errors(msgs) == [(0, LINK_VERSION)]
    assert h.s.state == S_WAIT_HELLO and h.s.result == LINK_VERSION


def _requests():
    return ((P.MSG_REQ_STATUS, {}), (P.MSG_REQ_CAN_LISTEN, {P.K_BUS: 0}),
            (P.MSG_REQ_UDS, {P.K_DATA: b"\x22\xf1\x90"}), (P.MSG_REQ_KWP, {P.K_DATA: b"\x1a\x90"}),
            (P.MSG_REQ_KEEPALIVE, {}), (P.MSG_REQ_CHANNEL, {}), (P.MSG_REQ_KLINE_INIT, {}),
            (P.MSG_REQ_UDS, {P.K_DATA: b"\x2e\xf1\x90\x00"}), (P.MSG_REQ_UDS, {P.K_DATA: b"\x27\x01"}),
            (P.MSG_REQ_UDS, {P.K_DATA: b"\x10\x02"}), (P.MSG_REQ_UDS, {}),
            (P.MSG_REQ_CAN_SEND, {P.K_DATA: b"\x01"}), (P.MSG_REQ_KLINE_SEND, {}),
            (P.MSG_REQ_FLASH, {}), (P.MSG_REQ_ECU_SIM, {}), (P.MSG_REQ_ROUTE, {}))


def _need(kind, body):
    d = body.get(P.K_DATA, b"")
    return P.required_role(kind, d[0] if d else -1, d[1] if len(d) > 1 else -1)


def test_role_policy_matrix_and_the_router_never_sees_a_refused_request():
    keys = {P.ROLE_MONITOR: KEY_MON, P.ROLE_DIAGNOSTIC: KEY_DIAG, P.ROLE_FULL: KEY_FULL}
    for role in (P.ROLE_MONITOR, P.ROLE_DIAGNOSTIC, P.ROLE_FULL):
        h = Host(make_session())
        h.login(keys[role], role)
        h.events()
        rid = 0
        for kind, body in _requests():
            rid += 1
            h.send(kind, rid, body)
            seen = h.events()                       # what the router gets
            answer = h.recv()
            if role >= _need(kind, body):
                assert seen == [EV_REQUEST] and answer == [], (role, kind, body)
                h.s.poll()
                assert h.s.respond(h.now, rid, 0)
                assert h.recv() == [[P.MSG_RESPONSE, rid, {P.K_RESULT: 0}]]
            else:
                assert seen == [], (role, kind, body)
                assert _errors(answer) == [(rid, LINK_REFUSED)], (role, kind, body)
        allowed = [k for k, b in _requests() if role >= _need(k, b)]
        assert len(allowed) == {1: 2, 2: 7, 3: 16}[role]
    # nobody, even fully authorised, gets an unknown request kind through
    h.send(0x3F, 99, {})
    assert h.events() == [] and _errors(h.recv()) == [(99, LINK_UNSUPPORTED)]


def test_request_reaches_the_router_with_its_body():
    h = Host(make_session())
    h.login()
    h.events()
    h.send(P.MSG_REQ_UDS, 77, {P.K_BUS: 1, P.K_DATA: b"\x22\xf1\x90"})
    assert h.s.poll() == EV_REQUEST
    assert (h.s.req_id, h.s.req_kind) == (77, P.MSG_REQ_UDS)
    assert h.s.body() == {P.K_BUS: 1, P.K_DATA: b"\x22\xf1\x90"}
    r = h.s.body_reader()
    assert r.seek_key(P.K_DATA, r.read_map()) and r.read_bin() == 3
    assert h.s.respond(h.now, 77, 0, b"\x62\xf1\x90VIN", 6)
    assert not h.s.respond(h.now, 77, 0)           # answered already
    assert h.recv() == [[P.MSG_RESPONSE, 77, {P.K_RESULT: 0, P.K_DATA: b"\x62\xf1\x90VIN"}]]


def test_request_credits_ids_and_errors():
    h = Host(make_session(request_credits=2))
    h.login()
    h.events()
    h.send(P.MSG_REQ_STATUS, 1, {})
    h.send(P.MSG_REQ_STATUS, 1, {})                 # same id while outstanding
    h.send(P.MSG_REQ_STATUS, 2, {})
    h.send(P.MSG_REQ_STATUS, 3, {})                 # over the grant
    assert _errors(h.recv()) == [(1, LINK_UNEXPECTED), (3, LINK_NO_CREDIT)]
    assert h.events() == [EV_REQUEST, EV_REQUEST]
    assert h.s.error(h.now, 1, LINK_UNSUPPORTED, b"no such bus")
    h.send(P.MSG_REQ_STATUS, 3, {})                 # the credit came back
    assert h.events() == [EV_REQUEST]
    assert h.s.respond_obj(h.now, 3, {P.K_RESULT: 0, P.K_STATE: [1, 2]})
    assert h.recv() == [[P.MSG_ERROR, 1, {P.K_CODE: LINK_UNSUPPORTED, P.K_TEXT: "no such bus"}],
                        [P.MSG_RESPONSE, 3, {P.K_RESULT: 0, P.K_STATE: [1, 2]}]]


def _run_until(h, end_us, log):
    """Run the session's timers in virtual time up to T0 + end_us, logging
    (us since T0, what) for heartbeats sent and events."""
    s = h.s
    while True:
        d = s.deadline()
        if d is None or ticks_diff(d, ticks_add(T0, end_us)) > 0:
            return
        h.now = d
        s.on_timer(d)
        for m in h.recv():
            log.append((ticks_diff(d, T0), m[0]))
        for ev in h.events():
            log.append((ticks_diff(d, T0), -ev))


def test_heartbeats_and_link_lost_exactly_in_virtual_time():
    h = Host(make_session(heartbeat_ms=1000, link_timeout_ms=3000))
    h.login()
    h.recv()
    h.events()
    log = []
    _run_until(h, 2500000, log)
    h.now = ticks_add(T0, 2500000)
    h.send(P.MSG_HEARTBEAT, 0, {})                  # the host is alive at 2.5 s
    _run_until(h, 10000000, log)                    # crosses the tick wrap at 2 s
    beats = [t for t, k in log if k == P.MSG_HEARTBEAT]
    assert beats == [1000000, 2000000, 3000000, 4000000, 5000000]
    assert [(t, k) for t, k in log if k < 0] == [(5500000, -EV_LINK_LOST)]
    assert h.s.result == LINK_TIMEOUT and h.s.state == S_WAIT_HELLO and h.s.deadline() is None


def test_bye_and_restart_end_the_link():
    h = Host(make_session())
    h.login()
    h.events()
    h.send(P.MSG_BYE, 0, {})
    assert h.events() == [EV_LINK_LOST] and h.s.result == LINK_BYE
    h.login()
    h.events()
    h.hello()                                       # a new, unsigned HELLO on a keyed link:
    assert h.events() == [EV_LINK_LOST, EV_LINK_FAULT] and h.s.result == LINK_BAD_MAC
    assert h.s.state == S_WAIT_AUTH and h.s.bad_mac == 1    # ... ends it, then is taken
    o = Host(make_session(keys=(), open_role=P.ROLE_FULL))
    assert o.hello()[-1][0] == P.MSG_AUTH_OK and o.events() == [EV_LINK_UP]
    o.hello()                                       # open role: no MAC, a plain restart
    assert o.events() == [EV_LINK_LOST, EV_LINK_UP] and o.s.result == OK
    assert o.s.state == S_READY and o.s.bad_mac == 0


def test_close_says_bye_and_open_listens_again():
    h = Host(make_session())
    h.login()
    h.s.close(h.now)
    assert h.recv()[-1][0] == P.MSG_BYE and h.s.state == S_CLOSED
    h.hello()
    assert h.recv() == [] and h.s.state == S_CLOSED
    h.s.open(h.now)
    assert h.s.state == S_WAIT_HELLO and h.login()[-1][0] == P.MSG_AUTH_OK


def test_malformed_messages_and_garbage_are_counted_and_the_link_goes_on():
    h = Host(make_session())
    h.login()
    h.events()
    bad = h.mac.signed(b"not an array")             # signed: the MAC passes, msgpack not
    h.feed(frame_msg(bad, len(bad)))
    f = bytearray(frame([P.MSG_REQ_STATUS, 5, {}]))  # a bad CRC: not a frame, no seq used
    f[4] ^= 0x40
    junk = b"\x13\x37" * 50 + bytes(f) + b"\xff\xfe\x00\x01"
    h.s.feed_bytes(h.now, junk, len(junk))
    h.send(P.MSG_REQ_STATUS, 6, {})
    evs = h.events()
    assert evs == [EV_LINK_FAULT] * h.s.faults + [EV_REQUEST] and h.s.faults >= 3
    assert h.s.req_id == 6
    assert _errors(h.recv()) == [(0, LINK_MALFORMED)]
    assert h.s.state == S_READY


def test_key_never_crosses_the_link():
    h = Host(make_session())
    h.login()
    sent = frame([P.MSG_AUTH, 0, {}])               # host side: only MACs
    for key in (KEY_FULL, KEY_DIAG, KEY_MON):
        assert bytes(h.wire).find(key) < 0 and sent.find(key) < 0
    assert bytes(h.wire).find(HOST_NONCE) < 0       # not echoed either


# Every (state, input) pair: the state the session ends in.
def _in_state(st):
    h = Host(make_session())
    if st == S_WAIT_AUTH:
        h.hello()
    elif st == S_READY:
        h.login()
    elif st == S_CLOSED:
        h.s.close(h.now)
    h.recv()
    h.events()
    return h


def _apply(h, inp):
    s = h.s
    if inp == "hello":
        h.hello()
    elif inp == "auth":
        h.send(P.MSG_AUTH, 0, {P.K_MAC: bytes(32)})
    elif inp == "request":
        h.send(P.MSG_REQ_STATUS, 1, {})
    elif inp == "heartbeat":
        h.send(P.MSG_HEARTBEAT, 0, {})
    elif inp == "credit":
        h.send(P.MSG_CREDIT, 0, {P.K_CREDITS: 5})
    elif inp == "bye":
        h.send(P.MSG_BYE, 0, {})
    elif inp == "other":
        h.send(P.MSG_RESPONSE, 1, {})
    elif inp == "silent":
        s.on_timer(ticks_add(h.now, 60000000))
    elif inp == "beat":
        s.on_timer(ticks_add(h.now, 1000000))
    elif inp == "close":
        s.close(h.now)
    elif inp == "open":
        s.open(h.now)
    h.recv()
    h.events()


EXPECTED = {
    #          hello  auth   request heartbeat credit bye  other silent beat  close  open
    S_WAIT_HELLO: (1, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0),
    S_WAIT_AUTH: (1, 0, 1, 1, 1, 0, 1, 0, 1, 3, 1),
    S_READY: (1, 2, 2, 2, 2, 0, 2, 0, 2, 3, 2),
    S_CLOSED: (3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0),
}
INPUTS = ("hello", "auth", "request", "heartbeat", "credit", "bye", "other", "silent", "beat",
          "close", "open")


def test_every_state_and_input():
    for st in (S_WAIT_HELLO, S_WAIT_AUTH, S_READY, S_CLOSED):
        for j in range(len(INPUTS)):
            h = _in_state(st)
            _apply(h, INPUTS[j])
            assert h.s.state == EXPECTED[st][j], (st, INPUTS[j], h.s.state)
