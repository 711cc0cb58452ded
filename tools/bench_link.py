"""Host-link benchmark: raw CAN frames/s streamed gateway -> host through
the gateway daemon, over TCP loopback and over a pseudo-terminal serial
pair, and the round-trip overhead the gateway adds to a UDS request.

The gateway side runs in a child process (this script with --serve): the
daemon (diagbridge.cpy.gateway.daemon, the portable Gateway in its select loop) on a
python-can virtual bus, a flooder on the same bus, and for the round trip
the engine ECU (diagbridge.cpy.ecu.runner).  The host side (diagbridge_host)
runs here, so each side has its own interpreter and GIL, as a Pi and a
laptop would.  Target (issue 6): a fully loaded 1 Mbit/s classical bus,
about 8,600 frames/s, reaches the host with no loss.  About a minute.

    python tools/bench_link.py [--seconds 3] [--links tcp,pty] [--rtt 300]
"""
import argparse
import os
import statistics
import subprocess
import sys
import threading
import time

TARGET_FPS = 8600           # 1 Mbit/s, 8-byte classical frames with stuffing: ~8,600/s
KEY = b"bench-key-0123456789abcdef012345"


# ---- the gateway side (child process) ------------------------------------------------------
def serve(link: str, ecu: bool) -> None:
    import can
    from diagbridge.cpy.gateway.daemon import Daemon
    from diagbridge.cpy.gateway.config import Board
    from diagbridge.link.proto import ROLE_FULL
    channel = "bench-%d" % os.getpid()
    board = Board(name="bench-gw", can=({"interface": "virtual", "channel": channel,
                                         "bitrate": 1000000},),
                  link_tcp="tcp://127.0.0.1:0" if link == "tcp" else None,
                  link_serial="pty" if link == "pty" else None)
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
    def __init__(self, link: str, ecu: bool = False):
        env = dict(os.environ)
        self.p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve", link]
                                  + (["--ecu"] if ecu else []), stdin=subprocess.PIPE,
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


def stream(link: str, seconds: float, fps: int) -> dict:
    """Flood n frames at fps (0: as fast as the flooder can) and count them on the host."""
    import diagbridge_host
    from diagbridge_host import events as E
    n = int(seconds * (fps or TARGET_FPS))
    child = Child(link)
    got = dropped = 0
    try:
        with diagbridge_host.connect(child.url, key=KEY, timeout_s=10, event_credits=4096) as c:
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--serve", choices=("tcp", "pty"), help=argparse.SUPPRESS)
    ap.add_argument("--ecu", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--seconds", type=float, default=3.0, help="flood length (default 3)")
    ap.add_argument("--links", default="tcp,pty")
    ap.add_argument("--rtt", type=int, default=300, help="UDS requests timed (default 300)")
    a = ap.parse_args()
    if a.serve:
        serve(a.serve, a.ecu)
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
    if a.rtt:
        via, direct = rtt("tcp", a.rtt)
        print("  UDS 22 F1 90 round trip (median of %d): host -> gateway (TCP) -> ECU -> host "
              "%.3f ms; direct CAN-TP on the bus %.3f ms; the gateway adds %.3f ms"
              % (a.rtt, via * 1e3, direct * 1e3, (via - direct) * 1e3))
    print("bench_link: 1 Mbit/s target %s" % ("met on every link" if met else "NOT met"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
