"""``diagbridge-gw``: the gateway daemon for a Raspberry Pi with a CAN HAT
(or any Linux box with python-can): the portable ``diagbridge.gateway``
behind a TCP port and/or a serial line for the host link.

    diagbridge-gw --board boards/pi-can-hat/board.py
    diagbridge-gw --interface virtual --channel test --listen tcp://127.0.0.1:0 \\
                  --open-role full                       # a test gateway, no key

The board file (diagbridge.cpy.gateway.config) names the CAN buses, the host-link
transports and the key file; command-line options override it.  Several
hosts at once (diagbridge.cpy.gateway.link): up to the board's MAX_HOSTS (4
by default, --max-hosts) TCP hosts, each on its own host slot of the
gateway, plus one slot for the serial line.  Logs go to stderr (the systemd journal
captures them); ``--log-level`` sets the level.  SIGINT or SIGTERM stops it
cleanly: the host gets a BYE, buses and ports are closed.

Exposure: without a board file the TCP host link listens on loopback only
(tcp://127.0.0.1:6520); a network address is asked for explicitly (the
board file's LINK_TCP, or --listen tcp://0.0.0.0:6520).  A role granted
without a key on a network address is logged as a warning, and the full role
(--open-role full, or a board's link_config() granting it) on a network
address is refused (exit status 2) unless --allow-open-full-role-on-network
confirms it.  Failed logins back off (diagbridge.cpy.gateway.backoff): on
TCP per peer address, on a serial line per line (one peer: the next login
on that line is not judged before the back-off ends; a frame sent meanwhile
is answered with the refusal "too many failed logins on serial://...: try
again in N s" and counted).  The core's own one-peer back-off
(GatewayConfig.login_backoff_ms) is turned off here: behind one session the
daemon serves every TCP peer and the serial line, and one peer's failures
must not lock the others out.  STATUS counts failed logins
(``auth_failures``) and, from the daemon's ports, ``refused_connections``
(TCP connections refused before any login: a host is connected, or the
peer's back-off) and ``refused_login_backoff`` (logins refused during a
back-off, TCP and serial); the log says who failed and how often, and the
ports' counters are logged when the daemon stops.  No message or log line
holds any part of a key.

Exit status: 0 after a clean stop; 2 for a bad board file, key file or
option; 1 when a bus or a link port cannot be opened, or the loop failed.
The bound host-link addresses are printed on stdout once it runs
(``diagbridge-gw: host link on tcp://0.0.0.0:6520``), so ``--listen
tcp://127.0.0.1:0`` gives a free port and says which.
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import os
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Optional

from diagbridge.codes import LINK_UNEXPECTED
from diagbridge.errors import ConfigError
from diagbridge.gateway import Gateway
from diagbridge.link import proto as P
from diagbridge.link.cobs import encode_frame, frame_size
from diagbridge.link.msgpack import packb
from diagbridge.link.session import S_READY
from diagbridge.link.proto import ROLE_NONE, ROLE_FULL
from diagbridge.cpy.gateway.config import (Board, load_board, read_key_file, role_number,
                                      DEFAULT_PORT)
from diagbridge.cpy.gateway.backoff import LoginBackoff
from diagbridge.cpy.gateway.link import (LinkHub, TcpLinkPort, SerialLinkPort, LinkSetupError,
                                         tcp_is_loopback)
from diagbridge.cpy.gateway.runner import GatewayRunner

if TYPE_CHECKING:
    import can

log = logging.getLogger(__name__)

__all__ = ["Daemon", "DaemonError", "main", "build_parser", "DEFAULT_LISTEN", "ALLOW_OPEN_FULL"]

DEFAULT_KEY_FILE = "/etc/diagbridge/key"
DEFAULT_LISTEN = "tcp://127.0.0.1:%d" % DEFAULT_PORT       # loopback unless asked otherwise
ALLOW_OPEN_FULL = "--allow-open-full-role-on-network"
_SETS_BITRATE = ("socketcan", "virtual")     # interfaces python-can must not be given one


class DaemonError(Exception):
    """A bus or a port could not be opened (exit status 1)."""


class BackoffHub(LinkHub):
    """The link hub with the failed-login back-off on serial lines.

    A serial line has one peer, so the line is the back-off's key
    (``serial:<device>``, in a ``LoginBackoff`` of its own): after a failed
    login on it, bytes from the line are not given to the session until the
    back-off ends, unless a host is logged in on it; each chunk that ends a
    frame (a 0x00 delimiter) is answered with the refusal (ERROR
    LINK_UNEXPECTED) and counted in ``backoff.refused``.  TCP peers are the
    TCP port's business (``TcpLinkPort`` backs off per address at accept)."""

    def __init__(self, gw: Any, clock: Callable[[], float], backoff: LoginBackoff) -> None:
        super().__init__(gw)
        self._clock = clock
        self.backoff = backoff

    def deliver(self, port: Any, now: int, data: bytes, slot: int = 0) -> bool:
        if not isinstance(port, SerialLinkPort):
            return super().deliver(port, now, data, slot)
        key = "serial:" + port.device
        t = self._clock()
        link = self.session(slot)
        if link.state != S_READY:
            wait = self.backoff.wait_s(key, t)
            if wait > 0.0:
                if 0 in data:
                    self.backoff.refuse(key, t)
                    out = _refusal("too many failed logins on %s: try again in %.1f s"
                                   % (port.url, wait))
                    port.send(out, len(out))
                return False
        failures = link.auth_failures
        ok = super().deliver(port, now, data, slot)
        for _ in range(link.auth_failures - failures):
            count, wait = self.backoff.failed(key, t)
            log.warning("%s: %d failed logins in a row on this line: its next login is "
                        "judged in %.1f s at the earliest", port.url, count, wait)
        return ok


