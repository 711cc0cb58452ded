# SecurityAccess (0x27) seed/key state machine, ISO 14229-1 §10.4 and the
# Annex I state chart (its figure and tables are missing from the source;
# reconstructed in uds-digest §6).
#
# One seed/key exchange at a time; the unlocked level (`level`, 0 = locked)
# is separate from the exchange, because UNLOCKED(n) + requestSeed(m) keeps
# level n active until the key for m succeeds (§10.4.1: only one level is
# active at a time, levels have no order).  Per level: an attempt counter
# (Att_Cnt) and a delay timer (Delay_Timer).  A wrong key with Att_Cnt
# below the limit -> 0x35; reaching the limit -> 0x36 and the delay starts;
# requestSeed while it runs -> 0x37.  The counter and a "failed since the
# last success" flag are kept in NVM ("sa"), so the delay also applies after
# power-up / reset when the attempt before it failed (§10.4.1).
#
# Key algorithms: diagbridge.uds.seedkey (shared with the tester role).
# Seeds come from seed_source.SeedSource: SHA-256 in counter mode over a
# state seeded once per construction (= power-up) from the platform's
# entropy (`urandom`), a boot counter persisted in the NVM ("sec.boot",
# stored before the first seed) and the profile's prng_seed (extra mixing
# only), so no two power-ups hand out the same seeds.  When neither entropy
# nor a stored counter can guarantee that (no urandom and the NVM refused the
# counter's write), a locked level's requestSeed is answered 0x22
# conditionsNotCorrect for this power cycle.  A locked level never gets an
# all-zero seed; a profile's fixed_seed (the §10.4.5 example) bypasses the
# generator.
from diagbridge._compat import const
from diagbridge.clock import ticks_add, due, earliest
from diagbridge.uds.seedkey import compute_key
from diagbridge.uds.nrc import NRC_RSE, NRC_IK, NRC_ENOA, NRC_RTDNE, NRC_SFNS, NRC_CNC
from diagbridge.uds.server.seed_source import SeedSource

# Exchange states
_S_IDLE = const(0)          # no seed outstanding
_S_WAIT_KEY = const(1)      # a seed was sent for `_wait`; the key is expected
# Inputs
_I_SEED = const(0)          # requestSeed of a locked level
_I_ZERO = const(1)          # requestSeed of the unlocked level (zero seed)
_I_KEY_OK = const(2)
_I_KEY_BAD = const(3)       # wrong key, attempts left
_I_KEY_LAST = const(4)      # wrong key, limit reached
_I_RELOCK = const(5)        # session change / reset
_I_VOID = const(6)          # sendKey out of sequence (0x24): the seed is void
# Actions
_A_NONE = const(0)
_A_SEED = const(1)          # make and remember a new seed
_A_UNLOCK = const(2)        # level active, Att_Cnt = 0, clear the NVM flag
_A_COUNT = const(3)         # Att_Cnt += 1, persist
_A_DELAY = const(4)         # Att_Cnt += 1, persist, start Delay_Timer
_A_LOCK = const(5)          # no level active

_NEXT = (
    # _S_IDLE: keys never get here (sendKey without a seed is 0x24 first)
    ((_S_WAIT_KEY, _A_SEED), (_S_IDLE, _A_NONE), None, None, None, (_S_IDLE, _A_LOCK),
     (_S_IDLE, _A_NONE)),
    # _S_WAIT_KEY: a repeated requestSeed gets a new seed (VM choice, Annex I)
    ((_S_WAIT_KEY, _A_SEED), (_S_IDLE, _A_NONE), (_S_IDLE, _A_UNLOCK),
     (_S_IDLE, _A_COUNT), (_S_IDLE, _A_DELAY), (_S_IDLE, _A_LOCK), (_S_IDLE, _A_NONE)),
)

NVM_KEY = "sa"

_ZERO_RETRIES = const(4)    # fresh outputs tried before forcing a non-zero seed


