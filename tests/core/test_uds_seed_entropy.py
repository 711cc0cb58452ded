# SecurityAccess seeds never repeat across power-ups (uds/server/seed_source.py):
# the seed generator is seeded at every construction from the platform's
# entropy and a boot counter stored in the NVM before the first seed, so a key
# sniffed once is useless after the next power cycle.  What happens when the
# counter cannot be stored, or the entropy source misbehaves, is asserted here.
import hashlib

from diagbridge.errors import ConfigError
from diagbridge.uds.server.nvm import MemNvm
from diagbridge.uds.server.profile import Profile
from diagbridge.uds.server.core import UdsServer
from diagbridge.uds.server.security_access import SecurityAccess
from diagbridge.uds.server.seed_source import Sha256, SeedSource, BOOT_KEY, MAX_SEED
from diagbridge.uds.seedkey import compute_key
from support import raises, run_locked
from test_uds_server import make_profile, hexstr, MY_SPECS, T0

_OUT = bytearray(256)


class Entropy:
    """A fixed entropy source: the same 32 bytes at every power-up (tests
    that need determinism), counting its calls."""

    def __init__(self, fill):
        self.fill = fill
        self.calls = 0

    def __call__(self, n):
        self.calls += 1
        return bytes((self.fill + i) & 0xFF for i in range(n))


class BrokenNvm(MemNvm):
    """An NVM whose boot counter cannot be read (a flash read error)."""

    def get(self, key):
        if key == BOOT_KEY:
            raise OSError(5)
        return MemNvm.get(self, key)


def _profile(seed_len=4):
    p = make_profile()
    # level 03: generated seeds (no fixed_seed), programming session
    p["security"]["levels"][3]["seed_len"] = seed_len
    return p


def power_up(nvm, urandom=None, sha256=None, profile=None):
    srv = UdsServer(Profile(profile if profile is not None else _profile()), nvm=nvm,
                    specs=MY_SPECS, urandom=urandom, sha256=sha256)
    srv.power_up(T0)
    return srv


def ask(srv, hexs):
    req = bytes.fromhex(hexs)
    srv.feed_pdu(T0, req, len(req), False)
    while srv.poll():
        pass
    n = srv.pop_pdu(_OUT)
    return hexstr(_OUT, n) if n else None


def first_seed(srv, level=3):
    assert ask(srv, "10 02") is not None
    r = ask(srv, "27 %02X" % level)
    assert r.startswith("67 %02X" % level), r
    return r[6:]


def key_for(srv, level, seed_hex):
    cfg = srv.profile.security_levels[level]
    key = bytearray(cfg.key_len)
    compute_key(cfg.algorithm, bytes.fromhex(seed_hex), cfg.seed_len, cfg.secret, key)
    return hexstr(key)


