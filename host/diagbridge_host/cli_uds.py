"""The ``diagbridge`` command's one-request UDS subcommands (ISO 14229-1), each
on a gateway channel to one ECU, with the core's request codecs and decoders:

    diagbridge request 7E0 22F190              # any request, raw: the answer decoded
    diagbridge session 7E0 3                   # 10 03: P2 / P2* of the session
    diagbridge reset 7E0 1                     # 11 01 hardReset
    diagbridge security 7E0 1 --key-algorithm diagbridge1 --secret EngineExt01
    diagbridge write-did 7E0 F199 hex:240315 --session 3 --unlock 1 --secret ...
    diagbridge routine 7E0 start 0203 [DATA]   # 31 01 / stop 31 02 / results 31 03
    diagbridge io 7E0 9B00 adjust 10           # 2F: return / default / freeze / adjust
    diagbridge read-mem 7E0 8000 12            # 23
    diagbridge write-mem 7E0 20000000 hex:0102 # 3D

``--session N`` and ``--unlock LEVEL`` (with ``--key-algorithm`` and
``--secret``) run first on the same channel, so a command that needs the
extended session or an unlocked level works in one call.  Key algorithms:
the built-in ones or the OEM's function (``module:function`` or an entry
point of group ``diagbridge.seedkey``: ``diagbridge_host.seedkey``).
"""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, Callable, Optional, TextIO

import diagbridge.uds.client.api as api
from diagbridge.uds.codec.ints import uint_len

from diagbridge_host.cli_args import BUS, ECU_HELP, NUMBER_RULE, add_addressing, hex_bytes, num
from diagbridge_host.cli_common import CliError, CliUsage, _free_channel, _open, _value_bytes
from diagbridge_host.connection import Connection
from diagbridge_host.dids import describe
from diagbridge_host.errors import UsageError
from diagbridge_host.seedkey import BUILT_IN, load_key_function

if TYPE_CHECKING:
    from diagbridge_host.uds import UdsClient, UdsResponse

__all__ = ["add_uds_commands", "UDS_COMMANDS", "jsonable", "why"]

_IOCP = {"return": 0x00, "default": 0x01, "freeze": 0x02, "adjust": 0x03}
_ROUTINE = {"start": 0x01, "stop": 0x02, "results": 0x03}


def why(rsp: UdsResponse) -> str:
    """What an unsuccessful UdsResponse means, in words."""
    if rsp.nrc is not None:
        return "negative response 0x%02X %s" % (rsp.nrc, rsp.nrc_text)
    return "%s (no answer: is the ECU id right and the ECU awake?)" % rsp.result_name


def jsonable(v: Any) -> Any:
    """A decoded value as JSON can carry it (bytes as hex text)."""
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    if isinstance(v, dict):
        return {("%04X" % k if isinstance(k, int) else str(k)): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, api.Routine):
        return {"sub_function": v.sf, "rid": "%04X" % v.rid, "status": v.status.hex()}
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return repr(v)


def _prep_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("before the request, on the same channel")
    g.add_argument("--session", type=num("session", 0x7F), default=None, metavar="N",
                   help="DiagnosticSessionControl first (3 = extended, 2 = programming)")
    g.add_argument("--unlock", type=num("security level", 0x7D), default=None, metavar="LEVEL",
                   help="SecurityAccess first: the odd requestSeed level (1, 3, 11 ...)")
    _key_args(g)


def _key_args(g: Any) -> None:
    g.add_argument("--key-algorithm", default="diagbridge1", metavar="NAME",
                   help="%s (default diagbridge1), module.path:function, or an entry point "
                        "of group diagbridge.seedkey" % ", ".join(BUILT_IN))
    g.add_argument("--secret", default="",
                   help="the built-in algorithm's secret (text, hex:... or base64:...)")


