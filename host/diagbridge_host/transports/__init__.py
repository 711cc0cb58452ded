"""Byte transports of the host link: what ``connect(url)`` opens.

    tcp://host:port              a gateway daemon on the network (or loopback)
    serial:///dev/ttyACM0        a serial port or USB CDC gadget (``?baudrate=N``)
    serial://<pyserial URL>      any pyserial URL: ``serial://loop://``,
                                 ``serial://rfc2217://host:port``, ``serial://socket://...``
    sim://                       an in-process simulated vehicle (``diagbridge.sim``)

A transport only moves bytes: ``read(timeout_s)`` returns what arrived (``b""``
when nothing did), ``write(data)`` sends, ``close()`` ends it.  End of stream
or an I/O failure raises ``LinkError``.  The link protocol itself lives in
``diagbridge_host.link``.
"""
from __future__ import annotations

from urllib.parse import parse_qsl

from diagbridge_host.errors import UsageError
from diagbridge_host.transports.base import Transport

__all__ = ["Transport", "open_transport", "split_url"]

SCHEMES = ("tcp", "serial", "sim")


def split_url(url: str) -> tuple[str, str, dict]:
    """``scheme://rest?query`` -> (scheme, rest, {query}).  The query of a
    pyserial URL inside ``serial://`` stays with it."""
    if not isinstance(url, str) or "://" not in url:
        raise UsageError("not a gateway URL: %r (try tcp://host:port, serial:///dev/ttyACM0 "
                         "or sim://)" % (url,))
    scheme, rest = url.split("://", 1)
    scheme = scheme.lower()
    if scheme not in SCHEMES:
        raise UsageError("unknown gateway URL scheme %r in %r: use one of %s"
                         % (scheme, url, ", ".join(s + "://" for s in SCHEMES)))
    query: dict = {}
    if "?" in rest and not (scheme == "serial" and "://" in rest):
        rest, q = rest.split("?", 1)
        query = dict(parse_qsl(q, keep_blank_values=True))
    return scheme, rest, query


def open_transport(url: str, timeout_s: float = 5.0) -> Transport:
    """Open the byte transport named by ``url`` (see the module docstring)."""
    scheme, rest, query = split_url(url)
    if scheme == "tcp":
        from diagbridge_host.transports.tcp import TcpTransport
        return TcpTransport.open(rest, timeout_s)
    if scheme == "serial":
        from diagbridge_host.transports.serial_port import SerialTransport
        return SerialTransport.open(rest, query)
    from diagbridge_host.transports.sim import open_sim
    return open_sim(rest, query)
