# Helpers for the Ecu tests (core-only and simulated); no tests here.
from diagbridge.clock import TICKS_PERIOD, earliest
from diagbridge.cantp import (Channel, Mux, TpConfig, Address, ADDR_NORMAL_11, EV_RX_DONE,
                              EV_TX_FAILED, EV_RX_FAILED)
from diagbridge.uds.server.profile import Profile
from diagbridge.uds.server.profiles import engine
from diagbridge.uds.seedkey import compute_key

T0 = TICKS_PERIOD - 30000          # every exchange crosses the tick wrap
VIN = b"W0L000043MB541326"
BIG_DID = 0x0F00                    # 62 0F 00 + 3997 bytes = a 4000-byte response
BIG_LEN = 3997


def big_value():
    v = bytearray(BIG_LEN)
    for i in range(BIG_LEN):
        v[i] = (i * 7 + 3) & 0xFF
    return bytes(v)


def profile_dict(rx_id=0x7E0, tx_id=0x7E8, functional_id=0x7DF, name="ecu"):
    """A small ECU: sessions, security, DIDs (VIN and a 3997-byte one),
    ECUReset, TesterPresent, a 100 ms checksum routine."""
    return {
        "name": name,
        "addresses": {"rx_id": rx_id, "tx_id": tx_id, "functional_id": functional_id},
        "modules": ["session", "security", "data", "routine", "transfer"],
        "sessions": {1: {}, 2: {}, 3: {}},
        "security": {"levels": {1: {"seed_len": 4, "secret": b"ecu-test"}}},
        "reset": {"types": [1, 2, 3]},
        "dids": {0xF190: {"length": 17, "value": VIN},
                 BIG_DID: {"length": BIG_LEN, "value": big_value()}},
        "routines": {0x0203: {"sessions": [3], "kind": "checksum", "duration_ms": 100,
                              "option_length": -1}},
        "transfer": {"upload_regions": [{"start": 0x10000, "size": 0x1000}]},
    }


def engine_profile(state=None):
    """The shipped engine ECU profile with its live sources."""
    if state is None:
        state = engine.EngineState()
    return Profile(engine.profile(), sources=engine.sources(state))


def engine_key(level, seed):
    """The engine profile's key for `seed` (the default algorithm)."""
    lv = engine_profile().security_levels[level]
    out = bytearray(len(seed))
    compute_key(lv.algorithm, seed, len(seed), lv.secret, out)
    return bytes(out)


def make_tester(tx_id=0x7E0, rx_id=0x7E8, func_tx_id=0x7DF, cfg=None):
    return Channel(cfg or TpConfig(), Address(ADDR_NORMAL_11, tx_id=tx_id, rx_id=rx_id,
                                              func_tx_id=func_tx_id))


class Pair:
    """A tester Channel and an Ecu with frames moved at once (zero bus time)
    and virtual time jumping from deadline to deadline."""

    def __init__(self, ecu, tester=None):
        self.ecu = ecu
        self.t = tester if tester is not None else make_tester()
        self.now = T0
        self.elapsed = 0
        self.buf = bytearray(64)
        self.rx = []            # (elapsed_us, bytes) answers the tester received
        self.failed = []        # (elapsed_us, event, result) of the tester
        self.frames = []        # (elapsed_us, sender, can_id, bytes) if keep_frames
        self.keep_frames = False
        self.ecu_events = []    # (elapsed_us, ev)

    def send(self, hexs, functional=False):
        data = bytes.fromhex(hexs) if isinstance(hexs, str) else hexs
        self._req = data        # read in place by CAN-TP until it is sent
        self.t.request(self.now, data, len(data), 1 if functional else 0)

    def ask(self, hexs, functional=False, max_us=100000):
        """Send a request and run until quiet (or max_us): the answers as hex."""
        mark = len(self.rx)
        self.send(hexs, functional)
        self.run_for(max_us)
        return [r[1].hex() for r in self.rx[mark:]]

    def _move(self, src, dst, name):
        buf = self.buf
        n = src.pop_frame(buf)
        if not n:
            return False
        if self.keep_frames:
            self.frames.append((self.elapsed, name, src.tx_id, bytes(buf[:n])))
        src.confirm(self.now, True, src.tx_tag)
        dst.feed_frame(self.now, src.tx_id, buf, n, src.tx_flags)
        return True

    def _events(self):
        t = self.t
        ev = t.poll()
        while ev:
            if isinstance(t, Mux):
                t = t.channel
            if ev == EV_RX_DONE:
                self.rx.append((self.elapsed, bytes(t.payload[:t.length])))
            elif ev == EV_TX_FAILED or ev == EV_RX_FAILED:
                self.failed.append((self.elapsed, ev, t.result))
            t = self.t
            ev = t.poll()
        ev = self.ecu.poll()
        while ev:
            self.ecu_events.append((self.elapsed, ev))
            ev = self.ecu.poll()

    def pump(self):
        moved = True
        while moved:
            moved = self._move(self.t, self.ecu, "tester")
            if self._move(self.ecu, self.t, "ecu"):
                moved = True
            self._events()

    def run_for(self, us):
        from diagbridge.clock import ticks_diff
        end = self.elapsed + us
        spins = 0
        while True:
            self.pump()
            d = earliest(self.t.deadline(), self.ecu.deadline())
            if d is None:
                break
            dt = ticks_diff(d, self.now)
            if dt < 0:
                dt = 0
            if self.elapsed + dt > end:
                break
            if dt == 0:
                spins += 1
                assert spins < 1000, "a deadline stays due"
            else:
                spins = 0
            self.advance(dt)
            self.t.on_timer(self.now)
            self.ecu.on_timer(self.now)
        self.advance(end - self.elapsed)
        self.pump()

    def advance(self, us):
        self.elapsed += us
        self.now = (self.now + us) & (TICKS_PERIOD - 1)
