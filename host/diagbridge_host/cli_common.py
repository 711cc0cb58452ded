"""What the CLI's command modules share (cli.py, cli_jobs.py): the user-facing
error, key text, messages to the user and the gateway channel helpers."""
from __future__ import annotations

from typing import TextIO

from diagbridge_host.connection import Connection


class CliError(Exception):
    """A failure with a message for the user (exit status 1)."""


def _key_bytes(text: str) -> bytes:
    if text.startswith("hex:"):
        return bytes.fromhex(text[4:].strip())
    return text.encode("utf-8")


def _say(err: TextIO, text: str) -> None:
    print(text, file=err, flush=True)


def _free_channel(conn: Connection) -> None:
    """Skip channel ids another session left open on the gateway."""
    used = conn.status().channels
    while conn._next_channel in used:
        conn._next_channel += 1


def _open(conn: Connection, bus: int, ecu, **kw):
    return conn.uds(bus, ecu[0], ecu[1], **kw)
