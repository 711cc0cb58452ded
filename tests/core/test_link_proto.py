# The one protocol definition: kinds and keys are unique and in their ranges,
# and the role policy matrix (each role x each kind, UDS/KWP by service).
from diagbridge.link import proto as P

ROLES = (P.ROLE_NONE, P.ROLE_MONITOR, P.ROLE_DIAGNOSTIC, P.ROLE_FULL)


def _names(prefix):
    return [n for n in dir(P) if n.startswith(prefix)]


def test_kinds_and_keys_are_unique_and_in_range():
    control = [getattr(P, n) for n in _names("MSG_")
               if not n.startswith(("MSG_REQ_", "MSG_EV_"))]
    reqs = [getattr(P, n) for n in _names("MSG_REQ_") if n not in ("MSG_REQ_FIRST", "MSG_REQ_LAST")]
    evs = [getattr(P, n) for n in _names("MSG_EV_") if n not in ("MSG_EV_FIRST", "MSG_EV_LAST")]
    for group in (control, reqs, evs):
        assert len(set(group)) == len(group)
    assert all(0 < k < P.MSG_REQ_FIRST for k in control)
    assert all(P.is_request(k) and P.is_known_request(k) for k in reqs)
    assert all(P.is_event(k) for k in evs)
    assert all(k < 0x80 for k in control + reqs + evs)      # one byte on the wire
    keys = [getattr(P, n) for n in _names("K_")]
    assert len(set(keys)) == len(keys) and all(0 <= k < 0x80 for k in keys)
    assert P.MSG_EV_LAST - P.MSG_EV_FIRST + 1 == P.N_EV_KINDS
    assert isinstance(P.LINK_PROTOCOL_VERSION, int)


def test_ts_us_wraps_with_the_gateway_clock():
    from diagbridge.clock import TICKS_PERIOD, ticks_add, ticks_diff
    assert P.TS_US_PERIOD == TICKS_PERIOD == 1 << 29
    t = ticks_add(P.TS_US_PERIOD - 1, 2)
    assert t == 1 and ticks_diff(t, P.TS_US_PERIOD - 1) == 2


# expected lowest role per request kind (UDS/KWP: see the service tests)
POLICY = (
    (P.MSG_REQ_STATUS, P.ROLE_MONITOR),
    (P.MSG_REQ_CAN_LISTEN, P.ROLE_MONITOR),
    (P.MSG_REQ_CAN_SEND, P.ROLE_FULL),
    (P.MSG_REQ_KEEPALIVE, P.ROLE_DIAGNOSTIC),
    (P.MSG_REQ_CHANNEL, P.ROLE_DIAGNOSTIC),
    (P.MSG_REQ_KLINE_INIT, P.ROLE_DIAGNOSTIC),
    (P.MSG_REQ_KLINE_SEND, P.ROLE_FULL),
    (P.MSG_REQ_FLASH, P.ROLE_FULL),
    (P.MSG_REQ_ECU_SIM, P.ROLE_FULL),
    (P.MSG_REQ_ROUTE, P.ROLE_FULL),
    (P.MSG_REQ_UDS, P.ROLE_FULL),           # no service given: the strictest
    (P.MSG_REQ_KWP, P.ROLE_FULL),
    (0x3F, P.ROLE_NEVER),                   # unknown request kind
)

UDS = (
    (0x22, -1, P.ROLE_DIAGNOSTIC), (0x19, 0x02, P.ROLE_DIAGNOSTIC), (0x3E, 0x80, P.ROLE_DIAGNOSTIC),
    (0x23, -1, P.ROLE_DIAGNOSTIC), (0x24, -1, P.ROLE_DIAGNOSTIC), (0x2A, -1, P.ROLE_DIAGNOSTIC),
    (0x10, 0x01, P.ROLE_DIAGNOSTIC), (0x10, 0x83, P.ROLE_DIAGNOSTIC), (0x10, 0x02, P.ROLE_FULL),
    (0x10, 0x82, P.ROLE_FULL), (0x10, 0x04, P.ROLE_FULL), (0x10, -1, P.ROLE_FULL),
    (0x2E, -1, P.ROLE_FULL), (0x27, 0x01, P.ROLE_FULL), (0x31, 0x01, P.ROLE_FULL),
    (0x34, -1, P.ROLE_FULL), (0x36, -1, P.ROLE_FULL), (0x37, -1, P.ROLE_FULL),
    (0x11, 0x01, P.ROLE_FULL), (0x14, -1, P.ROLE_FULL), (0x28, 0x03, P.ROLE_FULL),
    (0x2F, -1, P.ROLE_FULL), (0x3D, -1, P.ROLE_FULL), (0x85, 0x02, P.ROLE_FULL),
    (0x29, -1, P.ROLE_FULL), (0xBA, -1, P.ROLE_FULL),   # unknown service: strictest
)

KWP = (
    (0x1A, 0x90, P.ROLE_DIAGNOSTIC), (0x21, 0x01, P.ROLE_DIAGNOSTIC), (0x18, 0x00, P.ROLE_DIAGNOSTIC),
    (0x81, -1, P.ROLE_DIAGNOSTIC), (0x3E, 0x01, P.ROLE_DIAGNOSTIC), (0x10, 0x81, P.ROLE_DIAGNOSTIC),
    (0x10, 0x85, P.ROLE_FULL), (0x10, -1, P.ROLE_FULL), (0x3B, 0x90, P.ROLE_FULL),
    (0x27, 0x01, P.ROLE_FULL), (0x31, 0x01, P.ROLE_FULL), (0x14, 0xFF, P.ROLE_FULL),
    (0x30, -1, P.ROLE_FULL), (0x34, -1, P.ROLE_FULL),
)


def test_required_role_per_kind():
    for kind, role in POLICY:
        assert P.required_role(kind) == role, hex(kind)
    for kind in (P.MSG_HELLO, P.MSG_AUTH, P.MSG_HEARTBEAT, P.MSG_CREDIT, P.MSG_BYE):
        assert P.required_role(kind) == P.ROLE_NONE


def test_required_role_per_service():
    for sid, sub, role in UDS:
        assert P.required_role(P.MSG_REQ_UDS, sid, sub) == role, (hex(sid), sub)
    for sid, sub, role in KWP:
        assert P.required_role(P.MSG_REQ_KWP, sid, sub) == role, (hex(sid), sub)


def test_role_matrix_is_monotonic():
    # every role may do what the roles below it may; nobody does an unknown kind
    for kind, need in POLICY:
        allowed = [r for r in ROLES if r >= need]
        assert allowed == [r for r in ROLES if r >= P.required_role(kind)]
        if need == P.ROLE_NEVER:
            assert allowed == []
        else:
            assert P.ROLE_FULL in allowed and P.ROLE_NONE not in allowed
