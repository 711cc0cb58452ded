from diagbridge.clock import (TICKS_PERIOD, TICKS_MASK, TICKS_HALF, ticks_add,
                              ticks_diff, ticks_less, due, earliest)
from support import run_locked


def test_period_is_2_pow_29():
    assert TICKS_PERIOD == 1 << 29
    assert TICKS_MASK == TICKS_PERIOD - 1
    assert TICKS_HALF == TICKS_PERIOD // 2


def test_add_wraps():
    assert ticks_add(TICKS_MASK, 1) == 0
    assert ticks_add(TICKS_PERIOD - 10, 25) == 15
    assert ticks_add(5, -10) == TICKS_PERIOD - 5
    assert ticks_add(0, TICKS_PERIOD) == 0


def test_diff_across_the_wrap():
    before = TICKS_PERIOD - 100
    after = ticks_add(before, 250)
    assert after == 150
    assert ticks_diff(after, before) == 250
    assert ticks_diff(before, after) == -250


def test_diff_limits_are_half_a_period():
    t = 12345
    assert ticks_diff(ticks_add(t, TICKS_HALF - 1), t) == TICKS_HALF - 1
    # Exactly half a period apart is read as "before": the safe range ends there.
    assert ticks_diff(ticks_add(t, TICKS_HALF), t) == -TICKS_HALF


def test_less_and_due():
    a = TICKS_PERIOD - 1
    b = ticks_add(a, 2)
    assert ticks_less(a, b) and not ticks_less(b, a) and not ticks_less(a, a)
    assert due(b, a) and due(a, a) and not due(a, b)
    assert not due(a, None)


def test_earliest():
    a = TICKS_PERIOD - 5
    b = ticks_add(a, 10)
    assert earliest(a, b) == a and earliest(b, a) == a
    assert earliest(None, b) == b and earliest(a, None) == a
    assert earliest(None, None) is None


def test_every_offset_round_trips_across_the_wrap():
    base = TICKS_PERIOD - 1000
    for d in (-TICKS_HALF + 1, -1000, -1, 0, 1, 999, 1000, 1001, 5000000, TICKS_HALF - 1):
        assert ticks_diff(ticks_add(base, d), base) == d


def test_tick_arithmetic_does_not_allocate():
    out = [0]
    a = TICKS_PERIOD - 3

    def hot():
        b = ticks_add(a, 1000)
        out[0] = ticks_diff(b, a) + (1 if ticks_less(a, b) else 0)
    run_locked(hot)
    assert out[0] == 1001
