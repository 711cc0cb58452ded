"""CAN-TP benchmark: diagbridge vs can-isotp 2.x, side by side in one run.

Prints figures; it is not a test.  Run it through ``tools/bench``.

(a) core only: two stacks wired directly in one thread, no bus.
    ours:      two diagbridge.cantp Channels, frames moved by a loop
    can-isotp: two TransportLayerLogic objects with in-memory rxfn/txfn queues,
               both pumped with process() by one loop (its documented
               no-thread mode)
(b) end to end over python-can's virtual bus, two bus objects on one channel,
    sender -> receiver in one process:
    ours:      diagbridge.cpy.cantp.blocking.open_channel (one I/O thread per bus)
    can-isotp: isotp.CanStack started (its threaded v2 mode)

Cases: 4095 B and 64 KiB, classical (8-byte) and CAN FD (64-byte) frames,
receiver BS=0 and BS=8, STmin=0, normal 11-bit addressing, padding 0xCC.
Both implementations of a case are set up together and their repeats
alternate (ours, theirs, theirs, ours, ...), so that a burst of load from
another process on a shared machine hits both alike.
Figures per case are medians over the repeats: payload bytes/s (wall time
from the send call until the receiver has the whole message, checked byte
for byte) and CPU microseconds per frame (time.process_time of the whole
process, i.e. both ends and the bus, divided by FF + CF + FC frames).
Ratios: CPU = theirs / ours (higher is better for us), throughput = ours /
theirs.  Then the MicroPython figure (tools/bench_mpy_cantp.mjs).
"""
import argparse
import gc
import math
import os
import statistics
import subprocess
import sys
import time
from collections import deque

import can
import isotp

from diagbridge.cantp import Address, Channel, TpConfig, ADDR_NORMAL_11, EV_RX_DONE
from diagbridge.cpy.cantp.blocking import open_channel
from diagbridge.cpy.clock import now_us

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = (4095, 65536)
MAX = 70000


def n_frames(size, fd, bs):
    """FF + CFs + FCs of one transfer (normal addressing, same for both stacks)."""
    dl = 64 if fd else 8
    if size <= 4095:
        ff = dl - 2
    else:
        ff = dl - 6
    cf = math.ceil((size - ff) / (dl - 1))
    fc = 1 if bs == 0 else math.ceil(cf / bs)
    return 1 + cf + fc


def payload(size):
    return bytes((i * 13 + (i >> 8)) & 0xFF for i in range(size))


def measure(runs, reps, frames, size):
    """runs: {impl: run} where run() does one transfer; returns {impl: (bytes/s,
    cpu us/frame)}, medians over reps, the implementations' repeats alternating."""
    names = list(runs)
    for name in names:
        runs[name]()                        # warm-up
    walls = {name: [] for name in names}
    cpus = {name: [] for name in names}
    for r in range(reps):
        for name in (names if r % 2 == 0 else names[::-1]):
            gc.collect()
            w0, c0 = time.perf_counter(), time.process_time()
            runs[name]()
            w1, c1 = time.perf_counter(), time.process_time()
            walls[name].append(w1 - w0)
            cpus[name].append(c1 - c0)
    return {name: (size / statistics.median(walls[name]),
                   statistics.median(cpus[name]) / frames * 1e6) for name in names}


# -- (a) core only ---------------------------------------------------------------
def core_ours(size, fd, bs):
    cfg = TpConfig(block_size=bs, max_pdu=MAX, fd=fd, tx_dl=64 if fd else 8)
    a = Channel(cfg, Address(ADDR_NORMAL_11, tx_id=0x7E0, rx_id=0x7E8))
    b = Channel(cfg, Address(ADDR_NORMAL_11, tx_id=0x7E8, rx_id=0x7E0))
    out = bytearray(64)
    data = payload(size)

    def run():
        a.request(now_us(), data, size)
        while True:
            t = now_us()
            n = a.pop_frame(out)
            while n:                        # all the sender has due, then the receiver
                b.feed_frame(t, a.tx_id, out, n, a.tx_flags)
                a.confirm(t, True, a.tx_tag)
                n = a.pop_frame(out)
            n = b.pop_frame(out)
            while n:
                a.feed_frame(t, b.tx_id, out, n, b.tx_flags)
                b.confirm(t, True, b.tx_tag)
                n = b.pop_frame(out)
            while a.poll():
                pass
            ev = b.poll()
            while ev:
                if ev == EV_RX_DONE:
                    assert b.length == size and b.payload[size - 1] == data[size - 1]
                    return
                ev = b.poll()
    return run


def core_isotp(size, fd, bs):
    qa, qb = deque(), deque()
    fdp = dict(can_fd=True, tx_data_length=64, bitrate_switch=True) if fd else {}
    params = dict(stmin=0, blocksize=bs, tx_padding=0xCC, max_frame_size=MAX, **fdp)
    a = isotp.TransportLayerLogic(rxfn=lambda: qa.popleft() if qa else None, txfn=qb.append,
                                  address=isotp.Address(isotp.AddressingMode.Normal_11bits,
                                                        txid=0x7E0, rxid=0x7E8),
                                  params=params)
    b = isotp.TransportLayerLogic(rxfn=lambda: qb.popleft() if qb else None, txfn=qa.append,
                                  address=isotp.Address(isotp.AddressingMode.Normal_11bits,
                                                        txid=0x7E8, rxid=0x7E0),
                                  params=params)
    data = payload(size)

    def run():
        a.send(data)
        while True:
            a.process()
            b.process()
            r = b.recv()
            if r is not None:
                assert len(r) == size and r[-1] == data[-1]
                return
    return run


