"""CAN-TP (ISO 15765-2) under fuzzing: the channel mux fed arbitrary frames
(ids, lengths 0-64, flags; classical and FD; every addressing format), a
well-formed segmented message cut or reordered anywhere, and a round trip
of any payload 1..4095 through our own sender and receiver.  The properties
are in tools/fuzz_cantp.py (shared with the long runs of tools/fuzz)."""
import random

import pytest
from hypothesis import given, strategies as st

import fuzz_cantp as F
from diagbridge.can import FLAG_EXT, FLAG_FD, FLAG_BRS
from diagbridge.cantp import Channel, TpConfig, EV_RX_DONE
from diagbridge.errors import UsageError


@st.composite
def frame_op(draw):
    if draw(st.booleans()):
        can_id, ext = draw(st.sampled_from(F.IDS))
    else:
        ext = draw(st.booleans())
        can_id = draw(st.integers(0, 0x1FFFFFFF if ext else 0x7FF))
    flags = draw(st.sampled_from((0, FLAG_FD, FLAG_FD | FLAG_BRS, FLAG_BRS)))
    wrong_format = draw(st.integers(0, 19)) == 0       # an 11-bit id flagged 29-bit, or back
    flags |= FLAG_EXT if ext != wrong_format else 0
    n = draw(st.one_of(st.integers(0, 8), st.sampled_from((12, 16, 20, 24, 32, 48, 64)),
                       st.integers(0, 64)))
    data = bytearray(draw(st.binary(min_size=n, max_size=n)))
    if n and draw(st.booleans()):           # a plausible N_PCI, after an address byte or not
        k = draw(st.integers(0, min(1, n - 1)))
        if k:
            data[0] = draw(st.sampled_from((0x12, 0xF1, 0x42, 0xFE, 0x11, 0x13)))
        data[k] = draw(st.sampled_from((0x00, 0x10, 0x20, 0x30))) | draw(st.integers(0, 15))
    return ("f", can_id, flags, bytes(data))


ops = st.lists(st.one_of(
    frame_op(), frame_op(), frame_op(),
    st.tuples(st.just("t"), st.sampled_from((0, 1, 999, 1000, 1001, 50000, 1000000, 2000000))),
    st.tuples(st.just("p"), st.booleans()),
    st.tuples(st.just("r"), st.integers(0, len(F.FORMATS) - 1),
              st.sampled_from((1, 7, 8, 62, 63, 100, 4000)))), min_size=1, max_size=40)


@given(st.integers(0, len(F.FRAME_CFGS) - 1), ops)
def test_arbitrary_frames_are_ignored_or_give_a_result_code(cfg_i, script):
    """Never raises; each event carries a known N_* code; frames for another
    address give no event; a valid single frame to an idle channel is
    indicated with exactly its payload (classical SF_DL and the FD escape)."""
    assert F.check_cantp_frames((cfg_i, script))


def sized(lo, hi):
    """Bytes of any length lo..hi (the length drawn first, so long payloads are
    as likely as short ones; the content from a drawn seed)."""
    return st.builds(lambda n, seed: random.Random(seed).randbytes(n), st.integers(lo, hi),
                     st.integers(0, 2**32))


payload = st.one_of(st.binary(min_size=1, max_size=70), sized(1, 4095), st.just(bytes(4095)))


@given(st.integers(0, len(F.FORMATS) - 1), st.booleans(), st.sampled_from((0, 1, 2, 8, 255)),
       st.sampled_from(F.STMINS), st.sampled_from(F.PADS), st.booleans(), payload)
def test_any_payload_round_trips_identical(fmt_i, fd, bs, stmin, pad, fdx, msg):
    """Sender -> receiver in virtual time: RX_DONE once with the same bytes,
    TX_DONE at the sender, every frame within the configured TX_DL."""
    assert F.check_cantp_roundtrip((fmt_i, fd, bs, stmin, pad, fdx, msg))


@given(st.integers(0, len(F.FORMATS) - 1), st.booleans(), st.sampled_from((0, 1, 2, 4, 8)),
       st.sampled_from(F.MUTATIONS), st.integers(0, 40), st.integers(1, 40),
       st.one_of(st.binary(min_size=8, max_size=120), sized(8, 1200)))
def test_a_cut_or_reordered_message_never_delivers_a_wrong_payload(fmt_i, fd, bs, how, k, d,
                                                                    msg):
    """One frame of the sender's stream dropped, duplicated, moved d places
    later (d not a multiple of 16: the 4-bit SN cannot see that), the stream
    cut after frame k, or one flow control dropped: the receiver ends with
    N_OK and the exact payload, or with N_WRONG_SN / N_UNEXP_PDU /
    N_TIMEOUT_CR; a message that lost or reordered a frame is not delivered."""
    assert F.check_cantp_segmented((fmt_i, fd, bs, how, k, d, msg))


def test_the_segmented_target_sees_each_outcome():
    """The mutations reach every receiver outcome the property allows (the
    property is not vacuous): delivered, wrong SN, timeout, unexpected PDU."""
    from diagbridge import codes as C
    seen = set()
    msg = bytes(range(200))
    cases = [("none", 0, 1), ("drop", 2, 1), ("cut", 5, 1), ("swap", 1, 1), ("dup", 0, 1),
             ("dup", 3, 1)]
    for how, k, d in cases:
        link = F._link_pair(F.FORMATS[0], F._roundtrip_cfg(False, 0, 0, 0xCC, False))
        held = []

        def flt(side, idx, frm, how=how, k=k, d=d):
            if side == 1:
                return [frm]
            if how == "drop" and idx == k or how == "cut" and idx >= k:
                return []
            if how == "dup" and idx == k:
                return [frm, frm]
            if how == "swap" and idx == k:
                held.append(frm)
                return []
            if how == "swap" and idx == k + d:
                return [frm] + held
            return [frm]
        link.filter = flt
        link.request(0, msg)
        link.run(limit_us=600_000_000)
        for e in link.evs:
            if e[1] == 1 and e[2] == EV_RX_DONE:
                assert e[5] == msg
                seen.add(C.N_OK)
            elif e[1] == 1 and e[2] != 0x13:
                seen.add(e[3])
        assert F.check_cantp_segmented((0, False, 0, how, k, d, msg))
    assert {C.N_OK, C.N_WRONG_SN, C.N_TIMEOUT_CR, C.N_UNEXP_PDU} <= seen, seen


@given(st.integers(-3, 0x40000000 + 3), st.sampled_from((None, 2, 7, -1)))
def test_a_bad_request_is_a_usage_error(n, bad_ta):
    """The application's mistakes on the sending side raise UsageError (n
    outside 1..len(data), an unknown ta_type) and nothing is sent."""
    a, _ = F.address_pair(F.FORMATS[0])
    ch = Channel(TpConfig(), a)
    data = bytes(100)
    if bad_ta is None and 1 <= n <= 100:
        ch.request(0, data, n)
        assert ch.pop_frame(bytearray(64)) == 8
        return
    with pytest.raises(UsageError):
        ch.request(0, data, n, 0 if bad_ta is None else bad_ta)
    assert ch.pop_frame(bytearray(64)) == 0
