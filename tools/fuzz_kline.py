"""Fuzz targets for K-Line: the simulated wire (sim/kline.py), the data-link
frame decoder (kline/frame.py, SSF 14230-2 section 4) and the ECU-role link
machine (kline/ecu.py) fed arbitrary bytes, low pulses and init patterns."""
from diagbridge import codes as C
from diagbridge.kline import frame as KF
from fuzz_common import T0, rbytes

K_CODES = frozenset(v for k, v in vars(C).items() if k.startswith("K_")) | {C.OK}

def gen_kline_wire(rnd):
    ops = []
    for _ in range(rnd.randint(1, 30)):
        r = rnd.random()
        port = rnd.randrange(3)
        if r < 0.55:
            ops.append(("w", port, rbytes(rnd, 1, rnd.choice((1, 4, 20)))))
        elif r < 0.7:
            ops.append(("low", port, rnd.choice((1, 25000, 50000, 200000, rnd.randint(1, 10**6)))))
        elif r < 0.8:
            ops.append(("baud", port, rnd.choice((10400, 9600, 5, 115200, rnd.randint(1, 10**6)))))
        else:
            ops.append(("run", rnd.choice((0, 1, 961, 962, 5000, 100000, 2_500_000))))
    return ops


def check_kline_wire(inp):
    """The simulated K-Line (sim/kline.py) fed arbitrary byte writes, low
    pulses and baud changes on three ports: never raises; every byte written
    reaches every port (its sender too, as an echo) exactly once, in the
    order its sender wrote it, no earlier than one byte time after it was
    written; flags are KL_* bits; an unflagged byte is exactly what was sent,
    a collided one a wired-AND (no bit its sender did not send), a byte held
    low reads 0x00; each receiver sees the wire's byte with FRAMING added
    only when its baud differs; the line is high again once every pulse ended."""
    from diagbridge.sim.kernel import Kernel
    from diagbridge.sim.kline import KLine, KL_OK, KL_FRAMING, KL_COLLISION, KL_BREAK
    from diagbridge.sim.recorder import Recorder, REC_BYTE
    k = Kernel(T0)
    rec = Recorder()
    line = KLine(k, recorder=rec)
    ports = [line.attach("p%d" % i) for i in range(3)]
    got = [[] for _ in ports]
    for i, p in enumerate(ports):
        p.on_byte = (lambda i: lambda now, b, f: got[i].append((k.elapsed_us, b, f,
                                                               ports[i].baud)))(i)
    written = [[] for _ in ports]       # per sender: (elapsed_us at write, value, baud)
    for op in inp:
        if op[0] == "w":
            for b in op[2]:
                written[op[1]].append((k.elapsed_us, b, ports[op[1]].baud))
            ports[op[1]].write_bytes(op[2])
        elif op[0] == "low":
            ports[op[1]].drive_low(op[2])
        elif op[0] == "baud":
            ports[op[1]].set_baud(op[2])
        else:
            k.run_for(op[1])
    k.run_until_idle(10**10)
    assert line.level == 1, "line left low"
    wire = rec.of(kind=REC_BYTE)
    total = sum(len(w) for w in written)
    assert len(wire) == total, ("bytes on the wire", len(wire), total)
    allf = KL_FRAMING | KL_COLLISION | KL_BREAK
    for s in range(len(ports)):
        mine = [r for r in wire if r[4] == "p%d" % s]
        assert len(mine) == len(written[s])
        for (t_w, sent, baud), r in zip(written[s], mine):
            t, val, f = r[0], r[6][0], r[7]
            assert f & ~allf == 0, f
            assert t >= t_w + 10 * 10**6 // baud, ("delivered too early", t_w, t, baud)
            if f == KL_OK:
                assert val == sent, ("unflagged byte changed", sent, val)
            if f & KL_BREAK:
                assert val == 0
            elif f & KL_COLLISION:
                assert val & ~sent == 0, ("not a wired-AND", sent, val)
    byte_baud = {}
    for s in range(len(ports)):
        mine = [j for j, r in enumerate(wire) if r[4] == "p%d" % s]
        for j, w in zip(mine, written[s]):
            byte_baud[j] = w[2]
    for i in range(len(ports)):
        assert len(got[i]) == total, ("a port missed bytes", i)
        for j, (r, (t, b, f, baud)) in enumerate(zip(wire, got[i])):
            assert b == r[6][0] and f & r[7] == r[7], (r, b, f)
            extra = f & ~r[7]
            assert extra == (KL_FRAMING if baud != byte_baud[j] and not r[7] & KL_FRAMING
                             else 0), ("receiver flags", r, f, baud, byte_baud[j])
    return True