# -- (b) end to end over the virtual bus -----------------------------------------------
class E2E:
    def __init__(self, impl, size, fd, bs, name):
        self.buses = [can.Bus(interface="virtual", channel=name) for _ in range(2)]
        self.data = payload(size)
        self.size = size
        if impl == "ours":
            fdp = dict(fd=True, tx_dl=64) if fd else {}
            self.a = open_channel(self.buses[0], tx_id=0x7E0, rx_id=0x7E8,
                                  max_frame_size=MAX, block_size=bs, **fdp)
            self.b = open_channel(self.buses[1], tx_id=0x7E8, rx_id=0x7E0,
                                  max_frame_size=MAX, block_size=bs, **fdp)
            self.close = lambda: (self.a.close(), self.b.close())
            self.run = self._run_ours
        else:
            fdp = dict(can_fd=True, tx_data_length=64, bitrate_switch=True) if fd else {}
            params = dict(stmin=0, blocksize=bs, tx_padding=0xCC, max_frame_size=MAX, **fdp)
            am = isotp.AddressingMode.Normal_11bits
            self.a = isotp.CanStack(self.buses[0], address=isotp.Address(am, txid=0x7E0, rxid=0x7E8),
                                    params=params)
            self.b = isotp.CanStack(self.buses[1], address=isotp.Address(am, txid=0x7E8, rxid=0x7E0),
                                    params=params)
            self.a.start()
            self.b.start()
            self.close = lambda: (self.a.stop(), self.b.stop())
            self.run = self._run_isotp

    def _run_ours(self):
        self.a.send(self.data, timeout=60)
        r = self.b.recv(timeout=60)
        assert r == self.data

    def _run_isotp(self):
        self.a.send(self.data)
        r = self.b.recv(block=True, timeout=60)
        assert r == self.data

    def shutdown(self):
        self.close()
        for bus in self.buses:
            bus.shutdown()


def mpy_figure():
    """frames/s of a 4095-byte classical transfer between two Channels under MicroPython."""
    mjs = os.path.join(ROOT, "tools", "bench_mpy_cantp.mjs")
    try:
        out = subprocess.run(["node", mjs], capture_output=True, text=True, timeout=120,
                             cwd=ROOT, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "MicroPython bench failed: %s" % e
    lines = [ln for ln in out.stdout.splitlines() if ln.strip()]
    if out.returncode != 0 or not lines:
        return "MicroPython bench failed: %s" % (out.stderr.strip() or out.stdout.strip())
    return lines[-1]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=7, help="repeats per 4095-byte case")
    ap.add_argument("--reps-64k", type=int, default=3, help="repeats per 64 KiB case")
    ap.add_argument("--no-mpy", action="store_true", help="skip the MicroPython figure")
    args = ap.parse_args(argv)
    print("CAN-TP bench: diagbridge vs can-isotp %s, python-can %s, CPython %s, %d CPUs"
          % (getattr(isotp, "__version__", "2.x"), can.__version__, sys.version.split()[0],
             os.cpu_count() or 0))
    print("B/s = payload bytes per second (wall); us/fr = process CPU us per frame (both ends)")
    print("ratios: cpu = can-isotp us/fr / ours, thr = ours B/s / can-isotp B/s\n")
    hdr = "%-8s %-28s %10s %7s %10s %7s %7s %7s" % (
        "part", "case", "ours B/s", "us/fr", "isotp B/s", "us/fr", "cpu x", "thr x")
    print(hdr)
    print("-" * len(hdr))
    seq = 0
    summary = {"core": [], "virtual": []}
    for part in ("core", "virtual"):
        for size in SIZES:
            for fd in (False, True):
                for bs in (0, 8):
                    frames = n_frames(size, fd, bs)
                    reps = args.reps if size <= 4095 else args.reps_64k
                    if part == "core":
                        res = measure({"ours": core_ours(size, fd, bs),
                                       "isotp": core_isotp(size, fd, bs)}, reps, frames, size)
                    else:
                        e2e = []
                        try:
                            for impl in ("ours", "isotp"):
                                seq += 1
                                e2e.append(E2E(impl, size, fd, bs,
                                               "bench-%d-%d" % (os.getpid(), seq)))
                            res = measure({"ours": e2e[0].run, "isotp": e2e[1].run},
                                          reps, frames, size)
                        finally:
                            for e in e2e:
                                e.shutdown()
                    (ob, oc), (ib, ic) = res["ours"], res["isotp"]
                    case = "%5d B %-7s BS=%d (%d fr)" % (size, "FD64" if fd else "classic",
                                                         bs, frames)
                    summary[part].append((ic / oc, ob / ib))
                    print("%-8s %-28s %10.0f %7.2f %10.0f %7.2f %7.1f %7.2f" % (
                        part, case, ob, oc, ib, ic, ic / oc, ob / ib))
                    sys.stdout.flush()
    print()
    for part, rows in summary.items():
        cpu = [r[0] for r in rows]
        thr = [r[1] for r in rows]
        print("%-8s cpu ratio min %.1f / median %.1f; throughput ratio min %.2f / median %.2f"
              % (part, min(cpu), statistics.median(cpu), min(thr), statistics.median(thr)))
    print("targets: core cpu ratio >= 5; virtual throughput ratio >= 2.5")
    if not args.no_mpy:
        print(mpy_figure())


if __name__ == "__main__":
    main()
