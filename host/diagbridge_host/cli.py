"""The ``diagbridge`` command's host subcommands: talk to a gateway from a laptop.

    diagbridge scan                                   # who answers on 0x7E0-0x7E7, with VINs
    diagbridge read-did 7E0 F190 F187                 # hex + ASCII
    diagbridge dtc read 7E0 --mask 08   /   diagbridge dtc clear 7E0
    diagbridge flash 7E0 app.bin --address 0x10000 --security-level 3 --secret ...
    diagbridge monitor --filter 7E8:7F8 --log trace.asc --duration-s 10
    diagbridge status

Every subcommand takes ``--url`` (default: $DIAGBRIDGE_URL or
tcp://127.0.0.1:6520; serial:///dev/ttyACM0 and sim:// work too), ``--key``
(or $DIAGBRIDGE_KEY) / ``--key-file`` and ``--role``.  Numbers and ECU
arguments follow one grammar (``diagbridge_host.cli_args``): ids, addresses
and DIDs are hex; ``7E0`` means tx 0x7E0 / rx 0x7E8 (11-bit, +8),
``18DA10F1:18DAF110`` names both 29-bit ids, ``--addressing`` reaches every
ISO 15765-2 format.  Exit status: 0 done, 1 failed (the message says what to
do), 2 a wrong argument or input file (one line says which and what to do),
130 interrupted.  Progress and diagnostics go to stderr, results to stdout.
"""
from __future__ import annotations

import argparse
import io
import logging
import os
import sys
from typing import TYPE_CHECKING, Any, List, Optional, TextIO, Tuple

from diagbridge.errors import ConfigError
from diagbridge.link import keyfile
import diagbridge.uds.client.api as api
from diagbridge.uds.codec.dtc import dtc_text, status_names
from diagbridge_host.connection import Connection, connect
from diagbridge_host.errors import (DiagbridgeError, LinkAuthError, LinkError, LinkRefused,
                                    LinkTimeout, NegativeResponseError, UdsError, UdsTimeout,
                                    UsageError)
from diagbridge_host.cli_args import (BUS, ECU_HELP, NUMBER_RULE, EcuTarget, add_addressing,
                                     check_ecu_text, num, number, resolve_ecu)
from diagbridge_host.cli_common import CliError, CliUsage, _free_channel, _open, _say
from diagbridge_host.cli_uds import UDS_COMMANDS, add_uds_commands, jsonable, why
from diagbridge_host.cli_obd import OBD_COMMANDS, add_obd_commands
from diagbridge_host.cli_auth import AUTH_COMMANDS, add_auth_commands
from diagbridge_host.dids import describe
from diagbridge_host.link import ROLE_NAMES

if TYPE_CHECKING:
    from diagbridge_host.uds import UdsClient

log = logging.getLogger(__name__)

__all__ = ["main", "add_commands", "run", "parse_ecu", "read_key_file", "COMMANDS"]

DEFAULT_URL = "tcp://127.0.0.1:6520"
COMMANDS = ("scan", "read-did", "dtc", "flash", "monitor", "status", "request", "session",
            "reset", "security", "write-did", "routine", "io", "read-mem", "write-mem")
_ROLES = tuple(w for w, _ in keyfile.ROLE_WORDS)      # monitor, diagnostic, full


# ---- arguments ---------------------------------------------------------------------------
def _hex(text: str) -> int:
    """A hex id of up to 29 bits (the one number rule: cli_args)."""
    return number(text, "id", 0x1FFFFFFF)


def parse_ecu(text: str) -> Tuple[int, int]:
    """``7E0`` -> (0x7E0, 0x7E8); ``TX:RX`` -> both (hex, 11 or 29 bits)."""
    t = resolve_ecu(text)
    if t.tx_id is None:
        raise argparse.ArgumentTypeError("ECU %r: give TX:RX" % text)
    return t.tx_id, t.rx_id


def _filter(text: str) -> Tuple[int, int]:
    i, _, m = text.partition(":")
    try:
        ident = number(i, "filter id", 0x1FFFFFFF)
        return ident, number(m, "filter mask", 0x1FFFFFFF) if m else \
            (0x1FFFFFFF if ident > 0x7FF else 0x7FF)
    except argparse.ArgumentTypeError as e:
        raise argparse.ArgumentTypeError("filter %r: %s; write ID:MASK in hex (7E8:7F8)"
                                         % (text, e)) from None