def _refusal(text: str) -> bytes:
    msg = packb([P.MSG_ERROR, 0, {P.K_CODE: LINK_UNEXPECTED, P.K_TEXT: text}])
    out = bytearray(frame_size(len(msg)))
    return bytes(out[:encode_frame(msg, len(msg), out)])


def open_can(spec: dict) -> can.BusABC:
    """A python-can bus from a board's CAN entry; DaemonError says what to do."""
    import can
    kw = {"interface": spec["interface"], "channel": spec["channel"]}
    if spec.get("bitrate") and spec["interface"] not in _SETS_BITRATE:
        kw["bitrate"] = spec["bitrate"]
    if spec.get("fd"):
        kw["fd"] = True
        if spec.get("data_bitrate") and spec["interface"] not in _SETS_BITRATE:
            kw["data_bitrate"] = spec["data_bitrate"]
    try:
        return can.Bus(**kw)
    except Exception as e:             # noqa: BLE001 (python-can raises many kinds)
        hint = ""
        if spec["interface"] == "socketcan":
            hint = (" (is the CAN HAT set up and the interface up? `sudo ip link set %s up "
                    "type can bitrate %d`)" % (spec["channel"], spec.get("bitrate") or 500000))
        raise DaemonError("cannot open %s channel %s: %s%s"
                          % (spec["interface"], spec["channel"], e, hint)) from None