# ---- the data-link frame decoder ------------------------------------------------------------
def _cs(b):
    return sum(b) & 0xFF


def gen_kline_frame(rnd):
    if rnd.random() < 0.3:
        raw = rbytes(rnd, 0, 270)
    else:
        n = rnd.choice((1, 2, 7, 63, 64, 200, 255))
        data = rbytes(rnd, n, n)
        fmt = rnd.choice((0x80, 0xC0))
        if n <= 63 and rnd.random() < 0.5:
            hdr = bytes((fmt | n, rnd.getrandbits(8), rnd.getrandbits(8)))
        else:
            hdr = bytes((fmt, rnd.getrandbits(8), rnd.getrandbits(8), n))
        raw = bytearray(hdr + data)
        raw.append(_cs(raw))
        for _ in range(rnd.choice((0, 0, 1, 2))):       # a byte changed, or the end cut
            if rnd.random() < 0.5 and raw:
                raw[rnd.randrange(len(raw))] = rnd.getrandbits(8)
            elif len(raw) > 1:
                del raw[rnd.randrange(1, len(raw)):]
        raw = bytes(raw)
    return (raw, rnd.random() < 0.8, rnd.random() < 0.8)


def check_kline_frame(inp):
    """frame.parse() on arbitrary bytes: OK, K_HEADER_ERROR or
    K_CHECKSUM_ERROR as SSF 14230-2 section 4 says (an oracle written from
    the standard); an accepted frame rebuilt with frame.build() is the same
    bytes; expected_total() on any prefix of a good frame is 0 or its length."""
    raw, allow_fmt_len, allow_len_byte = inp
    n = len(raw)
    info = KF.FrameInfo()
    r = KF.parse(raw, n, info, allow_fmt_len, allow_len_byte)
    # the oracle
    want = C.K_HEADER_ERROR
    if n >= 1 and raw[0] & 0xC0 in (0x80, 0xC0):
        ln = raw[0] & 0x3F
        if ln:
            total, ok_form = 3 + ln + 1, allow_fmt_len
        else:
            total = 4 + raw[3] + 1 if n >= 4 and raw[3] else -1
            ok_form = allow_len_byte
        if total == n and ok_form:
            want = C.OK if _cs(raw[:-1]) == raw[-1] else C.K_CHECKSUM_ERROR
    assert r == want, ("parse", raw, r, want)
    if r == C.OK:
        out = bytearray(KF.MAX_FRAME)
        k = KF.build(out, info.functional, info.tgt, info.src, raw, info.data_off,
                     info.data_len, info.len_in_fmt)
        assert bytes(out[:k]) == raw, ("build(parse(frame)) differs", raw, bytes(out[:k]))
        for j in range(n):
            t = KF.expected_total(raw, j)
            assert t in (0, n), ("expected_total on a prefix", raw, j, t)
    return True


# ---- the ECU-role link machine --------------------------------------------------------------
def _sc(tgt=0x11, fmt=0x81):
    f = bytes((fmt, tgt, 0xF1, 0x81))
    return f + bytes((_cs(f),))


def _request(data, tgt=0x11, len_in_fmt=False):
    """A physical request frame (the SSF key bytes ask for the length byte)."""
    f = bytes((0x80 | len(data), tgt, 0xF1)) + data if len_in_fmt and len(data) <= 63 else \
        bytes((0x80, tgt, 0xF1, len(data))) + data
    return f + bytes((_cs(f),))


