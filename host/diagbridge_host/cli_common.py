"""What the CLI's command modules share (cli.py, cli_jobs.py): the user-facing
error, key and secret text, messages to the user and the gateway channel helpers."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, TextIO

from diagbridge.errors import ConfigError
from diagbridge.link.keyfile import value_bytes
from diagbridge_host.connection import Connection

if TYPE_CHECKING:
    from diagbridge_host.cli_args import EcuTarget
    from diagbridge_host.uds import UdsClient


class CliError(Exception):
    """A failure with a message for the user (exit status 1)."""


class CliUsage(CliError):
    """A wrong argument or input file, said in one line (exit status 2)."""


def _value_bytes(text: str, what: str) -> bytes:
    """Text, hex:... or base64:... (the key file's encodings) -> bytes."""
    try:
        return value_bytes(text, what)
    except ConfigError as e:
        raise CliUsage(str(e)) from None


def _say(err: TextIO, text: str) -> None:
    print(text, file=err, flush=True)


def _free_channel(conn: Connection) -> None:
    """Skip channel ids another session left open on the gateway."""
    used = conn.status().channels
    while conn._next_channel in used:
        conn._next_channel += 1


def _open(conn: Connection, bus: int, target: EcuTarget, **kw: Any) -> UdsClient:
    """A UDS client on a new channel to ``target`` (a cli_args.EcuTarget)."""
    ep = dict(target.endpoint)
    ep.update(kw)
    return conn.uds(bus, **ep)