# ---- the hash -------------------------------------------------------------------
def test_portable_sha256_gives_the_fips_180_vectors():
    h = Sha256()
    out = bytearray(32)
    for msg, want in (
            (b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            (b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
             "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")):
        h.digest_into(msg, len(msg), out)
        assert hexstr(out).replace(" ", "").lower() == want


def test_portable_sha256_matches_hashlib_at_every_padding_length():
    h = Sha256()
    out = bytearray(32)
    msg = bytes((i * 37 + 11) & 0xFF for i in range(130))
    for n in range(130):                # 0..129 bytes: one, two and three blocks
        h.digest_into(msg, n, out)
        assert bytes(out) == hashlib.sha256(msg[:n]).digest(), n


def test_injected_hashlib_and_the_portable_hash_give_the_same_seeds():
    a = SeedSource(MemNvm(), Entropy(7), None, 0x5EED)
    b = SeedSource(MemNvm(), Entropy(7), hashlib.sha256, 0x5EED)
    x = bytearray(MAX_SEED)
    y = bytearray(MAX_SEED)
    for n in (1, 4, 32, 33, 64):
        a.generate(x, n)
        b.generate(y, n)
        assert x[:n] == y[:n]


# ---- seeds across power-ups ----------------------------------------------------
def test_two_power_ups_over_one_nvm_give_different_first_seeds_without_entropy():
    # pure simulation: no entropy source, the persisted counter alone
    # (one server at a time: a power cycle ends the previous one)
    nvm = MemNvm()
    srv = power_up(nvm)
    s1 = first_seed(srv)
    k1 = key_for(srv, 3, s1)
    assert ask(srv, "27 04 " + k1) == "67 04"
    srv = power_up(nvm.power_cycle())
    s2 = first_seed(srv)
    assert s2 != s1
    assert ask(srv, "27 04 " + k1) == "7F 27 35"       # the sniffed key is worthless
    s3 = ask(srv, "27 03")[6:]                          # a new seed after 0x35 ...
    assert ask(srv, "27 04 " + key_for(srv, 3, s3)) == "67 04"     # ... and its own key
    srv = power_up(nvm.power_cycle())
    assert first_seed(srv) not in (s1, s2)


def test_the_same_nvm_state_and_entropy_give_the_same_seeds():
    # determinism for simulations: a fixed entropy callable and an NVM in the
    # same state reproduce the seeds exactly; another entropy value does not
    s1 = first_seed(power_up(MemNvm(), Entropy(1)))
    assert first_seed(power_up(MemNvm(), Entropy(1))) == s1
    assert first_seed(power_up(MemNvm(), Entropy(2))) != s1
    assert first_seed(power_up(MemNvm())) != s1        # no entropy at all


def test_entropy_alone_separates_power_ups_with_the_same_counter():
    # two ECUs (or two NVM images) at the same boot count differ by entropy
    a = power_up(MemNvm(), Entropy(0x10))
    b = power_up(MemNvm(), Entropy(0x20))
    assert a.security.boot_count == b.security.boot_count == 1
    assert first_seed(a) != first_seed(b)


def test_prng_seed_is_only_extra_mixing_input():
    p = _profile()
    p["security"]["prng_seed"] = 0x1234
    q = _profile()
    q["security"]["prng_seed"] = 0x4321
    assert first_seed(power_up(MemNvm(), profile=p)) != first_seed(power_up(MemNvm(), profile=q))
    # and the same prng_seed still changes with every power-up
    nvm = MemNvm()
    s1 = first_seed(power_up(nvm, profile=p))
    assert first_seed(power_up(nvm.power_cycle(), profile=p)) != s1


def test_1000_seeds_have_no_repeats_and_none_is_all_zero():
    # the SecurityAccess machine alone (the server's 0x27 handler calls it)
    sa = SecurityAccess(Profile(_profile(8)).security_levels, MemNvm())
    sa.power_up(T0)
    # each seed's first 7 bytes as one small int: distinct prefixes mean
    # distinct seeds, and the list is one allocation on a small heap
    seen = [-1] * 1000
    for i in range(1000):
        assert sa.request_seed(T0, 3, _OUT, 0) == 8
        nz = 0
        v = 0
        for k in range(8):
            nz |= _OUT[k]
            if k < 7:
                v = (v << 8) | _OUT[k]
        assert nz != 0                                  # never all zero
        assert v not in seen                            # never a repeat
        seen[i] = v


def test_a_seed_request_allocates_nothing():
    # with the portable hash, where a 32-bit word is a small int (CPython,
    # 64-bit MicroPython ports); on a 32-bit port (a board, the WebAssembly
    # one) the words are long ints: a seed request allocates there (seeds are
    # rare: nothing per frame does)
    import sys
    sa = SecurityAccess(Profile(_profile(8)).security_levels, MemNvm())
    if sys.maxsize < (1 << 32):
        sa.power_up(T0)
        assert sa.request_seed(T0, 3, _OUT, 0) == 8     # served, not allocation-free
        return
    sa.power_up(T0)
    assert run_locked(lambda: sa.request_seed(T0, 3, _OUT, 0)) == 8


def test_one_byte_seeds_are_never_zero():
    # 1000 one-byte seeds would hold about four zeros; a locked level never
    # gets one (§10.4.1: the zero seed means "already unlocked")
    srv = power_up(MemNvm(), profile=_profile(1))
    ask(srv, "10 02")
    req = b"\x27\x03"
    counts = bytearray(256)
    for _ in range(1000):
        srv.feed_pdu(T0, req, 2, False)
        assert srv.pop_pdu(_OUT) == 3 and _OUT[0] == 0x67
        assert _OUT[2] != 0
        counts[_OUT[2]] = 1
    assert sum(counts) > 200                            # and they are spread over 1..255


def test_long_seeds_use_two_blocks():
    src = SeedSource(None, Entropy(3))
    out = bytearray(MAX_SEED)
    src.generate(out, MAX_SEED)
    assert out[:32] != out[32:]
    assert raises(ConfigError, src.generate, out, 0)
    assert raises(ConfigError, src.generate, out, MAX_SEED + 1)


# ---- the boot counter -----------------------------------------------------------
def test_the_boot_counter_persists_and_is_stored_before_the_first_seed():
    nvm = MemNvm()
    for count in (1, 2, 3):
        srv = power_up(nvm.power_cycle())
        # constructed, no request yet: the counter is already in the NVM
        assert nvm.get(BOOT_KEY) == bytes((0, 0, 0, count))
        assert srv.security.boot_count == count and srv.security.fresh
    srv.reset(T0, 1)                                    # ECUReset: the same power cycle
    assert nvm.get(BOOT_KEY) == b"\x00\x00\x00\x03"


def test_a_malformed_counter_record_restarts_at_one():
    nvm = MemNvm({BOOT_KEY: b"\x07"})
    srv = power_up(nvm)
    assert srv.security.boot_count == 1 and nvm.get(BOOT_KEY) == b"\x00\x00\x00\x01"
    assert first_seed(srv) != "00 00 00 00"


def test_the_counter_wraps_after_2_to_the_32_power_ups():
    nvm = MemNvm({BOOT_KEY: b"\xff\xff\xff\xff"})
    srv = power_up(nvm)
    assert srv.security.boot_count == 0 and nvm.get(BOOT_KEY) == b"\x00\x00\x00\x00"


def test_no_nvm_and_no_entropy_is_reproducible():
    # a bare simulated server: nothing to count with, the same seeds each time
    a = power_up(None)
    b = power_up(None)
    assert a.security.boot_count == 0 and a.security.fresh
    assert first_seed(a) == first_seed(b)


# ---- failures at power-up -------------------------------------------------------
def test_counter_write_failure_without_entropy_refuses_seeds_with_22():
    nvm = MemNvm()
    s1 = first_seed(power_up(nvm))                      # boot 1 stored
    nvm.power_cycle()
    nvm.fail_writes = True
    srv = power_up(nvm)                                 # boot 2 cannot be stored
    assert not srv.security.fresh
    # the ECU still starts and serves everything else ...
    assert ask(srv, "22 F1 90") == "62 F1 90 " + hexstr(b"W0L000043MB541326")
    assert ask(srv, "10 02") == "50 02 00 32 01 F4"
    # ... but a generated seed could be the next power-up's: conditionsNotCorrect
    assert ask(srv, "27 03") == "7F 27 22"
    ask(srv, "10 01")
    assert ask(srv, "10 03") == "50 03 00 32 01 F4"
    assert ask(srv, "27 01") == "67 01 36 57"          # a fixed_seed level is unaffected
    srv2 = power_up(nvm.power_cycle())                  # writes work again
    assert srv2.security.fresh and srv2.security.boot_count == 2
    assert first_seed(srv2) != s1


def test_counter_write_failure_with_entropy_still_gives_new_seeds():
    nvm = MemNvm()
    sa = first_seed(power_up(nvm, Entropy(1)))          # boot 1
    nvm.power_cycle()
    nvm.fail_writes = True
    srv = power_up(nvm, Entropy(2))                     # counts 2, cannot store it
    assert srv.security.fresh and srv.security.boot_count == 2
    sb = first_seed(srv)
    srv = power_up(nvm.power_cycle(), Entropy(3))       # counts 2 again
    assert srv.security.boot_count == 2
    sc = first_seed(srv)
    assert len(set((sa, sb, sc))) == 3                  # the entropy tells b and c apart


def test_counter_read_failure_is_handled_like_a_write_failure():
    srv = power_up(BrokenNvm())
    assert not srv.security.fresh
    ask(srv, "10 02")
    assert ask(srv, "27 03") == "7F 27 22"
    srv = power_up(BrokenNvm(), Entropy(5))
    assert srv.security.fresh and first_seed(srv) != "00 00 00 00"


def test_entropy_source_is_asked_once_per_power_up():
    ent = Entropy(9)
    nvm = MemNvm()
    srv = power_up(nvm, ent)
    for _ in range(10):
        first_seed(srv)
        ask(srv, "10 01")
    assert ent.calls == 1
    power_up(nvm.power_cycle(), ent)
    assert ent.calls == 2


def test_a_bad_entropy_source_is_a_config_error():
    # the platform's mistake, found at construction, never a weak seed later
    assert raises(ConfigError, power_up, MemNvm(), lambda n: b"\x00" * (n - 1))
    assert raises(ConfigError, power_up, MemNvm(), lambda n: None)
    assert raises(ConfigError, power_up, MemNvm(), b"not callable")
    assert raises(ConfigError, power_up, MemNvm(), None, "not callable")
