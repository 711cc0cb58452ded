"""The ``diagbridge obd`` subcommand: OBD-II (ISO 15031-5 / SAE J1979) as
python-OBD users know it, on a gateway's CAN bus (diagbridge_host.obd):

    diagbridge obd pids                   # the engine's (7E0) supported mode 01 PIDs
    diagbridge obd get RPM SPEED 05       # decoded values with units (names or hex PIDs)
    diagbridge obd dtc                    # mode 03: confirmed DTCs as P/C/B/U codes
    diagbridge obd pending                # mode 07;  permanent: mode 0A
    diagbridge obd vin                    # mode 09 02 (info: CALIDs and ECU name too)
    diagbridge obd --all get RPM          # functional 7DF: every ECU that answers
    diagbridge obd 7E1 vin                # one ECU by its request id (7E0-7E7)

Without an ECU the engine (7E0, answers on 7E8) is asked; --all sends on
the functional id 7DF and lists each answering ECU by its response id.
"""
from __future__ import annotations

import argparse
from typing import Any, TextIO

from diagbridge_host.cli_args import BUS, NUMBER_RULE, number
from diagbridge_host.cli_common import CliError, CliUsage, _free_channel
from diagbridge_host.connection import Connection
from diagbridge_host.errors import UsageError
from diagbridge_host.obd import (MODE_DTC, MODE_PENDING_DTC, MODE_PERMANENT_DTC, OBD_ECUS,
                                 PIDS, Obd, ObdError, pid_by_name)

__all__ = ["add_obd_commands", "OBD_COMMANDS", "ACTIONS"]

ACTIONS = ("pids", "get", "dtc", "pending", "permanent", "vin", "info")
_DTC_MODES = {"dtc": MODE_DTC, "pending": MODE_PENDING_DTC, "permanent": MODE_PERMANENT_DTC}
_USAGE = "diagbridge obd [ECU | --all] {%s} [PID ...]" % ",".join(ACTIONS)


