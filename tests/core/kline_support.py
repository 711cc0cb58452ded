# Helpers for the K-Line link tests: a kernel node that binds a tester or an
# ECU machine to a port of the virtual K-Line, as an adapter would.
from diagbridge.sim.kernel import Kernel
from diagbridge.sim.kline import KLine
from diagbridge.sim.recorder import REC_BYTE, Recorder
from diagbridge.kline import (KLineTester, TesterConfig, KLineEcu, EcuConfig, EV_REQUEST,
                              LINE_LOW)


def hexs(s):
    return bytes(int(x, 16) for x in s.split())


class Node:
    """A link machine on a wire port.  Records (elapsed_us, ev, result, peer)
    events, (elapsed_us, LINE_*, low_us) line actions and (elapsed_us, byte)
    writes.  on_event(node, now, ev) runs for each event (an ECU's
    application answers there)."""

    def __init__(self, kernel, line, name, m, on_event=None):
        self.kernel = kernel
        self.m = m
        self.name = name
        self.port = line.attach(name)
        self.port.on_byte = self._on_byte
        self.port.on_line = self._on_line
        self.on_event = on_event
        self.events = []
        self.lines = []
        self.writes = []
        self.mute = False           # True: bytes are not put on the wire (a dead transceiver)
        kernel.add_node(self)

    def deadline(self):
        return self.m.deadline()

    def on_timer(self, now):
        self.m.on_timer(now)
        self.flush(now)

    def _on_byte(self, now, b, flags):
        self.m.feed_byte(now, b, flags)
        self.flush(now)

    def _on_line(self, now, level):
        self.m.feed_line(now, level)
        self.flush(now)

    def flush(self, now):
        m = self.m
        t = self.kernel.elapsed_us
        ev = m.poll()
        while ev:
            self.events.append((t, ev, m.result, m.peer))
            if self.on_event is not None:
                self.on_event(self, now, ev)
            ev = m.poll()
        a = m.pop_line(now)
        while a:
            self.lines.append((t, a, m.low_us if a == LINE_LOW else 0))
            if a == LINE_LOW:
                self.port.drive_low(m.low_us)
            a = m.pop_line(now)
        b = m.pop_byte(now)
        if b >= 0:
            self.writes.append((t, b))
            if not self.mute:
                self.port.write(b)

    def kick(self):
        """Flush in a kernel call at this instant (after a request())."""
        self.kernel.call_later(0, lambda now, a: self.flush(now))

    def evs(self):
        return [e[1] for e in self.events]

    def of(self, ev):
        return [e for e in self.events if e[1] == ev]


class Responder:
    """An ECU application: answers each request from a table SId -> list of
    responses (each a bytes; several = 0x78 first ...), `delay_us` after the
    request (later responses each `delay_us` after the previous one)."""

    def __init__(self, table, delay_us=0, later_us=0):
        self.table = table
        self.delay_us = delay_us
        self.later_us = later_us        # gap before each further answer (after 0x78)
        self.requests = []

    def __call__(self, node, now, ev):
        if ev != EV_REQUEST:
            return
        m = node.m
        req = bytes(m.payload[m.data_off:m.data_off + m.data_len])
        self.requests.append((node.kernel.elapsed_us, req, m.peer, m.functional))
        answers = self.table.get(req[0])
        if answers is None:
            return
        if callable(answers):
            answers = answers(req)
        self._answer(node, list(answers), self.delay_us)

    def _answer(self, node, answers, delay):
        if not answers:
            return
        first = answers[0]

        def go(now, arg):
            node.m.respond(now, first, len(first))
            node.flush(now)
            if len(answers) > 1:
                node.kernel.call_later(1, lambda n2, a: self._later(node, answers[1:]))
        node.kernel.call_later(delay, go)

    def _later(self, node, rest):
        # the next answer once the previous one is out (state back to waiting)
        def wait(now, arg):
            m = node.m
            try:
                m.respond(now, rest[0], len(rest[0]))
            except Exception:
                node.kernel.call_later(100, wait)
                return
            node.flush(now)
            if len(rest) > 1:
                node.kernel.call_later(1, lambda n2, a: self._later(node, rest[1:]))
        node.kernel.call_later(self.later_us, wait)


class Bench:
    """A kernel, a wire with a recorder, a tester and ECUs."""

    def __init__(self, ecus=(EcuConfig(),), tester=None, table=None, delay_us=0):
        self.k = Kernel()
        self.rec = Recorder()
        self.line = KLine(self.k, recorder=self.rec)
        self.tester = Node(self.k, self.line, "tester",
                           KLineTester(tester if tester is not None else TesterConfig()))
        self.apps = []
        self.ecus = []
        for i, cfg in enumerate(ecus):
            app = Responder(table if table is not None else {}, delay_us)
            self.apps.append(app)
            self.ecus.append(Node(self.k, self.line, "ecu%d" % (i + 1), KLineEcu(cfg), app))
        self.ecu = self.ecus[0] if self.ecus else None

    def t(self):
        return self.k.elapsed_us

    def fast_init(self, target=0x11, functional=False):
        self.tester.m.fast_init(self.k.now, target, functional)
        self.tester.kick()

    def request(self, data, target=0x11, functional=False):
        self.tester.m.request(self.k.now, target, data, len(data), functional)
        self.tester.kick()

    def run(self, us):
        self.k.run_for(us)

    def bytes_from(self, name, since=0):
        """(elapsed_us at the byte's end, value, flags) of every byte `name` sent."""
        return [(r[0], r[6][0], r[7]) for r in self.rec.of(kind=REC_BYTE)
                if r[4] == name and r[0] >= since]

    def frames_from(self, name, since=0):
        """Bytes `name` sent, split where the gap exceeds 20 ms: (end_us, bytes)."""
        out = []
        cur = []
        last = None
        for t, v, f in self.bytes_from(name, since):
            if last is not None and t - last > 20962:
                out.append((last, bytes(cur)))
                cur = []
            cur.append(v)
            last = t
        if cur:
            out.append((last, bytes(cur)))
        return out


class Raw:
    """A hand-driven port: exact bytes at exact times (a tester or an ECU
    that the test plays itself).  Records what it hears."""

    def __init__(self, bench, name="raw"):
        self.k = bench.k
        self.port = bench.line.attach(name)
        self.heard = []
        self.port.on_byte = lambda now, b, f: self.heard.append((self.k.elapsed_us, b, f))

    def send(self, at_us, data, gap_us=0):
        """Write data starting at elapsed at_us, each byte gap_us after the
        previous one's end (0 = one back-to-back burst).  Returns the
        elapsed time the last byte ends."""
        data = bytes(data)
        if gap_us == 0:
            self.k.call_at(at_us, lambda now, d: self.port.write_bytes(d), data)
            return at_us + (len(data) * 10000000000 + 10400 * 1000 - 1) // (10400 * 1000)
        w = at_us
        for b in data:
            self.k.call_at(w, lambda now, v: self.port.write(v), b)
            end = w + 962               # 961.538 us, delivered rounded up
            w = end + gap_us
        return end

    def wup(self, at_us, low_us=25000):
        self.k.call_at(at_us, lambda now, a: self.port.drive_low(low_us))

    def wup_and_send(self, at_us, data, twup_us=50000, low_us=25000, gap_us=5000):
        self.wup(at_us, low_us)
        return self.send(at_us + twup_us, data, gap_us)
