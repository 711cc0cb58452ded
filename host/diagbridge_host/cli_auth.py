"""The ``diagbridge auth`` subcommand: UDS Authentication (0x29) for a bench session.

    diagbridge auth 7E0 --cert tester.chain.der --private-key tester.key
    diagbridge auth 7E0 --cert chain.pem --private-key tester.key --bidirectional
                        --roots root.pem
    diagbridge auth 7E0 --cert chain.pem --private-key tester.key --session-key
                        --read-did FD00

APCE with a certificate chain (PEM, leaf first, or DER as sent) and its
private key (ECDSA P-256, Ed25519 or RSA); ``--key`` stays the gateway
link's key.  The authenticated state belongs to this command's channel:
``--read-did`` reads protected DIDs on it before it closes
(tools/test_pki.py makes a test PKI).
"""
from __future__ import annotations

import argparse
from typing import Any, TextIO

from diagbridge_host.auth import AuthenticationError, authenticate
from diagbridge_host.cli_args import (BUS, ECU_HELP, NUMBER_RULE, add_addressing,
                                      check_ecu_text, num, resolve_ecu)
from diagbridge_host.cli_common import CliError, CliUsage, _free_channel, _open
from diagbridge_host.connection import Connection

__all__ = ["add_auth_commands", "AUTH_COMMANDS"]


def add_auth_commands(sub: Any, parents: Any) -> None:
    """Add ``auth`` to an ``add_subparsers()`` object."""
    p = sub.add_parser("auth", parents=parents,
                       help="Authentication (0x29): APCE with a certificate and key",
                       description=__doc__.split("\n\n", 1)[1], epilog=NUMBER_RULE,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ecu", type=check_ecu_text, metavar="ECU", help=ECU_HELP)
    p.add_argument("--cert", required=True, metavar="FILE",
                   help="the tester's certificate chain (PEM leaf first, or DER)")
    # --key is the gateway link's pre-shared key (every subcommand's)
    p.add_argument("--private-key", "--cert-key", dest="cert_key", required=True,
                   metavar="FILE", help="the certificate's private key (PEM or DER, "
                                        "unencrypted)")
    p.add_argument("--bidirectional", action="store_true",
                   help="29 02: also check the ECU's certificate (needs --roots)")
    p.add_argument("--roots", action="append", default=[], metavar="FILE",
                   help="trust anchors for the ECU's certificate (PEM/DER; repeatable)")
    p.add_argument("--session-key", action="store_true",
                   help="ask for an ephemeral ECDH session key")
    p.add_argument("--read-did", type=num("DID", 0xFFFF), action="append", default=[],
                   metavar="DID", help="then read this DID on the authenticated channel")
    p.add_argument("--bus", type=BUS, default=0, help="gateway bus number (default 0)")
    add_addressing(p, "functional id of this ECU's channel (default 7DF / 18DB33F1)")


def cmd_auth(args: Any, conn: Connection, out: TextIO, err: TextIO) -> int:
    if args.bidirectional and not args.roots:
        raise CliUsage("--bidirectional checks the ECU's certificate: give --roots FILE")
    try:
        target = resolve_ecu(args.ecu, args.addressing, sa=args.sa, ta=args.ta, ae=args.ae,
                             functional_id=args.functional_id)
    except argparse.ArgumentTypeError as e:
        raise CliUsage(str(e)) from None
    for path in [args.cert, args.cert_key] + list(args.roots):
        try:
            open(path, "rb").close()
        except OSError as e:
            raise CliUsage("cannot read %s: %s" % (path, e.strerror)) from None
    _free_channel(conn)
    res = args.result
    with _open(conn, args.bus, target) as uds:
        try:
            r = authenticate(uds, args.cert, args.cert_key, bidirectional=args.bidirectional,
                             session_key=args.session_key, server_roots=args.roots)
        except AuthenticationError as e:
            res.update(step=e.step, nrc=e.nrc)
            raise CliError(str(e)) from None
        except ValueError as e:
            raise CliUsage("certificate or key file not readable: %s" % e) from None
        res.update(return_value=r.return_value, session_key=r.session_key is not None)
        print("authenticated: 0x%02X OwnershipVerified, AuthenticationComplete%s"
              % (r.return_value, " (session key established)" if r.session_key else ""),
              file=out)
        dids = res.setdefault("dids", {})
        for did in args.read_did:
            rsp = uds.request(bytes((0x22, did >> 8, did & 0xFF)))
            if rsp.nrc is not None:
                print("DID %04X: NRC 0x%02X" % (did, rsp.nrc), file=out)
                dids["%04X" % did] = {"nrc": rsp.nrc}
            else:
                print("DID %04X: %s" % (did, bytes(rsp[3:]).hex(" ").upper()), file=out)
                dids["%04X" % did] = {"data": bytes(rsp[3:]).hex()}
    return 0


AUTH_COMMANDS = {"auth": (cmd_auth, "full")}