def add_obd_commands(sub: Any, parents: Any) -> None:
    """Add ``obd`` to an ``add_subparsers()`` object."""
    p = sub.add_parser("obd", parents=parents, usage=_USAGE,
                       help="OBD-II: mode 01 PIDs, 03/07/0A DTCs, 09 VIN (ISO 15031-5)",
                       description=__doc__.split("\n\n", 1)[1],
                       epilog="PIDs: python-OBD names (RPM, SPEED, COOLANT_TEMP, MAF, "
                              "FUEL_LEVEL ...) or hex numbers (0C); " + NUMBER_RULE,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("words", nargs="+", metavar="[ECU] ACTION [PID ...]", action=_Words,
                   help="ECU: request id 7E0-7E7 (default 7E0); ACTION: %s" % ", ".join(ACTIONS))
    p.add_argument("--all", action="store_true",
                   help="ask every ECU on the functional id 7DF (answers on 7E8-7EF)")
    p.add_argument("--bus", type=BUS, default=0, help="gateway bus number (default 0)")


class _Words(argparse.Action):
    """Reads [ECU] ACTION [PID ...] while argparse parses: a wrong word is a
    usage error (exit 2) before anything is connected."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        namespace.words = values
        try:
            _parse(namespace)
        except CliUsage as e:
            raise argparse.ArgumentError(self, str(e)) from None


def _parse(args: Any) -> None:
    words = list(args.words)
    ecu = None
    if words[0].lower() not in ACTIONS:
        text = words.pop(0)
        try:
            ecu = number(text, "ECU", 0x7FF)
        except argparse.ArgumentTypeError as e:
            raise CliUsage("%s; usage: %s" % (e, _USAGE)) from None
        if ecu not in OBD_ECUS:
            raise CliUsage("ECU %s: OBD-II on CAN uses the request ids 7E0-7E7 (ISO 15765-4)"
                           % text)
    args.ecu_given = ecu is not None
    if not words or words[0].lower() not in ACTIONS:
        raise CliUsage("say what to ask: one of %s; usage: %s" % (", ".join(ACTIONS), _USAGE))
    args.ecu_id = 0x7E0 if ecu is None else ecu
    args.action = words[0].lower()
    args.names = words[1:]
    if args.action == "get":
        if not args.names:
            raise CliUsage("obd get needs PIDs: names (RPM SPEED) or hex numbers (0C 0D)")
        try:
            args.pids = [pid_by_name(n) for n in args.names]
        except UsageError as e:
            raise CliUsage(str(e)) from None
    elif args.names:
        raise CliUsage("obd %s takes no PIDs (got %s)" % (args.action, " ".join(args.names)))


def cmd_obd(args: Any, conn: Connection, out: TextIO, err: TextIO) -> int:
    if args.all and args.ecu_given:
        raise CliUsage("give an ECU or --all, not both")
    if args.all and args.action == "info":
        raise CliUsage("obd info asks one ECU: name it (7E0) instead of --all")
    _free_channel(conn)
    res = args.result
    res.update(action=args.action, ecu=None if args.all else "%X" % args.ecu_id,
               functional=bool(args.all))
    ecus = OBD_ECUS if args.all else (args.ecu_id,)
    with Obd.open(conn, args.bus, args.ecu_id, ecus) as obd:
        try:
            return _ACTIONS[args.action](args, obd, out, err)
        except ObdError as e:
            raise CliError("the ECU's answer does not follow ISO 15031-5: %s" % e) from None


def _who(ecu: int) -> str:
    return "%X" % ecu


def _none(args: Any, err: TextIO, what: str) -> int:
    _say(err, "no ECU answered %s on bus %d (ignition on? an OBD ECU on this bus?)"
         % (what, args.bus) if args.all else
         "ECU %X did not answer %s (not supported, or no ECU: try --all)" % (args.ecu_id, what))
    return 1


def _say(err: TextIO, text: str) -> None:
    print(text, file=err, flush=True)


def _pids(args: Any, obd: Obd, out: TextIO, err: TextIO) -> int:
    found = obd.supported_pids_all() if args.all else {args.ecu_id + 8: obd.supported_pids()}
    found = {e: p for e, p in found.items() if p}
    if not found:
        return _none(args, err, "01 00 (supported PIDs)")
    doc = args.result.setdefault("ecus", [])
    for ecu, pids in found.items():
        doc.append({"ecu": _who(ecu), "pids": [{"pid": "%02X" % p, "name": _name(p)}
                                                for p in pids]})
        print("%s  %d supported PIDs" % (_who(ecu), len(pids)), file=out)
        for p in pids:
            d = PIDS.get(p)
            print("  %02X  %-26s %s" % (p, _name(p), d.description if d else ""), file=out)
    return 0


def _name(pid: int) -> str:
    d = PIDS.get(pid)
    return d.name if d else "PID_%02X" % pid


def _get(args: Any, obd: Obd, out: TextIO, err: TextIO) -> int:
    rows = []
    if args.all:
        for p in args.pids:
            rows += sorted(obd.query_all(p.pid).values(), key=lambda v: v.ecu)
    else:
        rows = [v for v in obd.query_many([p.pid for p in args.pids])]
    args.result["values"] = [v.as_dict() for v in rows if not v.is_null()]
    missing = [v.name for v in rows if v.is_null()]
    for v in rows:
        if v.is_null():
            continue
        print("%s  %-24s %s" % (_who(v.ecu), v.name, v), file=out)
    if not args.all:
        for name in missing:
            print("%s  %-24s (no answer: not supported)" % (_who(args.ecu_id + 8), name),
                  file=out)
    asked = set(p.name for p in args.pids)
    answered = set(v.name for v in rows if not v.is_null())
    if missing or asked - answered:
        args.result["unanswered"] = sorted(asked - answered)
        if not answered:
            return _none(args, err, "01 " + " ".join("%02X" % p.pid for p in args.pids))
        _say(err, "not answered: %s" % ", ".join(sorted(asked - answered)))
    return 0


def _dtc(args: Any, obd: Obd, out: TextIO, err: TextIO) -> int:
    mode = _DTC_MODES[args.action]
    if args.all:
        found = obd.dtcs_all(mode)
    else:
        dtcs = obd.read_dtcs(mode)
        found = {} if dtcs is None else {args.ecu_id + 8: dtcs}
    if not found:
        return _none(args, err, "%02X" % mode)
    doc = args.result.setdefault("ecus", [])
    for ecu, dtcs in found.items():
        doc.append({"ecu": _who(ecu), "mode": "%02X" % mode,
                    "dtcs": [{"code": d.code, "raw": "%04X" % d.raw} for d in dtcs]})
        print("%s  %d %s DTC(s)%s" % (_who(ecu), len(dtcs), args.action if args.action != "dtc"
                                      else "confirmed", ": " + " ".join(map(str, dtcs))
                                      if dtcs else ""), file=out)
    return 0


def _vin(args: Any, obd: Obd, out: TextIO, err: TextIO) -> int:
    if args.all:
        vins = obd.vin_all()
    else:
        v = obd.vin()
        vins = {} if v is None else {args.ecu_id + 8: v}
    if not vins:
        return _none(args, err, "09 02 (VIN)")
    args.result["ecus"] = [{"ecu": _who(e), "vin": v} for e, v in vins.items()]
    if len(set(vins.values())) == 1:
        args.result["vin"] = next(iter(vins.values()))
    for e, v in vins.items():
        print("%s  VIN %s" % (_who(e), v), file=out)
    return 0


def _info(args: Any, obd: Obd, out: TextIO, err: TextIO) -> int:
    vin, cal, name = obd.vin(), obd.calids(), obd.ecu_name()
    if vin is None and not cal and name is None:
        return _none(args, err, "09 02/04/0A")
    args.result.update(vin=vin, calids=cal, ecu_name=name)
    who = _who(args.ecu_id + 8)
    print("%s  VIN       %s" % (who, vin or "(not supported)"), file=out)
    print("%s  CALID     %s" % (who, " ".join(cal) or "(not supported)"), file=out)
    print("%s  ECU name  %s" % (who, name or "(not supported)"), file=out)
    return 0


_ACTIONS = {"pids": _pids, "get": _get, "dtc": _dtc, "pending": _dtc, "permanent": _dtc,
            "vin": _vin, "info": _info}

# name -> (function, role the command needs)
OBD_COMMANDS = {"obd": (cmd_obd, "diagnostic")}
