# SecurityAccess 0x27 (§10.4, Annex I; the state chart itself is missing from
# the source: ISO 14229-1:2020 Annex I as reconstructed in uds-digest §6).
from diagbridge.uds.server.nvm import MemNvm
from diagbridge.uds.server.security_access import (compute_key, SecurityAccess, _NEXT, NVM_KEY)
from diagbridge.uds.server.profile import Profile
from diagbridge.uds.server.core import EV_SECURITY
from diagbridge.uds.codec.session import build_request_seed, build_send_key, parse_security_response
from test_uds_server import Ecu, make_profile, unlock, hexstr


def _wait(e, us):
    """Advance while keeping the session alive with functional 3E 80."""
    while us > 0:
        step = min(us, 1000000)
        e.advance(step)
        e.req("3E 80", functional=True)
        us -= step


def _key_for(e, level, seed_hex):
    cfg = e.prof.security_levels[level]
    seed = bytes.fromhex(seed_hex)
    key = bytearray(len(seed))
    compute_key(cfg.algorithm, seed, len(seed), cfg.secret, key)
    return hexstr(key)


def test_v14_not_in_default_session():
    e = Ecu()
    assert e.one("27 01") == "7F 27 7F"


def test_v15_v16_v17_unlock_and_zero_seed():
    e = Ecu()
    e.one("10 03")
    assert e.one("27 01") == "67 01 36 57"
    assert e.one("27 02 C9 A9") == "67 02"
    assert e.srv.level == 1 and EV_SECURITY in e.events
    assert e.one("27 01") == "67 01 00 00"
    assert e.one("27 02 C9 A9") == "7F 27 24"             # the zero seed expects no key


def test_v18_key_without_seed():
    e = Ecu()
    e.one("10 03")
    assert e.one("27 02 C9 A9") == "7F 27 24"


def test_v19_invalid_key_needs_a_new_seed():
    e = Ecu()
    e.one("10 03")
    e.one("27 01")
    assert e.one("27 02 00 00") == "7F 27 35"
    assert e.one("27 02 C9 A9") == "7F 27 24"
    assert e.one("27 01") == "67 01 36 57"
    assert e.one("27 02 C9 A9") == "67 02"


def test_v20_exceeded_attempts_and_exact_delay():
    e = Ecu()
    e.one("10 03")
    for _ in range(2):
        e.one("27 01")
        assert e.one("27 02 00 00") == "7F 27 35"
    e.one("27 01")
    assert e.one("27 02 00 00") == "7F 27 36"             # third wrong key: limit 3
    assert e.one("27 01") == "7F 27 37"
    _wait(e, 9999999)
    assert e.one("27 01") == "7F 27 37"
    _wait(e, 1)
    assert e.one("27 01") == "67 01 36 57"
    # Att_Cnt stays at the limit: one more wrong key restarts the delay
    assert e.one("27 02 00 01") == "7F 27 36"
    e.advance(10000000)
    e.one("10 03")
    e.one("27 01")
    assert e.one("27 02 C9 A9") == "67 02"
    assert e.srv.security.att[1] == 0


def test_delay_is_per_level():
    e = Ecu()
    e.one("10 02")
    for _ in range(3):
        e.one("27 03")
        e.one("27 04 00 00 00 00")
    assert e.one("27 03") == "7F 27 37"
    assert e.one("27 01") == "67 01 36 57"                # level 1 is not delayed


def test_v21_session_change_relocks():
    e = Ecu()
    unlock(e)
    assert e.one("10 03") == "50 03 00 32 01 F4"
    assert e.one("27 01") == "67 01 36 57"


def test_key_of_wrong_length_is_13():
    e = Ecu()
    e.one("10 03")
    e.one("27 01")
    assert e.one("27 02 C9 A9 00") == "7F 27 13"
    assert e.one("27 02 C9 A9") == "67 02"                # the seed is still valid


def test_request_seed_with_unsupported_record_is_13():
    e = Ecu()
    e.one("10 03")
    assert e.one("27 01 00") == "7F 27 13"
    assert e.one("27 05") == "7F 27 12"
    assert e.one("27 06 00 00") == "7F 27 12"


def test_only_one_level_active():
    e = Ecu()
    e.one("10 02")
    seed = e.one("27 03")[6:]
    assert seed != "00 00 00 00"
    assert e.one("27 04 " + _key_for(e, 3, seed)) == "67 04"
    assert e.srv.level == 3
    seed1 = e.one("27 01")[6:]
    assert seed1 == "36 57" and e.srv.level == 3         # 3 stays until 01's key succeeds
    assert e.one("27 02 C9 A9") == "67 02"
    assert e.srv.level == 1
    assert e.one("27 03")[6:] != "00 00 00 00"            # 3 is no longer unlocked


def test_repeated_request_seed_gives_a_new_seed():
    e = Ecu()
    e.one("10 02")
    s1 = e.one("27 03")[6:]
    s2 = e.one("27 03")[6:]
    assert s1 != s2
    assert e.one("27 04 " + _key_for(e, 3, s1)) == "7F 27 35"    # the old seed is void
    s3 = e.one("27 03")[6:]
    assert e.one("27 04 " + _key_for(e, 3, s3)) == "67 04"


def test_sprmib_on_security_access():
    e = Ecu()
    e.one("10 03")
    assert e.one("27 81") is None
    assert e.one("27 82 C9 A9") is None and e.srv.level == 1