class Daemon:
    """The pieces of a running gateway: buses, link ports, the Gateway and its
    runner.  ``open()`` builds them (DaemonError / ConfigError), ``run()``
    loops in this thread, ``start()`` in a new one, ``stop()`` ends it.

    ``allow_open_full_on_network`` confirms a full role without a key on a
    non-loopback TCP address (refused otherwise); ``clock`` (seconds,
    monotonic) and ``backoff`` go to the TCP port (lingering and the
    failed-login back-off), ``clock`` and ``serial_backoff`` to the serial
    line's back-off (``BackoffHub``), so tests can run them on a fake clock."""

    def __init__(self, board: Board, keys: tuple = (), open_role: int = ROLE_NONE,
                 sha256: Callable = hashlib.sha256, urandom: Callable = os.urandom, *,
                 allow_open_full_on_network: bool = False,
                 clock: Callable[[], float] = time.monotonic,
                 backoff: Optional[LoginBackoff] = None,
                 serial_backoff: Optional[LoginBackoff] = None) -> None:
        self.board = board
        self.link_cfg = board.link_config(keys, open_role)
        gw_cfg = board.gateway_config()
        gw_cfg.login_backoff_ms = 0     # the ports back off per peer (see the module doc)
        self.tcp_hosts = gw_cfg.max_hosts
        if board.link_serial:
            gw_cfg.max_hosts += 1       # the serial line's own slot, beside the TCP hosts
        self.gw = Gateway(gw_cfg, self.link_cfg, sha256, urandom)
        self.gw.adapter_stats = self._adapter_stats
        self.buses: list = []
        self.hub = BackoffHub(self.gw, clock, serial_backoff if serial_backoff is not None
                              else LoginBackoff())
        self.runner: Optional[GatewayRunner] = None
        self.urls: list = []
        self.tcp: Optional[TcpLinkPort] = None
        self.allow_open_full_on_network = allow_open_full_on_network
        self._clock = clock
        self._backoff = backoff

    def check_exposure(self) -> None:
        """ConfigError when a key-less full role would face the network;
        a warning for a lower key-less role there."""
        url = self.board.link_tcp
        open_role = self.link_cfg.open_role
        if not url or open_role == ROLE_NONE:
            return
        try:
            loopback = tcp_is_loopback(url)
        except LinkSetupError as e:
            raise ConfigError(str(e)) from None
        if loopback:
            return
        from diagbridge.cpy.gateway.config import ROLE_NAMES
        if open_role >= ROLE_FULL and not self.allow_open_full_on_network:
            raise ConfigError(
                "%s is reachable from the network and the full role is granted without a key "
                "there: anyone who reaches the port could clear DTCs, reset ECUs and flash. "
                "Listen on loopback (--listen tcp://127.0.0.1:%d), give hosts keys "
                "(--key-file) instead of --open-role full, or confirm with %s"
                % (url, DEFAULT_PORT, ALLOW_OPEN_FULL))
        log.warning("%s is reachable from the network and the %s role is granted there "
                    "without a key", url, ROLE_NAMES.get(open_role, open_role))

    def open(self) -> "Daemon":
        b = self.board
        self.check_exposure()
        try:
            for spec in b.can:
                self.buses.append(open_can(spec))
            if b.link_tcp:
                self.tcp = TcpLinkPort(self.hub, b.link_tcp, clock=self._clock,
                                       backoff=self._backoff)
                self.urls.append(self.tcp.url)
            if b.link_serial:
                self.urls.append(SerialLinkPort(self.hub, b.link_serial, b.serial_baudrate).url)
        except (DaemonError, LinkSetupError) as e:
            self.close()
            raise DaemonError(str(e)) from None
        if not self.hub.ports:
            self.close()
            raise DaemonError("no host link: give --listen tcp://HOST:PORT and/or --serial DEV")
        if self.tcp is not None and not self.tcp.is_loopback:
            log.info("%s: the host link is open to the network (hosts need a key%s)",
                     self.tcp.url, "" if self.link_cfg.open_role == ROLE_NONE
                     else " above the key-less role")
        self.runner = GatewayRunner(self.gw, self.buses, self.hub,
                                    ["%s %s" % (c["interface"], c["channel"]) for c in b.can])
        for i, c in enumerate(b.can):
            log.info("bus %d: %s %s%s", i, c["interface"], c["channel"],
                     " %d bit/s" % c["bitrate"] if c.get("bitrate") else "")
        return self

    def run(self) -> None:
        """The gateway loop, in this thread, until stop()."""
        try:
            self.runner.run()
        finally:
            self.close()

    def start(self) -> "Daemon":
        threading.Thread(target=self._run_quiet, name="diagbridge-gw", daemon=True).start()
        return self

    def _run_quiet(self) -> None:
        try:
            self.run()
        except Exception:           # noqa: BLE001 (logged by the runner; runner.error)
            pass

    def stop(self, timeout_s: float = 5.0) -> None:
        if self.runner is not None:
            self.runner.stop(timeout_s)
            self.runner.stopped.wait(timeout_s)

    def status(self) -> dict:
        """The daemon's own counters (beside the gateway's STATUS): the TCP
        port's (accepted, refused_busy, refused_backoff, login_failures,
        closed_early, accept_errors, client_errors), lingering connections,
        the runner's survived client errors, failed logins on serial and
        the logins refused there during a back-off."""
        st: dict = {}
        if self.tcp is not None:
            st.update(self.tcp.stats)
            st["lingering"] = self.tcp.lingering
            st["backoff_peers"] = len(self.tcp.backoff)
        st["runner_client_errors"] = self.runner.client_errors if self.runner else 0
        st["serial_login_failures"] = sum(getattr(p, "login_failures", 0)
                                          for p in self.hub.ports if p is not self.tcp)
        st["serial_refused_backoff"] = self.hub.backoff.refused
        st["auth_failures"] = sum(h.link.auth_failures for h in self.gw.hosts)
        st["hosts_up"] = self.gw.hosts_up()
        return st

    def _adapter_stats(self) -> dict:
        """The ports' counters in the gateway's STATUS (added to its own)."""
        busy = backoff = 0
        if self.tcp is not None:
            busy = self.tcp.stats["refused_busy"]
            backoff = self.tcp.stats["refused_backoff"]
        return {"refused_connections": busy + backoff,
                "refused_login_backoff": backoff + self.hub.backoff.refused}

    def close(self) -> None:
        for bus in self.buses:
            try:
                bus.shutdown()
            except Exception:           # noqa: BLE001
                log.debug("bus shutdown failed", exc_info=True)
        self.buses = []


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="diagbridge-gw", description="diagbridge gateway daemon: the vehicle's CAN buses "
        "behind a host link (TCP and/or serial) for diagbridge_host and the diagbridge CLI.")
    p.add_argument("--board", metavar="FILE", help="board file (boards/pi-can-hat/board.py); "
                   "the options below override it")
    p.add_argument("--interface", help="python-can interface of the CAN bus(es): socketcan, "
                   "virtual, ... (default socketcan)")
    p.add_argument("--channel", action="append", metavar="CH",
                   help="python-can channel; repeat for more buses (default can0)")
    p.add_argument("--bitrate", type=int, help="nominal bit rate (default 500000; socketcan "
                   "takes it from `ip link`)")
    p.add_argument("--listen", metavar="tcp://HOST:PORT",
                   help="TCP host link (default %s: loopback only; tcp://0.0.0.0:%d listens on "
                   "every network interface; port 0 picks a free one)"
                   % (DEFAULT_LISTEN, DEFAULT_PORT))
    p.add_argument("--no-tcp", action="store_true", help="no TCP host link (serial only)")
    p.add_argument("--serial", metavar="DEV", help="serial host link: a device such as "
                   "/dev/ttyGS0 (USB gadget), or `pty` to make a pseudo-terminal")
    p.add_argument("--baudrate", type=int, help="serial host link baud rate (UART only)")
    p.add_argument("--key-file", metavar="FILE", help="pre-shared keys (default %s)"
                   % DEFAULT_KEY_FILE)
    p.add_argument("--open-role", default=None, choices=("none", "monitor", "diagnostic", "full"),
                   help="role granted without a key (default none: every role needs a key); "
                   "full on a non-loopback address needs %s too" % ALLOW_OPEN_FULL)
    p.add_argument(ALLOW_OPEN_FULL, dest="allow_open_full", action="store_true",
                   help="confirm that anyone who can reach a non-loopback --listen address "
                   "gets the full role without a key")
    p.add_argument("--name", help="gateway name shown to hosts")
    p.add_argument("--max-hosts", type=int, metavar="N",
                   help="TCP hosts served at once (default: the board's MAX_HOSTS, 4); a "
                   "serial line is one more")
    p.add_argument("--log-level", default="info",
                   choices=("debug", "info", "warning", "error"), help="default info")
    return p