class SecurityAccess:
    def __init__(self, levels, nvm=None, prng_seed=0xACE1, urandom=None, sha256=None):
        # levels: {requestSeed level: profile.SecurityLevel}; urandom: the
        # platform's fn(n) -> bytes; sha256: a hashlib.sha256-like constructor
        # (None: the portable one); prng_seed: extra mixing input only.
        # Constructing is the power-up: the boot counter is stored here.
        self._cfg = levels
        self._nvm = nvm
        self._src = SeedSource(nvm, urandom, sha256, prng_seed & 0xFFFF)
        self.boot_count = self._src.boot_count
        self.fresh = self._src.fresh    # False: locked levels' seeds are refused (0x22)
        self.level = 0              # unlocked level (0 = locked)
        self.state = _S_IDLE
        self._wait = 0              # level whose key is expected
        seed_max = 1
        for lv in levels:
            seed_max = max(seed_max, levels[lv].seed_len, levels[lv].key_len)
        self._seed = bytearray(seed_max)
        self._key = bytearray(seed_max)
        self.att = {}               # level -> Att_Cnt
        self._failed = {}           # level -> failed since the last success (NVM flag)
        self._delay_at = {}         # level -> tick the delay ends, or None
        for lv in levels:
            self.att[lv] = 0
            self._failed[lv] = False
            self._delay_at[lv] = None

    # ---- lifecycle ------------------------------------------------------------
    def power_up(self, now, delay_always=False):
        """Power-up or reset: locked; restore Att_Cnt and start the delay of
        every level whose last attempt before the reset failed (§10.4.1)."""
        self.level = 0
        self.state = _S_IDLE
        self._wait = 0
        rec = self._nvm.get(NVM_KEY) if self._nvm is not None else None
        if rec is not None:
            for i in range(0, len(rec) - 2, 3):
                lv = rec[i]
                if lv in self.att:
                    self.att[lv] = rec[i + 1]
                    self._failed[lv] = rec[i + 2] != 0
        for lv in self._cfg:
            ms = self._cfg[lv].power_up_delay_ms
            if ms and (delay_always or self._failed[lv]):
                self._delay_at[lv] = ticks_add(now, ms * 1000)
            else:
                self._delay_at[lv] = None

    def relock(self):
        """Session transition (§5.2): no level active, no seed outstanding.
        Att_Cnt and the delay keep running."""
        self._step(0, _I_RELOCK, 0)

    # ---- requests (the 0x27 handler calls these after the general checks) ------
    def request_seed(self, now, level, out, pos):
        """requestSeed: write the seed at out[pos:]; its length, or -NRC."""
        cfg = self._cfg.get(level)
        if cfg is None:
            return -NRC_SFNS
        n = cfg.seed_len
        if level == self.level:
            # already unlocked: a zero seed tells the client so (§10.4.1)
            for i in range(n):
                out[pos + i] = 0
            self._step(now, _I_ZERO, level)
            return n
        if self._delay_at[level] is not None:
            return -NRC_RTDNE
        if not self.fresh and cfg.fixed_seed is None:
            return -NRC_CNC             # seeds could repeat another power-up's
        self._step(now, _I_SEED, level)
        seed = self._seed
        for i in range(n):
            out[pos + i] = seed[i]
        return n

    def send_key(self, now, level, req, pos, n):
        """sendKey for requestSeed level `level`: 0 (unlocked) or an NRC."""
        if self.state != _S_WAIT_KEY or self._wait != level:
            self._step(now, _I_VOID, level)
            return NRC_RSE
        cfg = self._cfg[level]
        key = self._key
        compute_key(cfg.algorithm, self._seed, cfg.seed_len, cfg.secret, key)
        diff = 0 if n == cfg.key_len else 1
        for i in range(min(n, cfg.key_len)):
            diff |= key[i] ^ req[pos + i]       # no early exit: constant time
        if diff == 0:
            self._step(now, _I_KEY_OK, level)
            return 0
        if self.att[level] + 1 >= cfg.attempts:
            self._step(now, _I_KEY_LAST, level)
            return NRC_ENOA
        self._step(now, _I_KEY_BAD, level)
        return NRC_IK

    def seed_len(self, level):
        cfg = self._cfg.get(level)
        return 0 if cfg is None else cfg.seed_len

    # ---- timers ---------------------------------------------------------------
    def deadline(self):
        d = None
        for lv in self._delay_at:
            d = earliest(d, self._delay_at[lv])
        return d

    def on_timer(self, now):
        for lv in self._delay_at:
            if due(now, self._delay_at[lv]):
                self._delay_at[lv] = None

    def delay_running(self, level):
        return self._delay_at.get(level) is not None

    # ---- the machine ----------------------------------------------------------
    def _step(self, now, inp, level):
        cell = _NEXT[self.state][inp]
        if cell is None:
            return
        self.state, action = cell
        if action == _A_SEED:
            self._wait = level
            self._new_seed(self._cfg[level])
        elif action == _A_UNLOCK:
            self.level = level
            self._wait = 0
            if self.att[level] or self._failed[level]:
                self.att[level] = 0
                self._failed[level] = False
                self._persist()
        elif action == _A_COUNT or action == _A_DELAY:
            self._wait = 0
            self.att[level] += 1
            self._failed[level] = True
            if action == _A_DELAY:
                ms = self._cfg[level].delay_ms
                self._delay_at[level] = ticks_add(now, ms * 1000) if ms else None
            self._persist()
        elif action == _A_LOCK:
            self.level = 0
            self._wait = 0
        elif action == _A_NONE:
            self._wait = 0

    def _new_seed(self, cfg):
        n = cfg.seed_len
        seed = self._seed
        if cfg.fixed_seed is not None:
            for i in range(n):
                seed[i] = cfg.fixed_seed[i]
            return
        for _ in range(_ZERO_RETRIES):
            self._src.generate(seed, n)
            nz = 0
            for i in range(n):
                nz |= seed[i]
            if nz:
                return
        seed[n - 1] = 1                 # never a zero seed for a locked level

    def _persist(self):
        if self._nvm is None:
            return
        rec = bytearray()
        for lv in self.att:
            rec.append(lv)
            rec.append(min(self.att[lv], 0xFF))
            rec.append(1 if self._failed[lv] else 0)
        try:
            self._nvm.put(NVM_KEY, rec)
        except OSError:
            pass                        # the counter still works until power-down
