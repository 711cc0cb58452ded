# Helpers for the KWP2000 tests: a tester (KwpClient) and KWP ECUs (KwpEcu
# from a profile) on the simulated K-Line, in virtual time.
from diagbridge.kline.config import TesterConfig
from diagbridge.kwp import client as C
from diagbridge.kwp.client import KwpClient
from diagbridge.kwp.profiles import kwp_engine, tacho_vu
from diagbridge.sim.kernel import Kernel
from diagbridge.sim.kline import KLine
from diagbridge.sim.kline_ecu import KLineNode, kwp_ecu_node
from diagbridge.sim.recorder import Recorder, REC_BYTE
from diagbridge.uds.server.nvm import MemNvm
from diagbridge.uds.server.profile import Profile
from diagbridge.uds.server.profiles.engine import EngineState


def hexs(s):
    return bytes(int(x, 16) for x in s.split())


def frame(s):
    """A K-Line message from hex without its checksum: the 8-bit sum appended."""
    b = hexs(s)
    return b + bytes((sum(b) & 0xFF,))


class KwpBench:
    """A kernel, a K-Line with a recorder, a KwpClient and one KWP ECU per profile."""

    def __init__(self, profiles=None, keepalive_ms=0, tester=None, nvm=None, **kw):
        self.k = Kernel()
        self.rec = Recorder()
        self.line = KLine(self.k, recorder=self.rec)
        self.client = KwpClient(tester if tester is not None else TesterConfig(),
                                keepalive_ms=keepalive_ms)
        self.tester = KLineNode(self.k, self.line, "tester", self.client)
        self.state = EngineState()
        if profiles is None:
            profiles = (Profile(kwp_engine.profile(), kwp_engine.sources(self.state)),)
        self.nvm = nvm if nvm is not None else MemNvm()
        self.nodes = [kwp_ecu_node(self.k, self.line, p, nvm=self.nvm, **kw) for p in profiles]
        self.node = self.nodes[0]
        self.ecu = self.node.ecu
        self.srv = self.ecu.srv

    def t(self):
        return self.k.elapsed_us

    def kick(self):
        self.k.call_later(0, lambda now, a: self.tester.flush(now))

    def events(self):
        return [e[1] for e in self.tester.events]

    def init(self, target=None):
        if target is None:
            target = self.ecu.link.address
        self.client.start(self.k.now, target)
        self.kick()
        n = len(self.tester.events)
        self.k.run_until(lambda: len(self.tester.events) > n, 2000000)
        assert self.tester.events[-1][1] == C.EV_READY, self.tester.events

    def ask(self, req, max_us=20000000):
        """Send req (bytes or hex str) once the tester is idle; run until its
        EV_DONE / EV_FAILED / EV_STOPPED: (result, nrc, response bytes)."""
        if isinstance(req, str):
            req = hexs(req)
        self.k.run_until(lambda: self.client.ready(), max_us)
        n = len(self.tester.events)
        self.client.request(self.k.now, req, len(req))
        self.kick()
        ends = (C.EV_DONE, C.EV_FAILED, C.EV_STOPPED)
        self.k.run_until(lambda: any(e[1] in ends for e in self.tester.events[n:]), max_us)
        c = self.client
        return c.result, c.nrc, bytes(c.response[0:c.length])

    def run(self, us):
        self.k.run_for(us)

    def frames_from(self, name, since=0):
        """Bytes `name` sent, split where the gap exceeds 20 ms: (end_us, bytes)."""
        out = []
        cur = []
        last = None
        for r in self.rec.of(kind=REC_BYTE):
            if r[4] != name or r[0] < since:
                continue
            if last is not None and r[0] - last > 20962:
                out.append((last, bytes(cur)))
                cur = []
            cur.append(r[6][0])
            last = r[0]
        if cur:
            out.append((last, bytes(cur)))
        return out


def engine_profile(state=None, **changes):
    d = kwp_engine.profile()
    d.update(changes)
    return Profile(d, kwp_engine.sources(state if state is not None else EngineState()))


def vu_profile(**pin):
    d = tacho_vu.profile()
    d["pin"].update(pin)
    return Profile(d)


def key_for(seed, secret=b"kwp-engine", alg="diagbridge1"):
    from diagbridge.uds.seedkey import compute_key
    out = bytearray(len(seed))
    compute_key(alg, seed, len(seed), secret, out)
    return bytes(out)


def unlock(b, session="10 86"):
    """Development (or another) session, then level 01 unlocked."""
    assert b.ask(session)[0] == 0
    r, nrc, rsp = b.ask("27 01")
    assert r == 0 and rsp[:2] == hexs("67 01"), (r, nrc, rsp)
    key = key_for(rsp[2:4])
    r, nrc, rsp = b.ask(bytes((0x27, 0x02)) + key)
    assert (r, rsp) == (0, hexs("67 02")), (r, nrc, rsp)
