"""``diagbridge sim``: the whole simulated vehicle behind a real TCP host link,
until Ctrl-C, so every CLI command, udsoncan script and python-can tool can
be tried without hardware.

    diagbridge sim                                  # tcp://127.0.0.1:6520, no key needed
    diagbridge sim --listen tcp://127.0.0.1:0       # a free port (printed)
    diagbridge sim --key-file keys.txt              # hosts log in with a key, as on a Pi
    diagbridge sim --nvm ./sim-nvm                  # ECU state survives restarts too

The vehicle (diagbridge.sim.vehicle: the gateway with engine and gearbox on
bus 0, ABS on bus 1) lives as long as the process, its virtual clock run
along the real one; the gateway daemon's own link transport
(diagbridge.cpy.gateway.link: ``TcpLinkPort`` and ``LinkHub``) carries the
bytes, so a host sees exactly what it sees against a board: one host at a
time, HMAC login with a key file, back-off after failed logins.  Every ECU
has an NVM (in memory, or a FileNvm per ECU in ``--nvm DIR``): written DIDs
and cleared DTCs stay so across commands, ECU resets and, with ``--nvm``,
restarts.

Without ``--key-file`` every role is granted without a key, so the link
listens on loopback only; a network address needs a key file.  Exit status:
0 after a clean stop (SIGINT / SIGTERM), 2 for a bad option or key file,
1 when the port cannot be opened.

Like ``transports/sim.py``, this module imports the simulation and the
daemon's transports inside the functions that use them, so importing the
host library loads neither.
"""
from __future__ import annotations

import hashlib
import logging
import os
import select
import signal
import sys
import threading
from typing import Any, Callable, Optional

from diagbridge.link import proto as P

log = logging.getLogger(__name__)

__all__ = ["SimServer", "add_sim_command", "run_sim", "DEFAULT_LISTEN"]

DEFAULT_LISTEN = "tcp://127.0.0.1:6520"
_ECUS = ("engine", "gearbox", "abs")


class _SessionView:
    """The gateway's link session as LinkHub reads it, on the vehicle's
    virtual clock (the hub passes real ticks; the simulation has its own)."""

    def __init__(self, vehicle: Any) -> None:
        self._v = vehicle

    @property
    def state(self) -> int:
        return self._v.gw.link.state

    @property
    def auth_failures(self) -> int:
        return self._v.gw.link.auth_failures

    @property
    def role(self) -> int:
        return self._v.gw.link.role

    def hang_up(self, now: int) -> None:
        self._v.gw.link.hang_up(self._v.k.now)


class _VehicleLink:
    """The vehicle's gateway with the verbs LinkHub uses (feed_link,
    pop_link, on_timer, link), all on the vehicle's own clock."""

    def __init__(self, vehicle: Any) -> None:
        self.v = vehicle
        self.link = _SessionView(vehicle)
        self._pending = bytearray()

    def feed_link(self, now: int, data: bytes, n: int) -> None:
        self.v.link.feed(bytes(data[:n]))

    def on_timer(self, now: int) -> None:
        self.v.node.on_timer(self.v.k.now)

    def pop_link(self, out: Any) -> int:
        p = self._pending
        if not p:
            p += self.v.link.read()
        n = min(len(out), len(p))
        out[:n] = p[:n]
        del p[:n]
        return n


class SimServer:
    """The simulated vehicle on a TCP host link.

    ``listen``: tcp://HOST:PORT (port 0: a free one, see ``url``); ``keys``:
    ((role, key), ...) as a key file gives them; ``open_role``: the role a
    host gets without a key (default: full when there are no keys, else
    none); ``nvm_dir``: one FileNvm folder per ECU in it (default: MemNvm,
    kept as long as this object); ``urandom``: the gateway's nonces and the
    ECUs' seed entropy (None: deterministic, as the demo's transcript needs).

    ``serve(stop)`` runs the loop in this thread until ``stop()``;
    ``start()`` runs it in a thread of its own.  Not thread-safe otherwise:
    use ``call(fn)`` to touch the vehicle from another thread."""

    def __init__(self, listen: str = DEFAULT_LISTEN, keys: tuple = (),
                 open_role: Optional[int] = None, nvm_dir: Optional[str] = None,
                 urandom: Optional[Callable[[int], bytes]] = None) -> None:
        from diagbridge.cpy.gateway.link import LinkHub, TcpLinkPort
        from diagbridge.sim.vehicle import Vehicle
        from diagbridge_host.transports.sim import RealTime
        if open_role is None:
            open_role = P.ROLE_NONE if keys else P.ROLE_FULL
        nvm: Optional[Callable] = None
        if nvm_dir is not None:
            from diagbridge.cpy.nvm_file import FileNvm
            os.makedirs(nvm_dir, exist_ok=True)
            folder = nvm_dir
            nvm = lambda name: FileNvm(os.path.join(folder, name))     # noqa: E731
        self.vehicle = Vehicle(hashlib.sha256, urandom=urandom, keys=tuple(keys),
                               open_role=open_role, nvm=nvm)
        self.open_role = open_role
        self.keys = tuple(keys)
        self._rt = RealTime(self.vehicle)
        self.hub = LinkHub(_VehicleLink(self.vehicle))
        self.port = TcpLinkPort(self.hub, listen)
        self.url = self.port.url
        self._stop = threading.Event()
        self._calls: list = []
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._closed = False

    # ---- running ---------------------------------------------------------------------
    def serve(self) -> None:
        """Pump the vehicle and the link until ``stop()``; then close."""
        from diagbridge.cpy.clock import now_us
        port = self.port
        rt = self._rt
        try:
            while not self._stop.is_set():
                rt.advance()
                self._run_calls()
                self.hub.flush()
                wait = rt.wait_s()
                t_port = port.timeout_s()
                if t_port is not None:
                    wait = min(wait, max(0.0, t_port))
                r, w, _ = select.select(port.read_fds(), port.write_fds(), [], wait)
                t = now_us()
                for fd in r:
                    port.on_readable(fd, t)
                if w:
                    port.on_writable()
                port.on_timer(t)
        finally:
            self._close_port()

    def start(self) -> "SimServer":
        """Serve from a daemon thread (the demo, tests); ``close()`` stops it."""
        self._thread = threading.Thread(target=self.serve, daemon=True, name="diagbridge-sim")
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the loop to end (safe from a signal handler or another thread)."""
        self._stop.set()

    def close(self) -> None:
        """Stop the loop and wait for it (or close the port if it never ran)."""
        self.stop()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5.0)
        elif self._thread is None:
            self._close_port()

    def call(self, fn: Callable, timeout_s: float = 10.0) -> Any:
        """Run ``fn(vehicle)`` in the loop's thread and return its result."""
        done = threading.Event()
        box: list = []
        with self._lock:
            self._calls.append((fn, box, done))
        if not done.wait(timeout_s):
            raise TimeoutError("the simulated vehicle did not run the call")
        if isinstance(box[0], BaseException):
            raise box[0]
        return box[0]

    def _run_calls(self) -> None:
        with self._lock:
            calls, self._calls = self._calls, []
        for fn, box, done in calls:
            try:
                box.append(fn(self.vehicle))
            except BaseException as e:      # noqa: BLE001 (handed to the caller)
                box.append(e)
            done.set()

    def _close_port(self) -> None:
        if not self._closed:
            self._closed = True
            self.port.close()
            for name in _ECUS:
                sync = getattr(self.vehicle.nvms.get(name), "sync", None)
                if sync is not None:
                    sync()              # deferred FileNvm writes reach the disk

    def __enter__(self) -> "SimServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ---- the `diagbridge sim` command ------------------------------------------------------