def _common(sub: Any, name: str, help_: str, parents: list) -> argparse.ArgumentParser:
    p = sub.add_parser(name, parents=parents, help=help_, epilog=NUMBER_RULE,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ecu", type=_ecu_text, metavar="ECU", help=ECU_HELP)
    return p


def _ecu_text(text: str) -> str:
    from diagbridge_host.cli_args import check_ecu_text
    return check_ecu_text(text)


def _tail(p: argparse.ArgumentParser, prep: bool = True) -> None:
    p.add_argument("--bus", type=BUS, default=0, help="gateway bus number (default 0)")
    add_addressing(p, "functional id of this ECU's channel (default 7DF / 18DB33F1)")
    if prep:
        _prep_args(p)


def add_uds_commands(sub: Any, parents: list) -> None:
    """Add the one-request UDS subcommands to an ``add_subparsers()`` object."""
    p = _common(sub, "request", "send any UDS request (raw hex) and decode the answer", parents)
    p.add_argument("data", type=hex_bytes, nargs="+", metavar="HEX",
                   help="the request bytes: 22F190 or 22 F1 90")
    p.add_argument("--functional", action="store_true",
                   help="send it to the functional address; every ECU's answer")
    _tail(p)
    p = _common(sub, "session", "DiagnosticSessionControl (0x10)", parents)
    p.add_argument("session_id", type=num("session", 0x7F), metavar="SESSION",
                   help="1 default, 2 programming, 3 extended")
    _tail(p, prep=False)
    _key_args(p.add_argument_group("SecurityAccess after the session (with --unlock)"))
    p.add_argument("--unlock", type=num("security level", 0x7D), default=None,
                   metavar="LEVEL", help="then SecurityAccess at this odd level")
    p = _common(sub, "reset", "ECUReset (0x11)", parents)
    p.add_argument("kind", type=num("reset type", 0x7F), nargs="?", default=0x01,
                   help="1 hardReset (default), 2 keyOffOnReset, 3 softReset")
    _tail(p)
    p = _common(sub, "security", "SecurityAccess (0x27): requestSeed, key, sendKey", parents)
    p.add_argument("level", type=num("security level", 0x7D), metavar="LEVEL",
                   help="the odd requestSeed level (1, 3, 11 ...)")
    _tail(p, prep=False)
    _key_args(p.add_argument_group("key"))
    p.add_argument("--session", type=num("session", 0x7F), default=None, metavar="N",
                   help="DiagnosticSessionControl first (3 = extended)")
    p = _common(sub, "write-did", "WriteDataByIdentifier (0x2E)", parents)
    p.add_argument("did", type=num("DID", 0xFFFF), metavar="DID")
    p.add_argument("value", help="text, hex:0102... or base64:...")
    _tail(p)
    p = _common(sub, "routine", "RoutineControl (0x31)", parents)
    p.add_argument("action", choices=tuple(_ROUTINE))
    p.add_argument("rid", type=num("routine id", 0xFFFF), metavar="RID")
    p.add_argument("option", type=hex_bytes, nargs="?", default=b"", metavar="HEX",
                   help="routineControlOptionRecord (hex)")
    _tail(p)
    p = _common(sub, "io", "InputOutputControlByIdentifier (0x2F)", parents)
    p.add_argument("did", type=num("DID", 0xFFFF), metavar="DID")
    p.add_argument("param", choices=tuple(_IOCP),
                   help="returnControlToECU, resetToDefault, freezeCurrentState, "
                        "shortTermAdjustment")
    p.add_argument("state", type=hex_bytes, nargs="?", default=b"", metavar="HEX",
                   help="controlState (adjust), hex")
    p.add_argument("--mask", type=hex_bytes, default=b"", help="controlMask, hex")
    _tail(p)
    p = _common(sub, "read-mem", "ReadMemoryByAddress (0x23)", parents)
    p.add_argument("address", type=num("address", 0xFFFFFFFF))
    p.add_argument("size", type=num("size", 0xFFFF))
    _tail(p)
    p = _common(sub, "write-mem", "WriteMemoryByAddress (0x3D)", parents)
    p.add_argument("address", type=num("address", 0xFFFFFFFF))
    p.add_argument("value", help="text, hex:0102... or base64:...")
    _tail(p)


# ---- running them ---------------------------------------------------------------------------
def _key_fn(args: argparse.Namespace) -> Callable[[int, bytes], bytes]:
    try:
        return load_key_function(args.key_algorithm,
                                 secret=_value_bytes(args.secret, "--secret"))
    except UsageError as e:
        raise CliUsage(str(e)) from None


def _ask(uds: UdsClient, req: bytes, what: str, out: TextIO, res: dict) -> UdsResponse:
    rsp = uds.request(req)
    if not rsp.ok:
        raise CliError("%s: %s" % (what, why(rsp)))
    return rsp


def _prepare(uds: UdsClient, args: argparse.Namespace, out: TextIO, res: dict) -> None:
    session = getattr(args, "session", None)
    if session is not None:
        rsp = _ask(uds, api.session_control(session), "session 0x%02X" % session, out, res)
        res["session"] = jsonable(api.decode(api.session_control(session), rsp, len(rsp)))
        print("session 0x%02X entered" % session, file=out)
    level = getattr(args, "unlock", None)
    if level is not None:
        _unlock(uds, args, level, out, res)


def _unlock(uds: UdsClient, args: argparse.Namespace, level: int, out: TextIO, res: dict) -> None:
    if not level & 1:
        raise CliUsage("security level 0x%02X: give the odd requestSeed level (sendKey is "
                       "level + 1)" % level)
    fn = _key_fn(args)
    try:
        rsp = uds.unlock(level, fn)
    except UsageError as e:
        raise CliUsage(str(e)) from None
    if not rsp.ok:
        hint = " (check --secret and --key-algorithm)" if rsp.nrc == 0x35 else ""
        raise CliError("security level 0x%02X: %s%s" % (level, why(rsp), hint))
    res["unlocked"] = level
    print("security level 0x%02X unlocked" % level, file=out)


def _print_value(req: bytes, rsp: UdsResponse, out: TextIO, res: dict) -> None:
    value = api.decode(req, rsp, len(rsp))
    res["response"] = bytes(rsp).hex()
    res["value"] = jsonable(value)
    print("< %s" % bytes(rsp).hex(" ").upper(), file=out)
    if req[0] == 0x22 and isinstance(value, dict):
        for did, raw in value.items():
            name, text = describe(did, raw)
            print("  %04X%s: %s" % (did, " %s" % name if name else "", text), file=out)
    elif value is not None and req[0] != 0x22:
        print("  %s" % (jsonable(value),), file=out)


def cmd_request(args: argparse.Namespace, conn: Connection, out: TextIO, err: TextIO) -> int:
    req = b"".join(args.data)
    res = args.result
    res["request"] = req.hex()
    _free_channel(conn)
    with _open(conn, args.bus, args.target) as uds:
        _prepare(uds, args, out, res)
        if args.functional:
            answers = uds.request_functional(req)
            res["answers"] = {}
            for ch, rsp in sorted(answers.items()):
                res["answers"][str(ch)] = {"response": bytes(rsp).hex(), "result":
                                           rsp.result_name, "nrc": rsp.nrc}
                print("channel %d: %s" % (ch, bytes(rsp).hex(" ").upper() if rsp.ok
                                          else why(rsp)), file=out)
            return 0 if answers else 1
        rsp = uds.request(req)
    res["result"] = rsp.result_name
    if rsp.nrc is not None:
        res["nrc"] = rsp.nrc
        res["response"] = bytes(rsp).hex()
        print("< %s  %s" % (bytes(rsp).hex(" ").upper(), why(rsp)), file=out)
        return 1
    if not rsp.ok:
        print(why(rsp), file=out)
        return 1
    if not rsp:
        print("(no response expected: suppressPosRspMsgIndicationBit)", file=out)
        return 0
    _print_value(req, rsp, out, res)
    return 0


def cmd_session(args: argparse.Namespace, conn: Connection, out: TextIO, err: TextIO) -> int:
    req = api.session_control(args.session_id)
    _free_channel(conn)
    with _open(conn, args.bus, args.target) as uds:
        rsp = _ask(uds, req, "session 0x%02X" % args.session_id, out, args.result)
        v = api.decode(req, rsp, len(rsp))
        if v is not None:
            args.result.update(session=v[0], p2_ms=v[1], p2star_ms=v[2])
            print("session 0x%02X: P2 %d ms, P2* %d ms" % v, file=out)
        if args.unlock is not None:
            _unlock(uds, args, args.unlock, out, args.result)
    print("(the session lasts while a tester keeps it: this command's channel closes now, "
          "so the ECU returns to the default session after S3, about 5 s)", file=err)
    return 0


def cmd_reset(args: argparse.Namespace, conn: Connection, out: TextIO, err: TextIO) -> int:
    req = api.ecu_reset(args.kind)
    _free_channel(conn)
    with _open(conn, args.bus, args.target) as uds:
        _prepare(uds, args, out, args.result)
        rsp = _ask(uds, req, "reset 0x%02X" % args.kind, out, args.result)
        v = api.decode(req, rsp, len(rsp))
    args.result["reset"] = args.kind
    print("%s reset (type 0x%02X)%s" % (args.target.label, args.kind,
                                       ", power down time %d s" % v[1]
                                       if v and v[1] is not None else ""), file=out)
    return 0


def cmd_security(args: argparse.Namespace, conn: Connection, out: TextIO, err: TextIO) -> int:
    _free_channel(conn)
    with _open(conn, args.bus, args.target) as uds:
        _prepare(uds, args, out, args.result)
        _unlock(uds, args, args.level, out, args.result)
    return 0


def cmd_write_did(args: argparse.Namespace, conn: Connection, out: TextIO, err: TextIO) -> int:
    value = _value_bytes(args.value, "value")
    req = api.write_data(args.did, value)
    _free_channel(conn)
    with _open(conn, args.bus, args.target) as uds:
        _prepare(uds, args, out, args.result)
        _ask(uds, req, "write %04X" % args.did, out, args.result)
    args.result.update(did="%04X" % args.did, written=value.hex())
    print("%04X written: %s" % (args.did, value.hex(" ").upper()), file=out)
    return 0


def cmd_routine(args: argparse.Namespace, conn: Connection, out: TextIO, err: TextIO) -> int:
    sf = _ROUTINE[args.action]
    req = api.routine(sf, args.rid, args.option or None)
    _free_channel(conn)
    with _open(conn, args.bus, args.target) as uds:
        _prepare(uds, args, out, args.result)
        rsp = _ask(uds, req, "routine %s %04X" % (args.action, args.rid), out, args.result)
    v = api.decode(req, rsp, len(rsp))
    args.result.update(rid="%04X" % args.rid, action=args.action,
                       status=v.status.hex() if v is not None else None)
    print("routine %04X %s: %s" % (args.rid, args.action,
                                   v.status.hex(" ").upper() if v is not None and v.status
                                   else "ok"), file=out)
    return 0


def cmd_io(args: argparse.Namespace, conn: Connection, out: TextIO, err: TextIO) -> int:
    req = api.io_control(args.did, _IOCP[args.param], args.state, args.mask)
    _free_channel(conn)
    with _open(conn, args.bus, args.target) as uds:
        _prepare(uds, args, out, args.result)
        rsp = _ask(uds, req, "io %04X %s" % (args.did, args.param), out, args.result)
    v = api.decode(req, rsp, len(rsp))
    state = v[2] if v is not None else b""
    args.result.update(did="%04X" % args.did, param=args.param, state=bytes(state).hex())
    print("%04X %s: state %s" % (args.did, args.param, bytes(state).hex(" ").upper() or "-"),
          file=out)
    return 0


def _alfid(address: int, size: int) -> tuple:
    return max(1, uint_len(address)), max(1, uint_len(size))


def cmd_read_mem(args: argparse.Namespace, conn: Connection, out: TextIO, err: TextIO) -> int:
    if args.size == 0:
        raise CliUsage("size 0: read at least one byte")
    al, sl = _alfid(args.address, args.size)
    req = api.read_memory(args.address, args.size, al, sl)
    _free_channel(conn)
    with _open(conn, args.bus, args.target) as uds:
        _prepare(uds, args, out, args.result)
        rsp = _ask(uds, req, "read 0x%X+%d" % (args.address, args.size), out, args.result)
    data = bytes(rsp[1:])
    args.result.update(address=args.address, data=data.hex())
    for off in range(0, len(data), 16):
        row = data[off:off + 16]
        print("%08X  %-48s |%s|" % (args.address + off, row.hex(" ").upper(),
                                    "".join(chr(b) if 32 <= b < 127 else "." for b in row)),
              file=out)
    return 0


def cmd_write_mem(args: argparse.Namespace, conn: Connection, out: TextIO, err: TextIO) -> int:
    value = _value_bytes(args.value, "value")
    if not value:
        raise CliUsage("value is empty: write at least one byte")
    al, sl = _alfid(args.address, len(value))
    req = api.write_memory(args.address, value, al, sl)
    _free_channel(conn)
    with _open(conn, args.bus, args.target) as uds:
        _prepare(uds, args, out, args.result)
        _ask(uds, req, "write 0x%X" % args.address, out, args.result)
    args.result.update(address=args.address, written=value.hex())
    print("0x%X: %d bytes written" % (args.address, len(value)), file=out)
    return 0


# name -> (function, role the command needs)
UDS_COMMANDS = {
    "request": (cmd_request, "full"), "session": (cmd_session, "diagnostic"),
    "reset": (cmd_reset, "full"), "security": (cmd_security, "full"),
    "write-did": (cmd_write_did, "full"), "routine": (cmd_routine, "full"),
    "io": (cmd_io, "full"), "read-mem": (cmd_read_mem, "diagnostic"),
    "write-mem": (cmd_write_mem, "full"),
}


def target_help(value: Optional[str]) -> str:      # pragma: no cover - kept for symmetry
    return value or ""
