# Helpers for the tachograph tests: the example VU (kwp/profiles/tacho_vu.vu)
# bound to its K-Line side, and a KwpClient tester at 0xF0, on the simulated
# K-Line in virtual time (kwp_support.KwpBench).
from diagbridge.kline.config import TesterConfig
from diagbridge.kwp.profiles import tacho_vu
from diagbridge.tacho import vu as V
from diagbridge.uds.server.profile import Profile
from kwp_support import KwpBench, hexs, frame


class TachoBench(KwpBench):
    def __init__(self, annex="1C", nvm=None, tester_address=0xF0, **tacho):
        KwpBench.__init__(self, profiles=(Profile(tacho_vu.vu(annex, **tacho)),),
                          tester=TesterConfig(address=tester_address), nvm=nvm,
                          link_cfg=V.link_config())
        self.vu = V.bind(self.ecu)

    def calibrate(self):
        """10 85 and the PIN: CALIBRATION mode in the ECUProgrammingSession."""
        assert self.ask("10 85")[0] == 0
        assert self.ask("27 7D")[2] == hexs("67 7D 00 01")
        r = self.ask("27 7E 31 32 33 34")
        assert r[0] == 0 and r[2] == hexs("67 7E"), r

    def wire(self, since):
        """Frames on the wire after `since`: (who, bytes) in order."""
        out = []
        for who in ("tester", "tacho_vu"):
            for end, b in self.frames_from(who, since):
                out.append((end, who, b))
        out.sort()
        return [(w, b) for e, w, b in out]


def bench(annex="1C", **kw):
    b = TachoBench(annex, **kw)
    b.init()
    return b


def workshop_run(b, w, max_us=60000000):
    """Run the Workshop machine `w` on its own port of b's K-Line until its
    report: the node (its events, the frames named "workshop")."""
    from diagbridge.sim.kline_ecu import KLineNode
    node = KLineNode(b.k, b.line, "workshop", w)
    w.begin(b.k.now)
    b.k.call_later(0, lambda now, a: node.flush(now))
    b.k.run_until(lambda: w.done(), max_us)
    return node
