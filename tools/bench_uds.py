"""UDS server benchmark: requests served per second and round-trip time.

Prints figures; it is not a test.  ``.venv/bin/python tools/bench_uds.py``
(or ``tools/bench --only uds [-- --requests N]``).  About 20 s.

Two requests against the engine ECU profile (uds/server/profiles/engine.py, plus a
3997-byte DID 0x0F00 for the long answer), one request at a time:
    RDBI single frame   22 F1 88 -> 62 F1 88 "4021"    (SF -> SF)
    4000-byte response  22 0F 00 -> 62 0F 00 + 3997 B  (SF -> FF + 571 CF, the
                        tester's FC every 8 CFs, STmin 0)
(a) core only: a tester diagbridge.cantp Channel and a diagbridge.ecu.Ecu in
    one loop that moves frames between them at once (no bus, no threads) --
    on CPython and on MicroPython 1.27 (the npm WebAssembly build in .mpy/,
    loaded as tools/mpy_run_tests.mjs does; a board is slower still);
(b) python-can's virtual bus: the Ecu served by diagbridge.cpy.ecu.runner
    (the CAN-TP adapter's I/O thread), and as the client udsoncan over
    can-isotp's NotifierBasedCanStack -- and, for comparison, our own
    blocking CAN-TP adapter (cpy.cantp.blocking) sending the raw request.
RTT = wall time from the request call until the whole response is back
(median; the mean under MicroPython, whose WebAssembly clock ticks in ms);
requests/s = count / total wall time.

This file is also imported inside MicroPython for (a): keep its top level
portable (only sys and time).
"""
import sys
import time

MPY = sys.implementation.name == "micropython"
BIG_DID = 0x0F00
BIG_LEN = 3997
SF_REQ = b"\x22\xf1\x88"
BIG_REQ = b"\x22\x0f\x00"


def _ticks():
    if MPY:
        return time.ticks_us()
    return time.perf_counter_ns() // 1000


def _diff(a, b):
    if MPY:
        return time.ticks_diff(a, b)
    return a - b


def engine_profile():
    from diagbridge.uds.server.profile import Profile
    from diagbridge.uds.server.profiles import engine
    d = engine.profile()
    big = bytearray(BIG_LEN)
    for i in range(BIG_LEN):
        big[i] = (i * 7 + 3) & 0xFF
    d["dids"][BIG_DID] = {"length": BIG_LEN, "value": bytes(big)}
    return Profile(d, sources=engine.sources(engine.EngineState()))


