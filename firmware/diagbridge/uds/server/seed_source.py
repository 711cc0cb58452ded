# SecurityAccess seeds (ISO 14229-1 §10.4): a small deterministic random bit
# generator, seeded once per power-up, so a key sniffed once never unlocks
# the ECU again -- in this power cycle or after the next one.
#
#   src = SeedSource(nvm=None, urandom=None, sha256=None, extra=0)
#   src.generate(out, n)     n bytes (n <= 64) of seed into out[0:n]
#   src.fresh                False: seeds may repeat a past power-up's (below)
#   src.boot_count           this power-up's value of the persisted counter
#
# Construction is the power-up.  It reads the boot counter from the NVM
# (BOOT_KEY, 4 bytes big-endian), adds one and stores it BEFORE any seed is
# handed out, then derives the 32-byte state K from
#   K = SHA-256(TAG || boot_count (4) || extra (2) || len(E) (1) || E)
# where E = urandom(32) from the platform (CPython os.urandom, MicroPython
# os.urandom or the board's RNG) and `extra` is the profile's prng_seed
# (kept for compatibility: extra mixing input only, it adds no secrecy).
# Every output is SHA-256 in counter mode over K, then K is replaced
# ("fast key erasure"), so a later state never reveals an earlier seed:
#   block j = SHA-256(K || 0x00 || j)     j = 0, 1 (seeds of up to 64 bytes)
#   K      = SHA-256(K || 0x01)           after every generate()
#
# Two power-ups differ because of E (different with overwhelming
# probability), or, with no entropy source (pure simulation), because the
# stored counter differs.  Without entropy the guarantee needs the counter's
# write: when the NVM refuses it (OSError on get or put), `fresh` is False
# and SecurityAccess answers a locked level's requestSeed with 0x22
# conditionsNotCorrect for this power cycle, since its seeds could be those
# of the next one.  With entropy a failed write changes nothing (fresh).  A
# counter record of the wrong length reads as 0 (the next value is 1).  With
# neither NVM nor entropy (a bare simulated server) seeds are the same at
# every construction: reproducible, `fresh` stays True, and a real ECU
# never runs that way (the CPython ECU runner gives os.urandom and an NVM).
# The counter wraps after 2**32 power-ups.
#
# sha256: a hashlib.sha256-like constructor (update / digest), injected by the
# platform as for the host link; None uses the portable implementation below
# (FIPS 180-4, checked against hashlib by the tests), which needs no import.
# Buffers are allocated once here; generate() copies digests into them.  With
# the portable hash generate() allocates nothing where a 32-bit word is a
# small int (64-bit ports, CPython); an injected hashlib allocates its hash
# object and digest per call (allocation-light, once per requestSeed).
from diagbridge._compat import const
from diagbridge.errors import ConfigError

BOOT_KEY = "sec.boot"
ENTROPY_LEN = const(32)
MAX_SEED = const(64)

_TAG = b"db.sa.v1"
_M32 = 0xFFFFFFFF                  # not a const(): above a small int on 32-bit ports

_K = (
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2)
_H0 = (0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
       0x5be0cd19)


class Sha256:
    """Portable SHA-256 (FIPS 180-4) for short messages: digest_into(msg, n,
    out) hashes msg[0:n] into out[0:32].  Work buffers are allocated once."""

    def __init__(self):
        self._w = [0] * 64
        self._h = [0] * 8
        self._blk = bytearray(64)

    def digest_into(self, msg, n, out):
        h = self._h
        for i in range(8):
            h[i] = _H0[i]
        blk = self._blk
        total = n + 9                       # message, 0x80, 64-bit length
        blocks = (total + 63) >> 6
        bits = n * 8
        for b in range(blocks):
            base = b << 6
            for i in range(64):
                p = base + i
                if p < n:
                    blk[i] = msg[p]
                elif p == n:
                    blk[i] = 0x80
                elif b == blocks - 1 and i >= 56:
                    blk[i] = (bits >> (8 * (63 - i))) & 0xFF
                else:
                    blk[i] = 0
            self._compress(blk)
        for i in range(8):
            v = h[i]
            out[4 * i] = v >> 24
            out[4 * i + 1] = (v >> 16) & 0xFF
            out[4 * i + 2] = (v >> 8) & 0xFF
            out[4 * i + 3] = v & 0xFF

    def _compress(self, blk):
        w = self._w
        for t in range(16):
            w[t] = (blk[4 * t] << 24) | (blk[4 * t + 1] << 16) | (blk[4 * t + 2] << 8) \
                | blk[4 * t + 3]
        for t in range(16, 64):
            x = w[t - 15]
            s0 = ((x >> 7) | (x << 25)) ^ ((x >> 18) | (x << 14)) ^ (x >> 3)
            x = w[t - 2]
            s1 = ((x >> 17) | (x << 15)) ^ ((x >> 19) | (x << 13)) ^ (x >> 10)
            w[t] = (w[t - 16] + (s0 & _M32) + w[t - 7] + (s1 & _M32)) & _M32
        h = self._h
        a = h[0]
        b = h[1]
        c = h[2]
        d = h[3]
        e = h[4]
        f = h[5]
        g = h[6]
        hh = h[7]
        for t in range(64):
            s1 = (((e >> 6) | (e << 26)) ^ ((e >> 11) | (e << 21)) ^ ((e >> 25) | (e << 7))) \
                & _M32
            ch = (e & f) ^ (~e & g)
            t1 = (hh + s1 + (ch & _M32) + _K[t] + w[t]) & _M32
            s0 = (((a >> 2) | (a << 30)) ^ ((a >> 13) | (a << 19)) ^ ((a >> 22) | (a << 10))) \
                & _M32
            t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) & _M32
            hh = g
            g = f
            f = e
            e = (d + t1) & _M32
            d = c
            c = b
            b = a
            a = (t1 + t2) & _M32
        h[0] = (h[0] + a) & _M32
        h[1] = (h[1] + b) & _M32
        h[2] = (h[2] + c) & _M32
        h[3] = (h[3] + d) & _M32
        h[4] = (h[4] + e) & _M32
        h[5] = (h[5] + f) & _M32
        h[6] = (h[6] + g) & _M32
        h[7] = (h[7] + hh) & _M32


