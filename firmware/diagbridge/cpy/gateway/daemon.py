"""``diagbridge-gw``: the gateway daemon for a Raspberry Pi with a CAN HAT
(or any Linux box with python-can): the portable ``diagbridge.gateway``
behind a TCP port and/or a serial line for the host link.

    diagbridge-gw --board boards/pi-can-hat/board.py
    diagbridge-gw --interface virtual --channel test --listen tcp://127.0.0.1:0 \\
                  --open-role full                       # a test gateway, no key

The board file (diagbridge.cpy.gateway.config) names the CAN buses, the host-link
transports and the key file; command-line options override it.  One host at
a time (diagbridge.cpy.gateway.link).  Logs go to stderr (the systemd journal
captures them); ``--log-level`` sets the level.  SIGINT or SIGTERM stops it
cleanly: the host gets a BYE, buses and ports are closed.

Exit status: 0 after a clean stop; 2 for a bad board file, key file or
option; 1 when a bus or a link port cannot be opened, or the loop failed.
The bound host-link addresses are printed on stdout once it runs
(``diagbridge-gw: host link on tcp://0.0.0.0:6520``), so ``--listen
tcp://127.0.0.1:0`` gives a free port and says which.
"""
import argparse
import hashlib
import logging
import os
import signal
import sys
import threading

from diagbridge.errors import ConfigError
from diagbridge.gateway import Gateway
from diagbridge.link.proto import ROLE_NONE
from diagbridge.cpy.gateway.config import (Board, load_board, read_key_file, role_number,
                                      DEFAULT_PORT)
from diagbridge.cpy.gateway.link import LinkHub, TcpLinkPort, SerialLinkPort, LinkSetupError
from diagbridge.cpy.gateway.runner import GatewayRunner

log = logging.getLogger(__name__)

__all__ = ["Daemon", "DaemonError", "main", "build_parser"]

DEFAULT_KEY_FILE = "/etc/diagbridge/key"
_SETS_BITRATE = ("socketcan", "virtual")     # interfaces python-can must not be given one


class DaemonError(Exception):
    """A bus or a port could not be opened (exit status 1)."""


def open_can(spec: dict):
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
    loops in this thread, ``start()`` in a new one, ``stop()`` ends it."""

    def __init__(self, board: Board, keys=(), open_role: int = ROLE_NONE, sha256=hashlib.sha256,
                 urandom=os.urandom):
        self.board = board
        self.gw = Gateway(board.gateway_config(), board.link_config(keys, open_role),
                          sha256, urandom)
        self.buses = []
        self.hub = LinkHub(self.gw)
        self.runner = None
        self.urls = []

    def open(self) -> "Daemon":
        b = self.board
        try:
            for spec in b.can:
                self.buses.append(open_can(spec))
            if b.link_tcp:
                self.urls.append(TcpLinkPort(self.hub, b.link_tcp).url)
            if b.link_serial:
                self.urls.append(SerialLinkPort(self.hub, b.link_serial, b.serial_baudrate).url)
        except (DaemonError, LinkSetupError) as e:
            self.close()
            raise DaemonError(str(e)) from None
        if not self.hub.ports:
            self.close()
            raise DaemonError("no host link: give --listen tcp://HOST:PORT and/or --serial DEV")
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
                   help="TCP host link (default tcp://0.0.0.0:%d; port 0 picks a free one)"
                   % DEFAULT_PORT)
    p.add_argument("--no-tcp", action="store_true", help="no TCP host link (serial only)")
    p.add_argument("--serial", metavar="DEV", help="serial host link: a device such as "
                   "/dev/ttyGS0 (USB gadget), or `pty` to make a pseudo-terminal")
    p.add_argument("--baudrate", type=int, help="serial host link baud rate (UART only)")
    p.add_argument("--key-file", metavar="FILE", help="pre-shared keys (default %s)"
                   % DEFAULT_KEY_FILE)
    p.add_argument("--open-role", default=None, choices=("none", "monitor", "diagnostic", "full"),
                   help="role granted without a key (default none: every role needs a key)")
    p.add_argument("--name", help="gateway name shown to hosts")
    p.add_argument("--log-level", default="info",
                   choices=("debug", "info", "warning", "error"), help="default info")
    return p


def board_from_args(args) -> Board:
    """The board file (if any) with the command line's overrides applied."""
    board = load_board(args.board) if args.board else Board(
        name="diagbridge-gw", can=({"interface": "socketcan", "channel": "can0",
                                    "bitrate": 500000},),
        link_tcp="tcp://0.0.0.0:%d" % DEFAULT_PORT, key_file=DEFAULT_KEY_FILE)
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
    return board


def main(argv=None) -> int:
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
        daemon = Daemon(board, keys, open_role).open()
    except ConfigError as e:
        print("diagbridge-gw: %s" % e, file=sys.stderr)
        return 2
    except DaemonError as e:
        print("diagbridge-gw: %s" % e, file=sys.stderr)
        return 1
    runner = daemon.runner

    def on_signal(signum, frame):
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
    print("diagbridge-gw: stopped", flush=True)
    return 0


def _role_name(r: int) -> str:
    from diagbridge.cpy.gateway.config import ROLE_NAMES
    return ROLE_NAMES.get(r, str(r))


if __name__ == "__main__":
    sys.exit(main())
