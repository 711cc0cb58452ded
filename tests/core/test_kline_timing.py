# K-Line timing (SSF 14230-2 4.4, Tables 1a-1c): defaults, the ATP byte
# encodings, the restrictions between parameters, AccessTimingParameter checks.
from diagbridge.kline import timing as T
from diagbridge.kline.timing import (Timing, TimingLimits, p2max_from_byte, p2max_to_byte,
                                     half_ms_from_byte, half_ms_to_byte, p3max_from_byte,
                                     p3max_to_byte, byte_time_us, restrictions_ok)
from kline_support import hexs


def test_table_1a_defaults_and_p2_star():
    t = Timing()
    assert (t.p1max_us, t.p2min_us, t.p2max_us, t.p3min_us, t.p3max_us, t.p4min_us,
            t.p4max_us) == (20000, 25000, 50000, 55000, 5000000, 5000, 20000)
    assert t.p2s_max_us == 5000000 and not t.extended     # P2*max = P3max
    assert t.restrictions_ok()


def test_extended_set_and_back():
    t = Timing()
    t.set_defaults(True)
    assert t.extended and (t.p2min_us, t.p2max_us, t.p3min_us) == (0, 1000000, 0)
    t.set_defaults(False)
    assert (t.p2min_us, t.p2max_us, t.p3min_us) == (25000, 50000, 55000)


def test_v07_current_values_encode_as_32_02_6e_14_0a():
    out = bytearray(5)
    Timing().encode(out, 0)
    assert bytes(out) == hexs("32 02 6E 14 0A")