def add_sim_command(sub: Any) -> None:
    """Add ``sim`` to the ``diagbridge`` command's ``add_subparsers()`` object."""
    import argparse
    p = sub.add_parser("sim", help="serve the simulated vehicle on a TCP host link",
                       description="Serve the whole simulated vehicle (engine 7E0/7E8 and "
                       "gearbox 7E1/7E9 on bus 0,\nABS on bus 1) behind a real TCP host link "
                       "until Ctrl-C, so every diagbridge command,\nudsoncan script and "
                       "python-can tool can be tried without hardware.  ECU state (cleared\n"
                       "DTCs, written DIDs) stays across commands and ECU resets; with --nvm "
                       "across restarts too.",
                       epilog=__doc__.split("\n\n")[1],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--listen", default=DEFAULT_LISTEN, metavar="tcp://HOST:PORT",
                   help="TCP host link (default %s: loopback only; port 0 = a free one)"
                   % DEFAULT_LISTEN)
    p.add_argument("--key-file", metavar="FILE", default=None,
                   help="pre-shared keys (the gateway's format: 'full: KEY' lines); "
                   "default: every role without a key")
    p.add_argument("--nvm", metavar="DIR", default=None,
                   help="keep each ECU's NVM (written DIDs, DTCs, security counters) in "
                   "DIR/<ecu> across restarts (default: in memory, as long as the process)")


def run_sim(args: Any, parser: Any) -> int:
    """``diagbridge sim``: serve until SIGINT / SIGTERM; the exit status."""
    from diagbridge.cpy.gateway.link import LinkSetupError, parse_tcp, tcp_is_loopback
    from diagbridge.errors import ConfigError
    keys: tuple = ()
    try:
        parse_tcp(args.listen)
        if args.key_file:
            from diagbridge.cpy.gateway.config import read_key_file
            keys = read_key_file(args.key_file)
        if not keys and not tcp_is_loopback(args.listen):
            raise ConfigError("%s is reachable from the network and the simulated vehicle "
                              "grants every role without a key: listen on loopback "
                              "(tcp://127.0.0.1:6520) or give --key-file" % args.listen)
    except (ConfigError, LinkSetupError) as e:
        parser.error(str(e))                        # exits with status 2
    try:
        srv = SimServer(args.listen, keys, nvm_dir=args.nvm, urandom=os.urandom)
    except LinkSetupError as e:
        print("diagbridge sim: %s" % e, file=sys.stderr, flush=True)
        return 1
    except OSError as e:
        print("diagbridge sim: --nvm %s: %s" % (args.nvm, e.strerror or e), file=sys.stderr,
              flush=True)
        return 1

    def on_signal(signum: Any, frame: Any) -> None:
        srv.stop()
    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    roles = "a key (%s)" % ", ".join(sorted({_role_name(r) for r, _ in keys})) if keys \
        else "no key (every role)"
    print("diagbridge sim: serving the simulated vehicle on %s, hosts need %s; "
          "engine 7E0/7E8 and gearbox 7E1/7E9 on bus 0, ABS 7E0/7E8 on bus 1%s; Ctrl-C stops"
          % (srv.url, roles, "; NVM in %s" % args.nvm if args.nvm else ""), flush=True)
    try:
        srv.serve()
    finally:
        for s in old:
            signal.signal(s, old[s])
    print("diagbridge sim: stopped", flush=True)
    return 0


def _role_name(role: int) -> str:
    return {P.ROLE_MONITOR: "monitor", P.ROLE_DIAGNOSTIC: "diagnostic",
            P.ROLE_FULL: "full"}.get(role, str(role))