# ---- persistence across power cycles (§10.4.1) ------------------------------------
def test_delay_after_power_up_when_the_last_attempt_failed():
    nvm = MemNvm()
    e = Ecu(nvm=nvm)
    e.one("10 03")
    e.one("27 01")
    assert e.one("27 02 00 00") == "7F 27 35"
    e2 = Ecu(nvm=nvm.power_cycle())                      # power cycle
    assert e2.srv.security.att[1] == 1
    e2.one("10 03")
    assert e2.one("27 01") == "7F 27 37"
    e2.advance(10000000)                                  # power_up_delay_ms = delay_ms
    e2.one("10 03")
    assert e2.one("27 01") == "67 01 36 57"
    assert e2.one("27 02 00 00") == "7F 27 35"            # Att_Cnt 2 of 3
    e2.one("27 01")
    assert e2.one("27 02 00 00") == "7F 27 36"
    e3 = Ecu(nvm=nvm.power_cycle())
    e3.one("10 03")
    assert e3.one("27 01") == "7F 27 37"


def test_success_clears_the_power_up_indication():
    nvm = MemNvm()
    e = Ecu(nvm=nvm)
    e.one("10 03")
    e.one("27 01")
    e.one("27 02 00 00")
    e.one("27 01")
    assert e.one("27 02 C9 A9") == "67 02"
    e2 = Ecu(nvm=nvm.power_cycle())
    e2.one("10 03")
    assert e2.one("27 01") == "67 01 36 57"


def test_ecu_reset_applies_the_power_up_rule():
    nvm = MemNvm()
    e = Ecu(nvm=nvm)
    e.one("10 03")
    e.one("27 01")
    e.one("27 02 00 00")
    e.one("11 01")
    e.srv.reset(e.now, 1)
    e.one("10 03")
    assert e.one("27 01") == "7F 27 37"


def test_delay_always_at_power_up_option():
    p = make_profile()
    p["security"]["delay_always_at_power_up"] = True
    e = Ecu(p)
    e.one("10 03")
    assert e.one("27 01") == "7F 27 37"


def test_nvm_write_failure_does_not_break_the_exchange():
    nvm = MemNvm()
    e = Ecu(nvm=nvm)
    nvm.fail_writes = True
    e.one("10 03")
    e.one("27 01")
    assert e.one("27 02 00 00") == "7F 27 35"
    assert nvm.get(NVM_KEY) is None


# ---- algorithms -----------------------------------------------------------------
def test_default_algorithm_is_the_documented_formula():
    seed = bytes((0x12, 0x34, 0x56, 0x78))
    secret = b"prog"
    want = bytearray(4)
    for i in range(4):
        x = seed[i] ^ secret[i % 4]
        x = ((x << 3) | (x >> 5)) & 0xFF
        want[i] = (x + seed[(i + 1) % 4]) & 0xFF
    out = bytearray(4)
    assert compute_key("diagbridge1", seed, 4, secret, out)
    assert out == want and hexstr(out) == "47 88 41 0A"


def test_twos_complement_and_xor_and_callable():
    out = bytearray(4)
    compute_key("twos_complement", b"\x36\x57", 2, b"x", out)
    assert out[:2] == b"\xc9\xa9"
    compute_key("twos_complement", b"\x00\x01", 2, b"x", out)
    assert out[:2] == b"\xff\xff"
    compute_key("xor", b"\x0f\xf0", 2, b"\xff", out)
    assert out[:2] == b"\xf0\x0f"
    assert not compute_key("nope", b"\x00", 1, b"x", out)

    def plus_one(seed, n, secret, o):
        for i in range(n):
            o[i] = (seed[i] + 1) & 0xFF
    p = make_profile()
    p["security"]["levels"][1]["algorithm"] = plus_one
    e = Ecu(p)
    e.one("10 03")
    assert e.one("27 01") == "67 01 36 57"
    assert e.one("27 02 37 58") == "67 02"


def test_generated_seeds_are_never_zero_and_unlock_with_the_computed_key():
    # level 03 has no fixed_seed: its seeds come from the seed generator
    # (seed_source.py); each one is new, non-zero, and only its own key works
    e = Ecu()
    e.one("10 02")
    seen = set()
    for _ in range(50):
        seed = e.one("27 03")[6:]
        assert len(seed) == 11 and seed != "00 00 00 00" and seed not in seen
        seen.add(seed)
    assert e.one("27 04 " + _key_for(e, 3, seed)) == "67 04"
    assert e.srv.level == 3


def test_every_state_input_pair():
    prof = Profile(make_profile())
    for state in range(len(_NEXT)):
        for inp in range(len(_NEXT[state])):
            sa = SecurityAccess(prof.security_levels, MemNvm())
            sa.power_up(0)
            sa.state = state
            sa._wait = 1 if state else 0
            sa._step(0, inp, 1)                           # never raises
            assert sa.state in (0, 1)


def test_client_codecs_against_the_server():
    e = Ecu()
    e.one("10 03")
    out = bytearray(16)
    n = build_request_seed(out, 1)
    e.srv.feed_pdu(e.now, out, n, False)
    n = e.srv.pop_pdu(out)
    sf, seed = parse_security_response(out, n)
    assert sf == 1 and seed == b"\x36\x57"
    key = bytearray(2)
    compute_key("twos_complement", seed, 2, b"", key)
    n = build_send_key(out, 1, key)
    e.srv.feed_pdu(e.now, out, n, False)
    n = e.srv.pop_pdu(out)
    assert parse_security_response(out, n) == (2, b"")
