"""K-Line under fuzzing: the simulated wire (sim/kline.py) fed arbitrary
byte writes, low pulses and baud changes on three ports; the data-link frame
decoder (kline/frame.py, SSF 14230-2 section 4) against an oracle written
from the standard; the ECU-role link machine (kline/ecu.py) on the wire, fed
wake-up patterns, StartCommunication and requests, mutated, and junk.
Properties in tools/fuzz_kline.py."""
import pytest
from hypothesis import given, strategies as st

import fuzz_kline as F
from diagbridge.errors import UsageError

port = st.integers(0, 2)
op = st.one_of(
    st.tuples(st.just("w"), port, st.binary(min_size=1, max_size=20)),
    st.tuples(st.just("low"), port, st.one_of(st.sampled_from((1, 25000, 50000, 200000)),
                                             st.integers(1, 10**6))),
    st.tuples(st.just("baud"), port, st.one_of(st.sampled_from((10400, 9600, 5, 115200)),
                                              st.integers(1, 10**6))),
    st.tuples(st.just("run"), st.sampled_from((0, 1, 961, 962, 5000, 100000, 2_500_000))))


@given(st.lists(op, min_size=1, max_size=30))
def test_the_wire_delivers_every_byte_once_with_truthful_flags(ops):
    """Every byte reaches every port once, in its sender's order, no earlier
    than one byte time after it was written; unflagged bytes are exact,
    collided ones a wired-AND, bytes held low 0x00; FRAMING is added for a
    receiver at another baud; the line ends high."""
    assert F.check_kline_wire(ops)


def test_the_wire_target_sees_clean_collided_and_broken_bytes():
    """Not vacuous: one clean byte, two overlapping ones, one under a pulse."""
    from diagbridge.sim.kernel import Kernel
    from diagbridge.sim.kline import KLine, KL_OK, KL_COLLISION, KL_BREAK
    k = Kernel(F.T0)
    line = KLine(k)
    a, b = line.attach("a"), line.attach("b")
    got = []
    b.on_byte = lambda now, v, f: got.append((v, f))
    a.write(0x81)
    k.run_for(2000)
    a.write(0xF0)
    b.write(0x0F)
    k.run_for(2000)
    a.drive_low(25000)
    a.write(0x55)
    k.run_until_idle(10**6)
    assert got[0] == (0x81, KL_OK)
    assert got[1][1] & KL_COLLISION and got[1][0] & ~0xF0 == 0
    assert got[3] == (0, got[3][1]) and got[3][1] & KL_BREAK
    assert F.check_kline_wire([("w", 0, b"\x81"), ("run", 2000), ("w", 0, b"\xf0"),
                               ("w", 1, b"\x0f"), ("low", 0, 25000), ("w", 0, b"\x55")])


@given(st.one_of(st.integers(-10, -1), st.integers(256, 10**6)), st.integers(-5, 0))
def test_bad_bytes_bauds_and_durations_are_usage_errors(byte, bad):
    """A caller's mistake raises UsageError and puts nothing on the wire."""
    from diagbridge.sim.kernel import Kernel
    from diagbridge.sim.kline import KLine
    k = Kernel(F.T0)
    line = KLine(k)
    p = line.attach("a")
    seen = []
    p.on_byte = lambda now, v, f: seen.append(v)
    with pytest.raises(UsageError):
        p.write(byte)
    with pytest.raises(UsageError):
        p.write_bytes([1, 2, byte])          # checked whole: 1 and 2 are not sent
    with pytest.raises(UsageError):
        p.set_baud(bad)
    with pytest.raises(UsageError):
        p.drive_low(bad)
    k.run_until_idle(10**6)
    assert seen == [] and line.level == 1 and p.baud == 10400


@st.composite
def kline_frame(draw):
    if draw(st.integers(0, 3)) == 0:
        return draw(st.binary(max_size=270))
    data = draw(st.binary(min_size=1, max_size=255))
    fmt = draw(st.sampled_from((0x80, 0xC0)))
    tgt, src = draw(st.integers(0, 255)), draw(st.integers(0, 255))
    if len(data) <= 63 and draw(st.booleans()):
        raw = bytearray((fmt | len(data), tgt, src)) + data
    else:
        raw = bytearray((fmt, tgt, src, len(data))) + data
    raw.append(sum(raw) & 0xFF)
    if draw(st.booleans()):
        raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
    return bytes(raw[:draw(st.integers(1, len(raw)))] if draw(st.booleans()) else raw)


@given(kline_frame(), st.booleans(), st.booleans())
def test_kline_frames_parse_as_the_standard_says_and_rebuild_identical(raw, fmt_len, len_byte):
    """parse(): OK / K_HEADER_ERROR / K_CHECKSUM_ERROR exactly as SSF 14230-2
    section 4 gives them (the key bytes may forbid a length form); a good
    frame rebuilt by build() is the same bytes."""
    assert F.check_kline_frame((raw, fmt_len, len_byte))


@given(st.builds(F.gen_kline_ecu, st.randoms(use_true_random=False)))
def test_the_kline_ecu_machine_turns_every_fault_into_a_result(inp):
    """Wake-up patterns (in and out of tolerance), StartCommunication,
    requests (mutated, cut, early) and junk on the wire: the ECU machine
    never raises, each event carries OK or a K_* code, everything goes idle."""
    assert F.check_kline_ecu(inp)


def test_the_kline_ecu_target_reaches_init_requests_and_stop():
    """Not vacuous: a fast init, a request answered, a StopCommunication."""
    from diagbridge.kline import EV_INIT, EV_REQUEST, EV_SENT
    seen = []
    assert F.check_kline_ecu((True, [
        ("low", 25000), ("run", 50000), ("w", F._sc()), ("run", 150000),
        ("w", F._request(b"\x21\x01")), ("run", 150000),
        ("w", F._request(b"\x82")), ("run", 150000)]), seen)
    evs = [e[1] for e in seen[0].events]
    assert evs.count(EV_INIT) == 1 and evs.count(EV_REQUEST) == 1 and EV_SENT in evs, evs
    assert not seen[0].m.initialised             # StopCommunication was granted
