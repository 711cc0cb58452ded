"""UDS (ISO 14229-1) under fuzzing: arbitrary request PDUs to an ECU with the
engine profile (every SID with random tails, physical and functional, after
an unlocked session or not), and arbitrary response bytes into the tester's
decoders (uds/client api.decode and every uds/codec parser).  Properties in
tools/fuzz_uds.py."""
import random

from hypothesis import given, strategies as st

import fuzz_uds as F

sid = st.one_of(st.sampled_from(F.ENGINE_SIDS), st.integers(0, 255))
random_pdu = st.builds(lambda s, spr, tail: bytes((s,)) + (bytes((tail[0] | 0x80,)) + tail[1:]
                                                         if spr and tail else tail),
                       sid, st.booleans(), st.one_of(st.binary(max_size=40), st.builds(
                           lambda n, seed: random.Random(seed).randbytes(n),
                           st.integers(0, 4094), st.integers(0, 2**32))))
# a well-formed request of the engine profile, mutated (bytes changed, cut,
# extended, SPRMIB flipped)
mutated_pdu = st.builds(F._mutate, st.randoms(use_true_random=False), st.sampled_from(F.CORPUS))
request = st.tuples(st.one_of(random_pdu, mutated_pdu), st.booleans(),
                    st.sampled_from((0, 1000, 6_000_000)))


@given(st.sampled_from(F.PREFIXES), st.lists(request, min_size=1, max_size=6))
def test_every_request_gets_one_well_formed_answer_or_none_when_suppressed(prefix, reqs):
    """Exactly one final response per request, positive (SID + 0x40) or
    `7F SID NRC` with a known NRC after any `7F SID 78`; none only for a
    suppressed positive response, a functional request or an OBD-II
    request for nothing the ECU supports (ISO 15031-5); a functional request
    never gets 11/12/31/7E/7F; the server never raises."""
    assert F.check_uds_server((prefix, reqs))


def test_the_server_target_reaches_positive_and_negative_answers():
    """Not vacuous: after the extended-session unlock, a VIN read is positive,
    an unknown SID is 7F xx 11, a short 0x22 is 7F 22 13."""
    srv = F._engine_server()
    out = bytearray(4095)
    now = F._prefix_requests(srv, F.T0, out, "extended")
    answers = []
    for pdu in (b"\x22\xf1\x90", b"\xba", b"\x22\xf1"):
        srv.feed_pdu(now, pdu, len(pdu), False)
        got, now = F._pump(srv, now, out, 1_000_000)
        answers.append(got[-1][:3])
    assert answers == [b"\x62\xf1\x90", b"\x7f\xba\x11", b"\x7f\x22\x13"], answers
    assert srv.level == 1
    assert F.check_uds_server(("extended", [(b"\x22\xf1\x90", False, 0), (b"\xba", True, 0)]))


@st.composite
def response(draw):
    s = draw(st.sampled_from(F.DECODE_SIDS))
    req = bytes((s,)) + draw(st.binary(max_size=6))
    data = bytearray(draw(st.binary(max_size=60)))
    if data and draw(st.booleans()):
        data[0] = (s + 0x40) & 0xFF
        if len(data) > 1 and len(req) > 1 and draw(st.booleans()):
            data[1] = req[1]                # the echoed sub-function / DID high byte
    if s == 0x22 and draw(st.booleans()):   # DIDs the registry knows, in a fitting layout
        dids = draw(st.lists(st.sampled_from(F.ENGINE_DIDS), min_size=1, max_size=3))
        req = b"\x22" + b"".join(d.to_bytes(2, "big") for d in dids)
        data = bytearray(b"\x62")
        for d in dids:
            data += d.to_bytes(2, "big") + draw(st.binary(max_size=20))
    n = draw(st.integers(0, len(data)))
    return (req, bytes(data), n, draw(st.booleans()))


@given(response())
def test_response_decoders_return_a_value_or_none_and_never_read_past_n(inp):
    """api.decode() and every codec parser: a value or None (the caller's
    A_MALFORMED_RESPONSE), never an exception, and the bytes after n do not
    change the answer."""
    assert F.check_uds_decode(inp)


def test_a_vin_that_is_not_ascii_decodes_to_its_bytes():
    """22 F1 90 answered with seventeen 0xFF bytes, decoded with the engine
    profile's registry: the bytes as they came (as_ascii gives str only for
    ASCII), never an exception."""
    from diagbridge.uds.client import api
    inp = (b"\x22\xf1\x90", b"\x62\xf1\x90" + b"\xff" * 17, 20, True)
    assert api.decode(inp[0], inp[1], inp[2], F._registry()) == {0xF190: b"\xff" * 17}


def test_decode_answers_none_for_layouts_that_do_not_fit():
    """Known answers: a short DSC response is None, a full one the timing."""
    from diagbridge.uds.client import api
    assert api.decode(b"\x10\x03", b"\x50\x03\x00", 3) is None
    assert api.decode(b"\x10\x03", b"\x50\x03\x00\x32\x01\xf4", 6) == (3, 50, 5000)
    assert F.check_uds_decode((b"\x10\x03", b"\x50\x03\x00\x32\x01\xf4", 6, False))