class SeedSource:
    """The per-power-up seed generator (see the top of this module)."""

    def __init__(self, nvm=None, urandom=None, sha256=None, extra=0):
        if urandom is not None and not callable(urandom):
            raise ConfigError("urandom")
        if sha256 is not None and not callable(sha256):
            raise ConfigError("sha256")
        self._sha256 = sha256
        self._own = Sha256() if sha256 is None else None
        self._key = bytearray(32)
        self._gen = bytearray(34)           # K || 0x00 || j
        self._rekey = bytearray(33)         # K || 0x01
        self._blk = bytearray(32)
        self.fresh = True
        self.boot_count = self._count_boot(nvm, urandom is not None)
        ent = b""
        if urandom is not None:
            ent = urandom(ENTROPY_LEN)
            if not isinstance(ent, (bytes, bytearray)) or len(ent) != ENTROPY_LEN:
                raise ConfigError("urandom")
        t = len(_TAG)
        m = bytearray(t + 7 + len(ent))
        for i in range(t):
            m[i] = _TAG[i]
        c = self.boot_count
        for i in range(4):
            m[t + i] = (c >> (24 - 8 * i)) & 0xFF
        m[t + 4] = (extra >> 8) & 0xFF
        m[t + 5] = extra & 0xFF
        m[t + 6] = len(ent)
        for i in range(len(ent)):
            m[t + 7 + i] = ent[i]
        self._hash(m, len(m), self._key)

    def _count_boot(self, nvm, have_entropy):
        """Read, increment and store the boot counter; its new value."""
        if nvm is None:
            return 0
        try:
            rec = nvm.get(BOOT_KEY)
        except OSError:
            rec = None
            self.fresh = have_entropy
        c = 0
        if rec is not None and len(rec) == 4:
            c = (rec[0] << 24) | (rec[1] << 16) | (rec[2] << 8) | rec[3]
        c = (c + 1) & _M32
        try:
            nvm.put(BOOT_KEY, bytes(((c >> 24) & 0xFF, (c >> 16) & 0xFF, (c >> 8) & 0xFF,
                                     c & 0xFF)))
        except OSError:
            self.fresh = have_entropy       # the next power-up may count the same value
        return c

    def _hash(self, msg, n, out):
        if self._own is not None:
            self._own.digest_into(msg, n, out)
            return
        h = self._sha256()
        h.update(msg)                       # msg is exactly n bytes long
        d = h.digest()
        for i in range(32):
            out[i] = d[i]

    def generate(self, out, n):
        """n bytes (1..64) into out[0:n]; the state moves on."""
        if not 0 < n <= MAX_SEED:
            raise ConfigError("seed_len")
        key = self._key
        g = self._gen
        blk = self._blk
        for i in range(32):
            g[i] = key[i]
        g[32] = 0
        pos = 0
        j = 0
        while pos < n:
            g[33] = j
            self._hash(g, 34, blk)
            k = 0
            while k < 32 and pos < n:
                out[pos] = blk[k]
                pos += 1
                k += 1
            j += 1
        r = self._rekey
        for i in range(32):
            r[i] = key[i]
        r[32] = 1
        self._hash(r, 33, key)
        for i in range(32):
            g[i] = 0
            blk[i] = 0