def board_from_args(args: argparse.Namespace) -> Board:
    """The board file (if any) with the command line's overrides applied."""
    board = load_board(args.board) if args.board else Board(
        name="diagbridge-gw", can=({"interface": "socketcan", "channel": "can0",
                                    "bitrate": 500000},),
        link_tcp=DEFAULT_LISTEN, key_file=DEFAULT_KEY_FILE)
    if args.interface or args.channel or args.bitrate:
        base = board.can[0] if board.can else {"interface": "socketcan", "channel": "can0",
                                               "bitrate": 500000}
        chans = args.channel or [c["channel"] for c in board.can] or ["can0"]
        board.can = []
        for ch in chans:
            c = dict(base, channel=ch)
            if args.interface:
                c["interface"] = args.interface
            if args.bitrate:
                c["bitrate"] = args.bitrate
            board.can.append(c)
    if args.listen:
        board.link_tcp = args.listen
    if args.no_tcp:
        board.link_tcp = None
    if args.serial:
        board.link_serial = args.serial
    if args.baudrate:
        board.serial_baudrate = args.baudrate
    if args.key_file:
        board.key_file = args.key_file
    if args.name:
        board.name = args.name
    if args.max_hosts is not None:
        if not 1 <= args.max_hosts <= 31:
            raise ConfigError("--max-hosts %d: give 1 to 31 hosts" % args.max_hosts)
        board.max_hosts = args.max_hosts
    return board