# ---- (a) core only: portable ---------------------------------------------------------
def core_bench(reps_sf, reps_big):
    """(rps, median rtt us) for the SF request and for the 4000-byte answer."""
    from diagbridge.clock import TICKS_MASK
    from diagbridge.cantp import Channel, TpConfig, Address, ADDR_NORMAL_11, EV_RX_DONE
    from diagbridge.ecu import Ecu
    ecu = Ecu(engine_profile())
    t = Channel(TpConfig(), Address(ADDR_NORMAL_11, tx_id=0x7E0, rx_id=0x7E8))
    buf = bytearray(64)

    def one(req, n_rsp):
        now = _ticks() & TICKS_MASK
        t.request(now, req, len(req))
        while True:
            moved = False
            n = t.pop_frame(buf)
            if n:
                t.confirm(now, True, t.tx_tag)
                ecu.feed_frame(now, t.tx_id, buf, n, t.tx_flags)
                moved = True
            n = ecu.pop_frame(buf)
            if n:
                ecu.confirm(now, True, ecu.tx_tag)
                t.feed_frame(now, ecu.tx_id, buf, n, ecu.tx_flags)
                moved = True
            ev = t.poll()
            while ev:
                if ev == EV_RX_DONE:
                    if t.length != n_rsp:
                        raise RuntimeError("bad response length %d" % t.length)
                    while ecu.poll():
                        pass
                    return
                ev = t.poll()
            if not moved:
                now = _ticks() & TICKS_MASK
                ecu.on_timer(now)
                t.on_timer(now)

    out = []
    for req, n_rsp, reps in ((SF_REQ, 7, reps_sf), (BIG_REQ, 3 + BIG_LEN, reps_big)):
        one(req, n_rsp)                                 # warm-up
        rtts = []
        t0 = _ticks()
        for _ in range(reps):
            a = _ticks()
            one(req, n_rsp)
            rtts.append(_diff(_ticks(), a))
        total = _diff(_ticks(), t0)
        rtts.sort()
        # the WebAssembly build's ticks_us counts in whole milliseconds: there
        # the mean is the only meaningful round-trip figure
        rtt = total // reps if MPY else rtts[len(rtts) // 2]
        out.append((reps * 1000000 // max(total, 1), rtt))
    return out


def mpy_main(reps_sf=300, reps_big=5):
    """Entry point inside MicroPython: one machine-readable line."""
    (sf_rps, sf_us), (big_rps, big_us) = core_bench(reps_sf, reps_big)
    print("@@bench %d %d %d %d" % (sf_rps, sf_us, big_rps, big_us))


# ---- the rest is CPython only ----------------------------------------------------------
_MJS = r"""
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
const [root, bench] = process.argv.slice(2);
const pkg = process.env.MPY_PKG ||
  path.join(root, ".mpy/node_modules/@micropython/micropython-webassembly-pyscript");
const { loadMicroPython } = await import(pathToFileURL(path.join(pkg, "micropython.mjs")).href);
const mp = await loadMicroPython({
  heapsize: 16 * 1024 * 1024,
  stdout: (line) => process.stdout.write(line + "\n"),
  stderr: (line) => process.stderr.write(line + "\n"),
});
function copyTree(src, dst) {
  mp.FS.mkdirTree(dst);
  for (const ent of fs.readdirSync(src, { withFileTypes: true })) {
    const s = path.join(src, ent.name), d = dst + "/" + ent.name;
    if (ent.isDirectory()) {
      if (ent.name !== "__pycache__" && ent.name !== "cpy") copyTree(s, d);
    } else if (ent.name.endsWith(".py")) {
      mp.FS.writeFile(d, fs.readFileSync(s));
    }
  }
}
copyTree(path.join(root, "firmware/diagbridge"), "/lib/diagbridge");
mp.FS.mkdirTree("/tools");
mp.FS.writeFile("/tools/bench_uds.py", fs.readFileSync(bench));
mp.runPython("import sys\nsys.path.append('/tools')\nimport bench_uds\nbench_uds.mpy_main()");
"""


def mpy_bench(root):
    """(a) under the npm MicroPython; None (and a reason) when unavailable."""
    import os
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        js = os.path.join(tmp, "bench_uds_mpy.mjs")
        with open(js, "w") as f:
            f.write(_MJS)
        try:
            p = subprocess.run(["node", js, root, os.path.abspath(__file__)],
                               capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as e:
            return None, str(e)
    for line in p.stdout.splitlines():
        if line.startswith("@@bench "):
            v = [int(x) for x in line.split()[1:]]
            return ((v[0], v[1]), (v[2], v[3])), ""
    return None, (p.stderr.strip().splitlines() or ["no output"])[-1]


def bus_bench(reps_sf, reps_big):
    """(b): {client name: [(rps, rtt us) SF, (rps, rtt us) 4000 B]}."""
    import os
    import statistics
    import can
    import isotp
    import udsoncan
    from udsoncan.client import Client
    from udsoncan.connections import PythonIsoTpConnection
    from diagbridge.ecu import Ecu
    from diagbridge.cpy.ecu.runner import EcuRunner
    from diagbridge.cpy.cantp.blocking import open_channel

    class Raw(udsoncan.DidCodec):
        def __init__(self, n):
            self.n = n

        def encode(self, v):
            return v

        def decode(self, b):
            return b

        def __len__(self):
            return self.n

    ch = "bench-uds-%d" % os.getpid()
    bus_e = can.Bus(interface="virtual", channel=ch)
    bus_t = can.Bus(interface="virtual", channel=ch)
    results = {}
    runner = EcuRunner(bus_e, Ecu(engine_profile()))
    try:
        def timed(fn, reps):
            fn()
            rtts = []
            t0 = time.perf_counter()
            for _ in range(reps):
                a = time.perf_counter()
                fn()
                rtts.append(time.perf_counter() - a)
            total = time.perf_counter() - t0
            return reps / total, statistics.median(rtts) * 1e6

        notifier = can.Notifier(bus_t, [], timeout=0.1)
        stack = isotp.NotifierBasedCanStack(
            bus_t, notifier, params={"blocking_send": True},
            address=isotp.Address(isotp.AddressingMode.Normal_11bits, txid=0x7E0, rxid=0x7E8))
        cfg = dict(udsoncan.configs.default_client_config)
        cfg["data_identifiers"] = {0xF188: Raw(4), BIG_DID: Raw(BIG_LEN)}
        cfg["use_server_timing"] = False
        cfg["p2_timeout"] = 5
        with Client(PythonIsoTpConnection(stack), config=cfg) as c:
            def sf():
                assert c.read_data_by_identifier_first(0xF188) == b"4021"

            def big():
                assert len(c.read_data_by_identifier_first(BIG_DID)) == BIG_LEN
            results["udsoncan + can-isotp"] = [timed(sf, reps_sf), timed(big, reps_big)]
        notifier.stop()
        with open_channel(bus_t, tx_id=0x7E0, rx_id=0x7E8) as tp:
            def ask(req, n):
                tp.send(req, timeout=5)
                r = tp.recv(timeout=5)
                assert r is not None and len(r) == n
            results["diagbridge cpy.cantp.blocking"] = [
                timed(lambda: ask(SF_REQ, 7), reps_sf),
                timed(lambda: ask(BIG_REQ, 3 + BIG_LEN), reps_big)]
    finally:
        runner.close()
        bus_t.shutdown()
        bus_e.shutdown()
    return results


def main(argv=None):
    import argparse
    import os
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=2000,
                    help="scale N (default 2000): single-frame requests: 5N core-only, "
                    "N/4 on the virtual bus; the 4000-byte case a tenth of that")
    ap.add_argument("--no-mpy", action="store_true", help="skip the MicroPython figure")
    args = ap.parse_args(argv)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, os.path.join(root, "firmware"))
    reps = max(args.requests, 20)
    big_reps = max(reps // 10, 5)
    rows = []
    (sf, big) = core_bench(reps * 5, big_reps * 2)
    rows.append(("(a) core, CPython %d.%d" % sys.version_info[:2], sf, big))
    if not args.no_mpy:
        r, why = mpy_bench(root)
        if r is None:
            rows.append(("(a) core, MicroPython: unavailable (%s)" % why, None, None))
        else:
            rows.append(("(a) core, MicroPython 1.27 (wasm)", r[0], r[1]))
    for name, (s, b) in bus_bench(reps // 4, max(big_reps // 4, 5)).items():
        rows.append(("(b) virtual bus, " + name, s, b))
    print("UDS server (diagbridge.ecu.Ecu, engine profile), one request at a time")
    print("%-44s %22s %22s" % ("", "22 F1 88 (SF -> SF)", "22 0F 00 (-> 4000 B)"))
    print("%-44s %10s %11s %10s %11s" % ("", "req/s", "RTT us", "req/s", "RTT us"))
    for name, s, b in rows:
        if s is None:
            print(name)
            continue
        print("%-44s %10d %11d %10d %11d" % (name, s[0], s[1], b[0], b[1]))


if __name__ == "__main__":
    main()
