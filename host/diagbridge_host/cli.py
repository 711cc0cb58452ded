"""The ``diagbridge`` command's host subcommands: talk to a gateway from a laptop.

    diagbridge scan                                   # who answers on 0x7E0-0x7E7, with VINs
    diagbridge read-did 7E0 F190 F187                 # hex + ASCII
    diagbridge dtc read 7E0 --mask 08   /   diagbridge dtc clear 7E0
    diagbridge flash 7E0 app.bin --address 0x10000 --security-level 3 --secret ...
    diagbridge monitor --filter 7E8:7F8 --log trace.asc --duration-s 10
    diagbridge status

Every subcommand takes ``--url`` (default: $DIAGBRIDGE_URL or
tcp://127.0.0.1:6520; serial:///dev/ttyACM0 and sim:// work too), ``--key``
(or $DIAGBRIDGE_KEY) / ``--key-file`` and ``--role``.  ECU and DID arguments
are hex: ``7E0`` means tx 0x7E0 / rx 0x7E8 (11-bit, +8), ``18DA10F1:18DAF110``
names both ids.  Exit status: 0 done, 1 failed (the message says what to
do), 2 usage, 130 interrupted.  Progress and diagnostics go to stderr,
results to stdout.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import List, Optional, TextIO, Tuple

from diagbridge.errors import ConfigError
from diagbridge.link import keyfile
from diagbridge.uds.codec.dtc import dtc_text, status_names
from diagbridge_host.connection import Connection, connect
from diagbridge_host.errors import (DiagbridgeError, LinkAuthError, LinkError, LinkRefused,
                                    LinkTimeout, NegativeResponseError, UdsError, UdsTimeout,
                                    UsageError)
from diagbridge_host.cli_common import CliError, _free_channel, _open, _say

log = logging.getLogger(__name__)

__all__ = ["main", "add_commands", "run", "parse_ecu", "read_key_file", "COMMANDS"]

DEFAULT_URL = "tcp://127.0.0.1:6520"
COMMANDS = ("scan", "read-did", "dtc", "flash", "monitor", "status")
_ROLES = tuple(w for w, _ in keyfile.ROLE_WORDS)      # monitor, diagnostic, full


# ---- arguments ---------------------------------------------------------------------------
def _hex(text: str) -> int:
    t = text.strip().lower()
    return int(t, 16) if not t.startswith("0x") else int(t, 0)


def _int(text: str) -> int:
    return int(text, 0)


def parse_ecu(text: str) -> Tuple[int, int]:
    """``7E0`` -> (0x7E0, 0x7E8); ``TX:RX`` -> both (hex)."""
    try:
        if ":" in text:
            tx, rx = text.split(":", 1)
            return _hex(tx), _hex(rx)
        tx = _hex(text)
    except ValueError:
        raise argparse.ArgumentTypeError("ECU %r: give the hex request id (7E0) or TX:RX" % text)
    if not 0x7E0 <= tx <= 0x7E7:
        raise argparse.ArgumentTypeError("ECU %r: give TX:RX for ids outside 7E0-7E7" % text)
    return tx, tx + 8


def _filter(text: str) -> Tuple[int, int]:
    try:
        i, _, m = text.partition(":")
        return _hex(i), _hex(m) if m else (0x1FFFFFFF if _hex(i) > 0x7FF else 0x7FF)
    except ValueError:
        raise argparse.ArgumentTypeError("filter %r: write ID:MASK in hex (7E8:7F8)" % text)


def read_key_file(path: str, role: str) -> bytes:
    """The key for ``role`` from a key file (the gateway's format, read by the
    same parser, diagbridge.link.keyfile); a key of a higher role also works."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except UnicodeDecodeError:
        raise CliError("key file %s: not UTF-8 text (write a binary key as hex:... or "
                       "base64:...)" % path) from None
    except OSError as e:
        raise CliError("key file %s: %s" % (path, e.strerror or e)) from None
    try:
        keys = keyfile.parse_keys(text, "key file %s" % path)
    except ConfigError as e:
        raise CliError(str(e)) from None
    key = keyfile.key_for_role(keys, keyfile.ROLE_WORDS[_ROLES.index(role)][1])
    if key is None:
        raise CliError("key file %s has no key for the %s role" % (path, role))
    return key