def main(argv: Optional[list] = None) -> int:
    """Entry point of the ``diagbridge-gw`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level.upper()), stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        board = board_from_args(args)
        open_role = role_number(args.open_role or "none")
        keys = ()
        if board.key_file and (args.key_file or open_role == ROLE_NONE or
                               os.path.exists(board.key_file)):
            keys = read_key_file(board.key_file)
        if not keys and open_role == ROLE_NONE:
            raise ConfigError("no key file and --open-role none: no host could ever log in")
        daemon = Daemon(board, keys, open_role,
                        allow_open_full_on_network=args.allow_open_full).open()
    except ConfigError as e:
        print("diagbridge-gw: %s" % e, file=sys.stderr)
        return 2
    except DaemonError as e:
        print("diagbridge-gw: %s" % e, file=sys.stderr)
        return 1
    runner = daemon.runner

    def on_signal(signum: int, frame: object) -> None:
        log.info("signal %d: stopping", signum)
        runner.stop(0)
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, on_signal)
    for url in daemon.urls:
        print("diagbridge-gw: host link on %s" % url, flush=True)
    log.info("%s: running with %d CAN bus(es), roles with a key: %s%s", board.name,
             len(board.can), ", ".join(sorted({_role_name(r) for r, _ in keys})) or "none",
             "; without a key: %s" % args.open_role if open_role else "")
    try:
        daemon.run()
    except Exception as e:              # noqa: BLE001 (logged with its traceback)
        print("diagbridge-gw: stopped by an error: %s" % e, file=sys.stderr)
        return 1
    finally:
        log.info("host link counters: %s", ", ".join(
            "%s %d" % kv for kv in sorted(daemon.status().items())))
    print("diagbridge-gw: stopped", flush=True)
    return 0


def _role_name(r: int) -> str:
    from diagbridge.cpy.gateway.config import ROLE_NAMES
    return ROLE_NAMES.get(r, str(r))


if __name__ == "__main__":
    sys.exit(main())