def read_key_file(path: str, role: str) -> bytes:
    """The key for ``role`` from a key file (the gateway's format, read by the
    same parser, diagbridge.link.keyfile); a key of a higher role also works."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except UnicodeDecodeError:
        raise CliUsage("key file %s: not UTF-8 text (write a binary key as hex:... or "
                       "base64:...)" % path) from None
    except OSError as e:
        raise CliUsage("key file %s: %s" % (path, e.strerror or e)) from None
    try:
        keys = keyfile.parse_keys(text, "key file %s" % path)
    except ConfigError as e:
        raise CliUsage(str(e)) from None
    key = keyfile.key_for_role(keys, keyfile.ROLE_WORDS[_ROLES.index(role)][1])
    if key is None:
        raise CliUsage("key file %s has no key for the %s role (add a line '%s: <key>')"
                       % (path, role, role))
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
    c.add_argument("--json", action="store_true",
                   help="print one JSON object (monitor: one per frame) instead of text")
    return c


def add_commands(sub: Any) -> None:
    """Add the host subcommands to an argparse ``add_subparsers()`` object."""
    c = [_common()]
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("scan", parents=c, help="find ECUs (functional TesterPresent, VIN)",
                       epilog=NUMBER_RULE, formatter_class=fmt)
    p.add_argument("--bus", type=BUS, default=0, help="gateway bus number (default 0)")
    p.add_argument("--ids", nargs="+", type=check_ecu_text, metavar="ECU",
                   help="candidates (default 7E0-7E7, answers on 7E8-7EF); " + ECU_HELP)
    add_addressing(p, "functional TesterPresent id (default 7DF, 18DB33F1 for 29-bit)")
    p = sub.add_parser("read-did", parents=c, help="ReadDataByIdentifier (0x22)",
                       epilog=NUMBER_RULE, formatter_class=fmt)
    p.add_argument("ecu", type=check_ecu_text, metavar="ECU", help=ECU_HELP)
    p.add_argument("dids", type=num("DID", 0xFFFF), nargs="+", metavar="DID",
                   help="data identifiers, 4 hex digits at most (F190)")
    p.add_argument("--bus", type=BUS, default=0, help="gateway bus number (default 0)")
    add_addressing(p, "functional id of this ECU's channel (default 7DF / 18DB33F1)")
    p = sub.add_parser("dtc", parents=c, help="DTCs: read (19 02), count (19 01), snapshot "
                       "(19 04), ext (19 06), clear (14)",
                       epilog=NUMBER_RULE + "; clear always needs the ECU named",
                       formatter_class=fmt)
    p.add_argument("action", choices=("read", "count", "snapshot", "ext", "clear"))
    p.add_argument("ecu", type=check_ecu_text, nargs="?", default=None, metavar="ECU",
                   help=ECU_HELP + " (read: default 7E0; clear: required)")
    p.add_argument("--mask", type=num("status mask", 0xFF), default=0xFF,
                   help="status mask, one byte (hex, default FF)")
    p.add_argument("--dtc", type=num("DTC", 0xFFFFFF), default=None,
                   help="the DTC of snapshot / ext, 3 bytes hex (010100 = P0101-00)")
    p.add_argument("--record", type=num("record number", 0xFF), default=0xFF,
                   help="snapshot / extended data record number (default FF: all)")
    p.add_argument("--bus", type=BUS, default=0, help="gateway bus number (default 0)")
    add_addressing(p, "functional id of this ECU's channel (default 7DF / 18DB33F1)")
    p = sub.add_parser("flash", parents=c, help="program an image (the gateway runs the job)",
                       epilog=NUMBER_RULE, formatter_class=fmt)
    p.add_argument("ecu", type=check_ecu_text, metavar="ECU", help=ECU_HELP)
    p.add_argument("image", help="raw binary image file")
    p.add_argument("--address", type=num("address", 0xFFFFFFFF), required=True,
                   help="target address (hex: 10000 = 0x10000)")
    p.add_argument("--key-algorithm", default="diagbridge1",
                   choices=("diagbridge1", "twos_complement", "xor"))
    p.add_argument("--security-level", type=num("security level", 0x7F), default=3,
                   help="odd requestSeed level, hex (default 3), 0 = none")
    p.add_argument("--secret", default="",
                   help="the key algorithm's secret (text, hex:... or base64:...)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="other FlashConfig fields, hex like every number (erase_rid=FF00, "
                        "verify=1, block_max=100)")
    p.add_argument("--bus", type=BUS, default=0, help="gateway bus number (default 0)")
    add_addressing(p, "functional request id for the preparation steps (default 7DF)")
    p = sub.add_parser("monitor", parents=c, help="print or log raw CAN traffic",
                       epilog=NUMBER_RULE, formatter_class=fmt)
    p.add_argument("--bus", type=BUS, default=0, help="gateway bus number (default 0)")
    p.add_argument("--filter", type=_filter, action="append", metavar="ID:MASK",
                   help="keep frames whose id matches (hex: 7E8:7F8)")
    p.add_argument("--log", metavar="FILE", help="write a python-can log (.asc .blf .csv .db "
                   ".log .trc .txt, .mf4 with python-can[mf4]; .gz compresses)")
    p.add_argument("--count", type=int, default=0, help="stop after N frames (decimal)")
    p.add_argument("--duration-s", type=float, default=0.0,
                   help="stop after S seconds (decimal)")
    p.add_argument("--quiet", action="store_true", help="do not print frames")
    sub.add_parser("status", parents=c, help="gateway, link and bus counters")
    add_uds_commands(sub, c)
    add_auth_commands(sub, c)
    add_obd_commands(sub, c)


def _target(args: argparse.Namespace, text: str) -> EcuTarget:
    try:
        return resolve_ecu(text, args.addressing, sa=args.sa, ta=args.ta, ae=args.ae,
                           functional_id=args.functional_id)
    except argparse.ArgumentTypeError as e:
        raise CliUsage(str(e)) from None


def _check_args(args: argparse.Namespace) -> None:
    """What argparse cannot judge alone, before anything is connected: the
    ECU arguments under --addressing, a destructive command's target, the
    log file.  CliUsage (exit 2) says what is wrong."""
    cmd = args.command
    if cmd == "scan":
        if args.ids is None:
            if args.functional_id is not None and args.functional_id > 0x7FF:
                raise CliUsage("--functional-id 0x%X is 29-bit: give the 29-bit candidates "
                               "with --ids (18DA10F1:18DAF110 ...)" % args.functional_id)
            args.ids = ["%X" % (0x7E0 + i) for i in range(8)]
        args.targets = [_target(args, t) for t in args.ids]
    elif cmd in ("read-did", "flash") or cmd in UDS_COMMANDS:
        args.target = _target(args, args.ecu)
    elif cmd == "dtc":
        if args.action in ("snapshot", "ext") and args.dtc is None:
            raise CliUsage("dtc %s needs --dtc (3 bytes hex, e.g. --dtc 010100)" % args.action)
        if args.ecu is None:
            if args.action == "clear":
                raise CliUsage("name the ECU whose DTCs to clear (e.g. "
                               "'diagbridge dtc clear 7E0'); nothing is cleared by default")
            args.ecu = "7E0"
        args.target = _target(args, args.ecu)
    elif cmd == "monitor" and args.log:
        _check_log_path(args.log)


def _check_log_path(path: str) -> None:
    import can.io.logger as L
    name = path.lower()
    suffix = os.path.splitext(name[:-3] if name.endswith(".gz") else name)[1]
    writers = getattr(L, "MESSAGE_WRITERS", {})
    if suffix not in writers:
        raise CliUsage("--log %s: unknown log format %r (use one of %s)"
                       % (path, suffix or "(no extension)", " ".join(sorted(writers))))
    if suffix == ".mf4":
        try:
            import asammdf  # noqa: F401
        except ImportError:
            raise CliUsage("--log %s: .mf4 needs asammdf: pip install 'python-can[mf4]' "
                           "(or log to .blf/.asc)" % path) from None
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CliUsage("--log %s: the folder %s does not exist (create it first)"
                       % (path, folder))
    if not os.access(folder, os.W_OK):
        raise CliUsage("--log %s: the folder %s is not writable" % (path, folder))


# ---- connecting --------------------------------------------------------------------------
def _connect(args: argparse.Namespace, default_role: str) -> Connection:
    url = args.url or os.environ.get("DIAGBRIDGE_URL") or DEFAULT_URL
    role = args.role or default_role
    key: Optional[bytes] = None
    if args.key_file:
        key = read_key_file(args.key_file, role)
    elif args.key or os.environ.get("DIAGBRIDGE_KEY"):
        try:
            key = keyfile.key_value(args.key or os.environ["DIAGBRIDGE_KEY"], "--key")
        except ConfigError as e:
            raise CliUsage(str(e)) from None
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
        raise CliUsage("%s" % e)


# ---- scan, read-did, dtc -----------------------------------------------------------------
def cmd_scan(args: argparse.Namespace, conn: Connection, out: TextIO, err: TextIO) -> int:
    targets = args.targets
    _free_channel(conn)
    clients = []
    try:
        for t in targets:
            clients.append(_open(conn, args.bus, t))
        func = targets[0].endpoint.get("func_tx_id")
        _say(err, "scanning bus %d: functional TesterPresent%s to %d candidate(s)"
             % (args.bus, " on 0x%X" % func if func is not None else "", len(targets)))
        answers = clients[0].request_functional(b"\x3e\x00")
        found = [c for c in clients if c.channel in answers and answers[c.channel].ok]
        for c, t in zip(clients, targets):
            if c not in found:
                continue
            vin = c.request(b"\x22\xf1\x90")
            text = _ascii(bytes(vin[3:])) if vin.ok and len(vin) > 3 else \
                "(no VIN: %s)" % (vin.nrc_text or vin.result_name)
            args.result.setdefault("ecus", []).append(
                {"tx_id": t.tx_id, "rx_id": t.rx_id, "label": t.label,
                 "vin": text if vin.ok and len(vin) > 3 else None})
            print("%s  %s" % (t.ids_text(), text), file=out)
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


def cmd_read_did(args: argparse.Namespace, conn: Connection, out: TextIO, err: TextIO) -> int:
    _free_channel(conn)
    failed = 0
    with _open(conn, args.bus, args.target) as uds:
        for did in args.dids:
            rsp = uds.request(bytes((0x22, did >> 8 & 0xFF, did & 0xFF)))
            entry = {"did": "%04X" % did}
            args.result.setdefault("dids", []).append(entry)
            if rsp.ok and len(rsp) >= 3:
                val = bytes(rsp[3:])
                name, text = describe(did, val)
                entry.update(data=val.hex(), name=name, value=text)
                extra = ""
                if name is not None:
                    extra = "  %s" % name if text == _ascii(val) else "  %s %s" % (name, text)
                print("%04X: %s  |%s|%s" % (did, val.hex(" ").upper(), _ascii(val), extra),
                      file=out)
            else:
                failed += 1
                entry.update(error=_why(rsp), nrc=rsp.nrc)
                print("%04X: %s" % (did, _why(rsp)), file=out)
    return 1 if failed else 0


_why = why


def cmd_dtc(args: argparse.Namespace, conn: Connection, out: TextIO, err: TextIO) -> int:
    _free_channel(conn)
    label = args.target.label
    with _open(conn, args.bus, args.target) as uds:
        if args.action == "clear":
            rsp = uds.clear_dtc()
            if not rsp.ok:
                raise CliError("clearing DTCs of %s failed: %s" % (label, _why(rsp)))
            print("DTCs of %s cleared" % label, file=out)
            args.result["cleared"] = label
            return 0
        if args.action != "read":
            return _dtc_records(args, uds, out, err, label)
        dtcs = uds.read_dtc_by_status_mask(args.mask)
    args.result["dtcs"] = [{"dtc": "%06X" % code, "text": dtc_text(code), "status": status,
                            "status_names": list(status_names(status))}
                           for code, status in dtcs]
    for code, status in dtcs:
        print("%s  %06X  status %02X  %s" % (dtc_text(code), code, status,
                                             " ".join(status_names(status))),
              file=out)
    _say(err, "%d DTC(s) with status mask %02X on %s" % (len(dtcs), args.mask, label))
    return 0


def _dtc_records(args: argparse.Namespace, uds: UdsClient, out: TextIO, err: TextIO,
                 label: str) -> int:
    """19 01 (count), 19 04 (snapshot), 19 06 (extended data) of one ECU."""
    if args.action == "count":
        req = api.read_dtc(0x01, status_mask=args.mask)
    else:
        req = api.read_dtc(0x04 if args.action == "snapshot" else 0x06, dtc=args.dtc,
                           record=args.record)
    rsp = uds.request(req)
    if not rsp.ok:
        raise CliError("dtc %s of %s: %s" % (args.action, label, _why(rsp)))
    r = api.decode(req, rsp, len(rsp)) or {}
    if args.action == "count":
        n = r.get("count", 0)
        args.result.update(count=n, mask=args.mask, format=r.get("format"))
        print("%d DTC(s) with status mask %02X on %s" % (n, args.mask, label), file=out)
        return 0
    d = r.get("dtc")
    args.result["dtc"] = "%06X" % args.dtc
    if d is None:
        print("%s: no %s record for %06X" % (label, args.action, args.dtc), file=out)
        return 0
    recs = getattr(d, "snapshots", None) if args.action == "snapshot" else \
        getattr(d, "extended", None)
    args.result["status"] = d.status
    args.result["records"] = jsonable(recs)
    print("%s  %06X  status %02X" % (dtc_text(d.code), d.code, d.status), file=out)
    for rec in recs or ():
        print("  record %s" % (jsonable(rec),), file=out)
    return 0


def cmd_status(args: argparse.Namespace, conn: Connection, out: TextIO, err: TextIO) -> int:
    gw = conn.gateway
    st = conn.status()
    args.result.update(gateway=gw.name, version=gw.version, url=conn.url, role=conn.role_name,
                       uptime_ms=st.uptime_ms, buses=jsonable(gw.buses), stats=st.stats,
                       bus_stats=jsonable(st.bus_stats), channels=st.channels, ecus=st.ecus,
                       routes=st.routes, jobs=st.jobs, hosts=jsonable(st.hosts))
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
    for h in st.hosts:
        print("host %s    %s  %s%s%s" % (
            h.get("slot", "?"), h.get("name", "?"), ROLE_NAMES.get(h.get("role"), "?"),
            "  locks %s" % h["locks"] if h.get("locks") else "",
            "  (this one)" if h.get("you") else ""), file=out)
    return 0


from diagbridge_host.cli_jobs import cmd_flash, cmd_monitor  # noqa: E402

_RUN = {"scan": (cmd_scan, "diagnostic"), "read-did": (cmd_read_did, "diagnostic"),
        "dtc": (cmd_dtc, None), "flash": (cmd_flash, "full"),
        "monitor": (cmd_monitor, "monitor"), "status": (cmd_status, "monitor")}
_RUN.update(UDS_COMMANDS)
_RUN.update(AUTH_COMMANDS)
_RUN.update(OBD_COMMANDS)


def run(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run a parsed host subcommand; the exit status.  With ``--json`` the
    text goes nowhere and one JSON object goes to ``out``: {"command",
    "ok", "exit", the command's fields, "error" when it failed}."""
    args.result = {}
    if not getattr(args, "json", False):
        return _run(args, out, err)
    import json
    text = io.StringIO()
    errors = io.StringIO()
    rc = _run(args, text if args.command != "monitor" else out, errors)
    doc = {"command": args.command, "ok": rc == 0, "exit": rc}
    doc.update(args.result)
    msg = errors.getvalue().strip()
    if rc and msg:
        doc["error"] = msg.splitlines()[-1]
    err.write(errors.getvalue())
    print(json.dumps(doc, sort_keys=True), file=out, flush=True)
    return rc


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    fn, role = _RUN[args.command]
    if role is None:
        role = "full" if args.action == "clear" else "diagnostic"
    conn = None
    try:
        _check_args(args)
        conn = _connect(args, role)
        return fn(args, conn, out, err)
    except CliUsage as e:
        _say(err, "diagbridge %s: %s" % (args.command, e))
        return 2
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
