"""The gateway's request bodies under fuzzing: a host logged in with the
diagnostic role sends, for every request kind, bodies built from valid ones
with values of the wrong type, keys added, removed or present twice, bytes
turned into str, nesting past the decoder's limit and huge ints, through the
simulated vehicle's host link.  Properties in tools/fuzz_gateway.py
(check_gateway_bodies); the vehicle is shared by the examples."""
import msgpack
from hypothesis import given, strategies as st

import fuzz_gateway as F
from diagbridge import codes as C
from diagbridge.link import proto as P

junk = st.one_of(
    st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1), st.binary(max_size=70),
    st.text(max_size=10), st.lists(st.integers(0, 0x7FF), max_size=4),
    st.dictionaries(st.integers(0, 70), st.integers(-1, 0x10000), max_size=3),
    st.integers(14, 40).map(F._nest), st.sampled_from((2**64 - 1, -2**63, b"", "1", 1.5)))
odd_key = st.one_of(st.sampled_from(F.BODY_KEYS), st.integers(-1, 300),
                    st.sampled_from(("data", b"\x02", True, 2**64 - 1)))


@st.composite
def body(draw, kind):
    pairs = list(draw(st.sampled_from(F._templates(kind))))
    for how in draw(st.lists(st.integers(0, 6), max_size=3)):
        if how == 0 and pairs:
            i = draw(st.integers(0, len(pairs) - 1))
            k = pairs[i][0]
            pairs[i] = (k, draw(st.sampled_from(F.UDS_PDUS) if k == P.K_DATA else junk))
        elif how == 1 and pairs:
            del pairs[draw(st.integers(0, len(pairs) - 1))]
        elif how == 2:
            pairs.append((draw(odd_key), draw(junk)))
        elif how == 3 and pairs:            # a key twice
            k = draw(st.sampled_from(pairs))[0]
            pairs.append((k, draw(st.sampled_from(F.UDS_PDUS) if k == P.K_DATA else junk)))
        elif how == 4:
            pairs = [(P.K_CHANNEL, 1), (P.K_DATA, draw(st.sampled_from(F.UDS_PDUS)))]
        elif how == 5 and pairs:            # bytes vs str
            i = draw(st.integers(0, len(pairs) - 1))
            if isinstance(pairs[i][1], bytes):
                pairs[i] = (pairs[i][0], pairs[i][1].decode("latin-1"))
        elif how == 6:                      # a map inside with a key twice
            k = draw(st.sampled_from(("stmin_us", "block_size", "p2_client_ms", 1)))
            inner = [(k, draw(junk)), (k, draw(junk))]
            pairs.append((draw(st.sampled_from((P.K_TP, P.K_UDS, P.K_FLASH, P.K_TESTER))),
                          ("dupmap", inner)))
    return pairs


request = st.one_of(st.sampled_from(F.REQ_KINDS), st.just(P.MSG_REQ_UDS)).flatmap(
    lambda kind: st.tuples(st.just(kind), body(kind)))


@given(request)
def test_any_body_is_refused_with_a_link_code_or_executed_within_the_role(inp):
    """Every request is answered; a refusal is ERROR with a LINK_* code and
    sends no frame; a key twice is LINK_MALFORMED; an executed UDS request
    is one the diagnostic role may send; no handler fault."""
    assert F.check_gateway_bodies(inp)


def _ask(pairs, kind=P.MSG_REQ_UDS):
    v, h, rec = F._gateway()
    before = len(rec.records)
    h._rid += 1
    msg = b"\x93" + msgpack.packb(kind) + msgpack.packb(h._rid) + F._pack_pairs(pairs)
    h.v.link.feed(F._signed(h, F._frame(msg)))
    rid = h._rid
    m = h.take(lambda m: m[1] == rid and m[0] in (P.MSG_RESPONSE, P.MSG_ERROR), 10_000_000)
    return m, [r for r in rec.records[before:] if r[4] == "gateway"]


def test_the_role_check_cannot_be_bypassed_with_a_key_twice():
    """Issue 16 item 1, as the host library would send it: K_DATA first a
    read (22 F1 90), then an ECUReset (11 01).  Refused as LINK_MALFORMED,
    nothing on the bus, the ECU not reset; the same read alone is executed."""
    v, h, rec = F._gateway()
    resets = v.ecu("engine").srv.reset_kind
    m, sent = _ask([(P.K_CHANNEL, 1), (P.K_DATA, b"\x22\xf1\x90"), (P.K_DATA, b"\x11\x01")])
    assert m[0] == P.MSG_ERROR and m[2][P.K_CODE] == C.LINK_MALFORMED, m
    assert sent == [] and v.ecu("engine").srv.reset_kind == resets
    m, sent = _ask([(P.K_CHANNEL, 1), (P.K_DATA, b"\x22\xf1\x90")])
    assert m[0] == P.MSG_RESPONSE and m[2][P.K_DATA][:3] == b"\x62\xf1\x90", m
    assert sent
    assert F.check_gateway_bodies((P.MSG_REQ_UDS, [(P.K_CHANNEL, 1), (P.K_DATA, b"\x11\x01")]))


def test_a_service_above_the_role_and_a_too_deep_body_never_reach_the_bus():
    """ECUReset from the diagnostic role: LINK_REFUSED; a body nested past the
    decoder's limit: refused with a LINK_* code; no frame for either."""
    m, sent = _ask([(P.K_CHANNEL, 1), (P.K_DATA, b"\x11\x01")])
    assert m[0] == P.MSG_ERROR and m[2][P.K_CODE] == C.LINK_REFUSED and sent == [], m
    m, sent = _ask([(P.K_CHANNEL, 1), (P.K_DATA, b"\x22\xf1\x90"), (P.K_UDS, F._nest(30))])
    assert m[0] == P.MSG_ERROR and m[2][P.K_CODE] in F.LINK_CODES and sent == [], m