def test_table_1c_p2max_encoding_every_byte():
    assert p2max_from_byte(0x01) == 25000
    assert p2max_from_byte(0x02) == 50000
    assert p2max_from_byte(0xF0) == 6000000
    assert p2max_from_byte(0xFA) == 64000000          # the text's example
    big = [p2max_from_byte(b) // 1000 for b in range(0xF1, 0xFF)]
    assert big == [6400, 12800, 19200, 25600, 32000, 38400, 44800, 51200, 57600, 64000,
                   70400, 76800, 83200, 89600]
    assert p2max_from_byte(0xFF) is None               # infinite
    assert p2max_from_byte(0x00) == -1                 # not defined
    for b in range(1, 256):
        assert p2max_to_byte(p2max_from_byte(b)) == b
    assert p2max_to_byte(60000) == -1                  # not a 25 ms step
    assert p2max_to_byte(0) == -1


def test_half_ms_and_p3max_encodings():
    assert half_ms_from_byte(0x32) == 25000 and half_ms_to_byte(25000) == 0x32
    assert half_ms_to_byte(55000) == 0x6E and half_ms_to_byte(5000) == 0x0A
    assert half_ms_to_byte(110000) == 0xDC
    assert half_ms_to_byte(250) == -1 and half_ms_to_byte(128000) == -1
    assert p3max_from_byte(0x14) == 5000000 and p3max_to_byte(5000000) == 0x14
    assert p3max_from_byte(0xFE) == 63500000 and p3max_from_byte(0xFF) is None
    assert p3max_to_byte(None) == 0xFF and p3max_to_byte(100000) == -1


def test_restrictions_between_parameters():
    ok = (20000, 25000, 50000, 55000, 5000000, 5000, 20000)
    assert restrictions_ok(*ok)
    assert not restrictions_ok(20000, 25000, 55000, 55000, 5000000, 5000, 20000)  # P3min > P2max
    assert not restrictions_ok(20000, 25000, None, 55000, 5000000, 5000, 20000)   # P2max infinite
    assert not restrictions_ok(20000, 25000, 50000, 55000, 5000000, 20000, 20000)  # P4min < P4max
    assert not restrictions_ok(20000, 20000, 50000, 55000, 5000000, 5000, 20000)  # P2min > P4max
    assert not restrictions_ok(20000, 25000, 50000, 5000000, 5000000, 5000, 20000)  # P3min < P3max
    assert restrictions_ok(20000, 25000, 50000, 55000, None, 5000, 20000)          # P3max infinite


def test_v08_atp_set_values_accepted():
    t = Timing()
    rc = t.set_from_atp(hexs("32 04 DC 14 0A"), 0, 5, TimingLimits())
    assert rc == 0
    assert (t.p2min_us, t.p2max_us, t.p3min_us, t.p3max_us, t.p4min_us) == (
        25000, 100000, 110000, 5000000, 5000)
    out = bytearray(5)
    t.encode(out, 0)
    assert bytes(out) == hexs("32 04 DC 14 0A")


def test_atp_set_refused_with_the_standards_response_code_and_nothing_changes():
    lim = TimingLimits()
    t = Timing()
    # wrong number of values, undefined P2max byte: subFunctionNotSupported-invalidFormat
    assert t.set_from_atp(hexs("32 04 DC 14"), 0, 4, lim) == 0x12
    assert t.set_from_atp(hexs("32 00 DC 14 0A"), 0, 5, lim) == 0x12
    # P3min (50 ms) not above P2max (100 ms): requestOutOfRange
    assert t.set_from_atp(hexs("32 04 64 14 0A"), 0, 5, lim) == 0x31
    # P2min (10 ms) not above P4max / P1max (20 ms)
    assert t.set_from_atp(hexs("14 02 6E 14 0A"), 0, 5, lim) == 0x31
    # outside what this ECU supports
    narrow = TimingLimits(p2min_us=25000, p2max_us=50000, p3min_us=55000, p3max_us=5000000,
                          p4min_us=5000)
    assert t.set_from_atp(hexs("32 04 DC 14 0A"), 0, 5, narrow) == 0x31     # P2max 100 > 50
    assert t.set_from_atp(hexs("32 02 6E FF 0A"), 0, 5, narrow) == 0x31     # P3max infinite
    assert (t.p2min_us, t.p2max_us, t.p3min_us, t.p3max_us, t.p4min_us) == (
        25000, 50000, 55000, 5000000, 5000)
    assert t.set_from_atp(hexs("32 02 6E 14 0A"), 0, 5, narrow) == 0       # the defaults fit


def test_limits_widest_encode_as_00_ff_00_ff_00():
    out = bytearray(7)
    assert TimingLimits().encode(out, 2) == 7
    assert bytes(out[2:]) == hexs("00 FF 00 FF 00")
    assert TimingLimits().valid()
    assert not TimingLimits(p2min_us=250).valid()


def test_byte_time_and_init_constants():
    assert byte_time_us(10400) == 962 and byte_time_us(9600) == 1042
    assert (T.TINIL_US, T.TWUP_US, T.TIDLE_POWER_ON_US, T.TIDLE_STOP_US) == (
        25000, 50000, 300000, 55000)
    assert (T.W1_MIN_US, T.W1_MAX_US, T.W4_MIN_US, T.W4_MAX_US, T.W5_US) == (
        60000, 300000, 25000, 50000, 300000)


def test_table_1d_periodic_defaults_and_restrictions():
    t = Timing()
    t.set_periodic_defaults()
    assert t.periodic and (t.p2min_us, t.p2max_us, t.p3min_us, t.p3max_us, t.p4min_us) == (
        25000, 50000, 5000, 5000000, 5000)
    assert t.p3s_max_us == 23000 and t.restrictions_ok()        # P3* = [5, 23] ms
    # P3min <= P2min - 10 ms, P1max < P2min, P2min >= 7 ms
    assert T.periodic_restrictions_ok(20000, 25000, 50000, 15000, 5000000, 5000, 20000)
    assert not T.periodic_restrictions_ok(20000, 25000, 50000, 15500, 5000000, 5000, 20000)
    assert not T.periodic_restrictions_ok(20000, 20000, 50000, 5000, 5000000, 5000, 20000)
    assert not T.periodic_restrictions_ok(0, 6500, 50000, 0, 5000000, 0, 20000)
    assert t.set_from_atp(hexs("32 02 0A 14 0A"), 0, 5, TimingLimits()) == 0
    assert t.set_from_atp(hexs("32 02 28 14 0A"), 0, 5, TimingLimits()) == 0x31
    n = Timing()
    assert n.set_from_atp(hexs("32 02 0A 14 0A"), 0, 5, TimingLimits()) == 0x31   # normal mode
    t.set_defaults(False)
    assert not t.periodic and t.p3min_us == 55000