def _gen_request(rnd, ops):
    data = rnd.choice((b"\x82", b"\x83\x00", b"\x83\x03\x00\x14\x01\x64\x14", b"\x83\x02",
                       b"\x21\x01", b"\x1a\x90", b"\x3e", rbytes(rnd, 1, 70)))
    f = bytearray(_request(data, rnd.choice((0x11, 0x11, 0x11, 0x12)), rnd.random() < 0.1))
    if rnd.random() < 0.15:
        f[rnd.randrange(len(f))] = rnd.getrandbits(8)
    if rnd.random() < 0.1:
        del f[rnd.randrange(1, len(f)):]
    ops.append(("w", bytes(f)))
    ops.append(("run", rnd.choice((0, 30000, 150000, 150000, 150000))))


def gen_kline_ecu(rnd):
    ops = []
    for _ in range(rnd.randint(1, 4)):
        r = rnd.random()
        if r < 0.6:     # a session: wake-up pattern, StartCommunication, requests
            ops.append(("low", rnd.choice((25000, 25000, 25000, 24000, 26500, 3000))))
            ops.append(("run", rnd.choice((50000, 50000, 49500, 52000))))  # TWuP
            sc = bytearray(_sc(rnd.choice((0x11, 0x11, 0x33, 0x12)), rnd.choice((0x81, 0xC1))))
            if rnd.random() < 0.15:
                sc[rnd.randrange(len(sc))] ^= 1 << rnd.randrange(8)
            ops.append(("w", bytes(sc)))
            ops.append(("run", rnd.choice((60000, 150000, 150000, 300000))))
            for _ in range(rnd.randint(0, 6)):
                _gen_request(rnd, ops)
        elif r < 0.7:
            ops.append(("w", rbytes(rnd, 1, 12)))
        elif r < 0.8:   # 5-baud address bits, or any long low
            ops.append(("low", rnd.choice((200000, 400000, 1000, rnd.randint(1, 500000)))))
        elif r < 0.85:
            ops.append(("baud", rnd.choice((10400, 9600, 5))))
        else:
            ops.append(("run", rnd.choice((0, 962, 5000, 25000, 55000, 100000, 6000000))))
    return (rnd.random() < 0.5, ops)


def check_kline_ecu(inp, nodes=None):
    """The ECU-role link machine on the simulated wire, a raw port sending
    arbitrary bytes, low pulses, wake-up patterns and (mutated) frames, the
    application answering each request at once: never raises; every event is
    a known EV_* with OK or a K_* result (ISO 14230-2 section 6: faults are
    results, never exceptions); the wire and the machine go idle.  nodes: a
    list to get the ECU's node (its events) back, for tests."""
    from diagbridge.errors import UsageError
    from diagbridge.kline import EcuConfig, KLineEcu, EV_REQUEST
    from diagbridge.kline import events as KE
    from diagbridge.sim.kernel import Kernel
    from diagbridge.sim.kline import KLine
    from kline_support import Node
    answer_now, ops = inp
    k = Kernel(T0)
    line = KLine(k)
    evs = frozenset(v for n, v in vars(KE).items() if n.startswith("EV_"))
    answered = []

    def app(node, now, ev):
        if ev != EV_REQUEST:
            return
        m = node.m
        sid = m.payload[m.data_off]

        def go(now, arg):
            try:
                node.m.respond(now, bytes(((sid + 0x40) & 0xFF, 0x00)), 2)
                answered.append(sid)
            except UsageError:
                pass            # the request is no longer open (P2max passed, a new init)
            node.flush(now)
        k.call_later(0 if answer_now else 30000, go)

    ecu = Node(k, line, "ecu", KLineEcu(EcuConfig(address=0x11, groups=(0x33,))), app)
    if nodes is not None:
        nodes.append(ecu)
    raw = line.attach("raw")
    for op in ops:
        if op[0] == "w":
            raw.write_bytes(op[1])
        elif op[0] == "low":
            raw.drive_low(op[1])
        elif op[0] == "baud":
            raw.set_baud(op[1])
        else:
            k.run_for(op[1])
    k.run_until_idle(600_000_000)
    for t, ev, result, peer in ecu.events:
        assert ev in evs, ("unknown event", ev)
        assert result in K_CODES, ("unknown result", ev, result)
    assert ecu.m.deadline() is None, ("the ECU machine never went idle", ecu.m.deadline())
    return True