def _common() -> argparse.ArgumentParser:
    c = argparse.ArgumentParser(add_help=False)
    g = c.add_argument_group("gateway")
    g.add_argument("--url", default=None, help="gateway URL (default $DIAGBRIDGE_URL or %s)"
                   % DEFAULT_URL)
    g.add_argument("--key", default=None, help="pre-shared key (text, hex:... or base64:...; "
                   "default $DIAGBRIDGE_KEY)")
    g.add_argument("--key-file", default=None, help="file with the key (the gateway's format)")
    g.add_argument("--role", default=None, choices=_ROLES, help="role to ask for")
    g.add_argument("--timeout-s", type=float, default=10.0, help="link timeout (default 10)")
    return c


def add_commands(sub) -> None:
    """Add the host subcommands to an argparse ``add_subparsers()`` object."""
    c = [_common()]
    p = sub.add_parser("scan", parents=c, help="find ECUs (functional TesterPresent, VIN)")
    p.add_argument("--bus", type=int, default=0)
    p.add_argument("--ids", nargs="+", type=parse_ecu, metavar="ECU",
                   help="candidates (default 7E0-7E7, answers on 7E8-7EF)")
    p.add_argument("--functional-id", type=_hex, default=0x7DF, metavar="ID")
    p = sub.add_parser("read-did", parents=c, help="ReadDataByIdentifier (0x22)")
    p.add_argument("ecu", type=parse_ecu, metavar="ECU")
    p.add_argument("dids", type=_hex, nargs="+", metavar="DID")
    p.add_argument("--bus", type=int, default=0)
    p = sub.add_parser("dtc", parents=c, help="read or clear DTCs (0x19 02 / 0x14)")
    p.add_argument("action", choices=("read", "clear"))
    p.add_argument("ecu", type=parse_ecu, nargs="?", default=(0x7E0, 0x7E8), metavar="ECU")
    p.add_argument("--mask", type=_hex, default=0xFF, help="status mask (hex, default FF)")
    p.add_argument("--bus", type=int, default=0)
    p = sub.add_parser("flash", parents=c, help="program an image (the gateway runs the job)")
    p.add_argument("ecu", type=parse_ecu, metavar="ECU")
    p.add_argument("image", help="raw binary image file")
    p.add_argument("--address", type=_int, required=True, help="target address (0x10000)")
    p.add_argument("--key-algorithm", default="diagbridge1",
                   choices=("diagbridge1", "twos_complement", "xor"))
    p.add_argument("--security-level", type=_int, default=3, help="odd level, 0 = none")
    p.add_argument("--secret", default="",
                   help="the key algorithm's secret (text, hex:... or base64:...)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="other FlashConfig fields (erase_rid=-1, verify=1, block_max=256)")
    p.add_argument("--functional-id", type=_hex, default=0x7DF, metavar="ID",
                   help="functional request id for the preparation steps (default 7DF)")
    p.add_argument("--bus", type=int, default=0)
    p = sub.add_parser("monitor", parents=c, help="print or log raw CAN traffic")
    p.add_argument("--bus", type=int, default=0)
    p.add_argument("--filter", type=_filter, action="append", metavar="ID:MASK")
    p.add_argument("--log", metavar="FILE", help="write a python-can log (.asc .blf .log ...)")
    p.add_argument("--count", type=int, default=0, help="stop after N frames")
    p.add_argument("--duration-s", type=float, default=0.0, help="stop after S seconds")
    p.add_argument("--quiet", action="store_true", help="do not print frames")
    sub.add_parser("status", parents=c, help="gateway, link and bus counters")


# ---- connecting --------------------------------------------------------------------------
def _connect(args, default_role: str) -> Connection:
    url = args.url or os.environ.get("DIAGBRIDGE_URL") or DEFAULT_URL
    role = args.role or default_role
    key: Optional[bytes] = None
    if args.key_file:
        key = read_key_file(args.key_file, role)
    elif args.key or os.environ.get("DIAGBRIDGE_KEY"):
        try:
            key = keyfile.key_value(args.key or os.environ["DIAGBRIDGE_KEY"], "--key")
        except ConfigError as e:
            raise CliError(str(e)) from None
    try:
        return connect(url, key=key, role=role, timeout_s=args.timeout_s)
    except LinkAuthError as e:
        raise CliError("%s (give the key with --key, --key-file or $DIAGBRIDGE_KEY)" % e)
    except LinkRefused as e:
        raise CliError("%s (ask for another role with --role)" % e)
    except LinkTimeout as e:
        raise CliError(str(e))
    except LinkError as e:
        cause = e.__cause__
        if isinstance(cause, ConnectionRefusedError):
            raise CliError("cannot connect to %s: is diagbridge-gw running? (connection "
                           "refused)" % url)
        if isinstance(cause, (TimeoutError, OSError)) and url.startswith("tcp://"):
            raise CliError("cannot connect to %s: is the address right and the gateway "
                           "reachable? (%s)" % (url, cause))
        raise CliError(str(e))
    except UsageError as e:
        raise CliError("%s" % e)


# ---- scan, read-did, dtc -----------------------------------------------------------------
def cmd_scan(args, conn: Connection, out: TextIO, err: TextIO) -> int:
    ids = args.ids or [(0x7E0 + i, 0x7E8 + i) for i in range(8)]
    _free_channel(conn)
    clients = []
    try:
        for tx, rx in ids:
            clients.append(_open(conn, args.bus, (tx, rx), func_tx_id=args.functional_id))
        _say(err, "scanning bus %d: functional TesterPresent on 0x%X to %d candidate(s)"
             % (args.bus, args.functional_id, len(ids)))
        answers = clients[0].request_functional(b"\x3e\x00")
        found = [c for c, (tx, rx) in zip(clients, ids)
                 if c.channel in answers and answers[c.channel].ok]
        for c, (tx, rx) in zip(clients, ids):
            if c not in found:
                continue
            vin = c.request(b"\x22\xf1\x90")
            text = _ascii(bytes(vin[3:])) if vin.ok and len(vin) > 3 else \
                "(no VIN: %s)" % (vin.nrc_text or vin.result_name)
            print("0x%03X -> 0x%03X  %s" % (tx, rx, text), file=out)
    finally:
        for c in clients:
            c.close()
    if not found:
        _say(err, "no ECU answered on bus %d (ignition on? right bus? try --bus or --ids)"
             % args.bus)
        return 1
    _say(err, "%d ECU(s) answered" % len(found))
    return 0


def _ascii(b: bytes) -> str:
    return "".join(chr(x) if 32 <= x < 127 else "." for x in b)


def cmd_read_did(args, conn: Connection, out: TextIO, err: TextIO) -> int:
    _free_channel(conn)
    failed = 0
    with _open(conn, args.bus, args.ecu) as uds:
        for did in args.dids:
            rsp = uds.request(bytes((0x22, did >> 8 & 0xFF, did & 0xFF)))
            if rsp.ok and len(rsp) >= 3:
                val = bytes(rsp[3:])
                print("%04X: %s  |%s|" % (did, val.hex(" ").upper(), _ascii(val)), file=out)
            else:
                failed += 1
                print("%04X: %s" % (did, _why(rsp)), file=out)
    return 1 if failed else 0


def _why(rsp) -> str:
    if rsp.nrc is not None:
        return "negative response 0x%02X %s" % (rsp.nrc, rsp.nrc_text)
    return "%s (no answer: is the ECU id right and the ECU awake?)" % rsp.result_name


def cmd_dtc(args, conn: Connection, out: TextIO, err: TextIO) -> int:
    _free_channel(conn)
    with _open(conn, args.bus, args.ecu) as uds:
        if args.action == "clear":
            rsp = uds.clear_dtc()
            if not rsp.ok:
                raise CliError("clearing DTCs of 0x%03X failed: %s" % (args.ecu[0], _why(rsp)))
            print("DTCs of 0x%03X cleared" % args.ecu[0], file=out)
            return 0
        dtcs = uds.read_dtc_by_status_mask(args.mask)
    for code, status in dtcs:
        print("%s  %06X  status %02X  %s" % (dtc_text(code), code, status,
                                             " ".join(status_names(status))),
              file=out)
    _say(err, "%d DTC(s) with status mask %02X on 0x%03X" % (len(dtcs), args.mask, args.ecu[0]))
    return 0


def cmd_status(args, conn: Connection, out: TextIO, err: TextIO) -> int:
    gw = conn.gateway
    st = conn.status()
    print("gateway   %s (link protocol %d) at %s, role %s" % (gw.name, gw.version, conn.url,
                                                             conn.role_name), file=out)
    print("uptime    %.1f s" % (st.uptime_ms / 1000), file=out)
    for b in gw.buses:
        print("bus %d     %s %d bit/s" % (b[0], {1: "CAN", 2: "CAN FD", 3: "K-Line"}.get(
            b[1], "?"), b[2]), file=out)
    for bs in st.bus_stats:
        print("bus %d     rx %d  tx %d  tx errors %d  listened %d  dropped %d" % (
            bs["bus"], bs["rx_frames"], bs["tx_frames"], bs["tx_errors"], bs["listened"],
            bs["listen_dropped"]), file=out)
    print("link      %s" % "  ".join("%s %d" % kv for kv in sorted(st.stats.items())), file=out)
    print("open      channels %s  ECUs %s  routes %s  jobs %s" % (
        st.channels or "-", st.ecus or "-", st.routes or "-", st.jobs or "-"), file=out)
    return 0


from diagbridge_host.cli_jobs import cmd_flash, cmd_monitor  # noqa: E402

_RUN = {"scan": (cmd_scan, "diagnostic"), "read-did": (cmd_read_did, "diagnostic"),
        "dtc": (cmd_dtc, None), "flash": (cmd_flash, "full"),
        "monitor": (cmd_monitor, "monitor"), "status": (cmd_status, "monitor")}


def run(args, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run a parsed host subcommand; the exit status."""
    fn, role = _RUN[args.command]
    if role is None:
        role = "full" if args.action == "clear" else "diagnostic"
    conn = None
    try:
        conn = _connect(args, role)
        return fn(args, conn, out, err)
    except CliError as e:
        _say(err, "diagbridge %s: %s" % (args.command, e))
    except NegativeResponseError as e:
        _say(err, "diagbridge %s: the ECU said no: %s" % (args.command, e))
    except UdsTimeout as e:
        _say(err, "diagbridge %s: no answer from the ECU (%s): is the id right and the ECU "
             "awake?" % (args.command, e))
    except LinkRefused as e:
        _say(err, "diagbridge %s: %s (this needs a higher role: --role full and its key)"
             % (args.command, e))
    except (LinkError, LinkTimeout, UdsError) as e:
        _say(err, "diagbridge %s: %s" % (args.command, e))
    except KeyboardInterrupt:
        _say(err, "diagbridge %s: interrupted" % args.command)
        return 130
    except DiagbridgeError as e:
        _say(err, "diagbridge %s: %s" % (args.command, e))
    finally:
        if conn is not None:
            conn.close()
    return 1


def main(argv: Optional[List[str]] = None, out: TextIO = sys.stdout,
         err: TextIO = sys.stderr) -> int:
    """``python -m diagbridge_host.cli``: the host subcommands alone."""
    p = argparse.ArgumentParser(prog="diagbridge", description="diagbridge host tools")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    add_commands(sub)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return run(args, out, err)


if __name__ == "__main__":
    sys.exit(main())
