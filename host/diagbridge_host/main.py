"""The ``diagbridge`` command (CPython).

    diagbridge scan | read-did | dtc | flash | monitor | status   (a gateway's host;
                      diagbridge_host.cli, see `diagbridge COMMAND --help`)
    diagbridge ecu --profile engine --interface socketcan --channel can0
    diagbridge sim [--listen tcp://127.0.0.1:6520] [--key-file F] [--nvm DIR]
                      (the simulated vehicle on a TCP host link: diagbridge_host.sim_server)
    diagbridge ecu --profile my_ecu.toml --interface socketcan --channel can0 \\
                   --bitrate 500000 --fd --data-bitrate 2000000 --nvm ./nvm

``ecu`` serves a UDS ECU profile on a python-can bus until SIGINT or
SIGTERM.  Exit status: 0 after a clean stop, 2 for a usage or profile
error, 1 when the bus cannot be opened.
"""
from typing import Any
import argparse
import logging
import signal
import sys
import threading

from diagbridge.errors import ConfigError

log = logging.getLogger(__name__)


def _int(text: str) -> int:
    """An int in decimal or 0x hex (CAN ids, bit rates)."""
    return int(text, 0)


def build_parser() -> argparse.ArgumentParser:
    from diagbridge_host import __version__
    from diagbridge_host.cli_args import NUMBER_RULE
    p = argparse.ArgumentParser(prog="diagbridge",
                                description="diagbridge vehicle-diagnostics gateway tools",
                                epilog=NUMBER_RULE)
    p.add_argument("--version", action="version", version="diagbridge %s" % __version__)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    e = sub.add_parser("ecu", help="serve a UDS ECU profile on a CAN bus",
                       description="Serve a UDS ECU (ISO 14229-1 over ISO 15765-2) "
                       "described by a profile on a python-can bus until Ctrl-C.")
    e.add_argument("--profile", required=True, metavar="FILE|engine",
                   help="a .json/.toml profile file, or a built-in profile: engine")
    e.add_argument("--interface", default="socketcan",
                   help="python-can interface (socketcan, virtual, pcan, ...); "
                   "default socketcan")
    e.add_argument("--channel", default="can0", help="python-can channel; default can0")
    e.add_argument("--bitrate", type=_int, default=None,
                   help="nominal bit rate, for interfaces that set it (socketcan "
                   "takes it from `ip link`)")
    e.add_argument("--fd", action="store_true", help="CAN FD: 64-byte CAN-TP frames")
    e.add_argument("--data-bitrate", type=_int, default=None,
                   help="CAN FD data-phase bit rate (with --fd)")
    e.add_argument("--nvm", metavar="DIR", default=None,
                   help="keep written DIDs, DTCs, memory and security counters in DIR "
                   "(default: in memory, lost at exit)")
    e.add_argument("--files", metavar="DIR", default=None,
                   help="sandbox folder for RequestFileTransfer (0x38)")
    e.add_argument("--reset-ms", type=int, default=0,
                   help="time the ECU stays off the bus after an ECUReset (boot time)")
    e.add_argument("-v", "--verbose", action="count", default=0,
                   help="log events (-v) and every request/response (-vv)")
    from diagbridge_host.cli import add_commands
    add_commands(sub)
    from diagbridge_host.sim_server import add_sim_command
    add_sim_command(sub)
    return p


def _open_bus(args: Any) -> Any:
    import can
    kw = {"interface": args.interface, "channel": args.channel}
    if args.bitrate is not None:
        kw["bitrate"] = args.bitrate
    if args.fd:
        kw["fd"] = True
        if args.data_bitrate is not None:
            kw["data_bitrate"] = args.data_bitrate
    return can.Bus(**kw)


def _cmd_ecu(args: Any, parser: Any) -> int:
    from diagbridge.cpy.ecu.runner import EcuRunner, build_ecu, load_profile_spec, trace_logger
    try:
        profile = load_profile_spec(args.profile)
        ecu = build_ecu(profile, nvm_dir=args.nvm, files_dir=args.files, fd=args.fd,
                        reset_ms=args.reset_ms,
                        trace=trace_logger(profile.name) if args.verbose >= 2 else None)
    except ConfigError as e:
        parser.error(str(e))                    # exits with status 2
    except OSError as e:
        parser.error("%s: %s" % (e.filename or "", e.strerror or e))
    try:
        bus = _open_bus(args)
    except Exception as e:                      # python-can raises many kinds
        print("diagbridge ecu: cannot open %s channel %s: %s" % (args.interface, args.channel, e),
              file=sys.stderr)
        return 1
    stop = threading.Event()

    def on_signal(signum: Any, frame: Any) -> None:
        stop.set()
    old = {}
    for s in (signal.SIGINT, signal.SIGTERM):
        old[s] = signal.signal(s, on_signal)
    a = ecu.address
    try:
        with EcuRunner(bus, ecu, name=profile.name):
            print("diagbridge ecu: serving %r on %s %s (rx 0x%X, tx 0x%X%s); Ctrl-C stops"
                  % (profile.name, args.interface, args.channel, a.rx_id, a.tx_id,
                     ", functional 0x%X" % a.frx_id if a.frx_id >= 0 else ""), flush=True)
            while not stop.wait(0.5):
                pass
    finally:
        for s in old:
            signal.signal(s, old[s])
        bus.shutdown()
    print("diagbridge ecu: stopped", flush=True)
    return 0


def main(argv: "list[str] | None" = None) -> int:
    """Entry point of the ``diagbridge`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING
    if getattr(args, "verbose", 0) >= 2:
        level = logging.DEBUG
    elif getattr(args, "verbose", 0) == 1:
        level = logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "ecu":
        return _cmd_ecu(args, parser)
    if args.command == "sim":
        from diagbridge_host.sim_server import run_sim
        return run_sim(args, parser)
    from diagbridge_host.cli import run
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
