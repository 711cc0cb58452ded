"""Configuration of the gateway daemon (CPython): the board file, the key
file and the command-line overrides, turned into the core's config objects.

A board file is a Python file with plain constants (and optionally functions
that build the core's configs); ``boards/pi-can-hat/board.py`` is the
example::

    NAME = "pi-can-hat"
    CAN = ({"interface": "socketcan", "channel": "can0", "bitrate": 500000},)
    LINK_TCP = "tcp://127.0.0.1:6520"       # loopback; tcp://0.0.0.0:6520 listens on the network; or None
    LINK_SERIAL = "/dev/ttyGS0"             # or None (a USB serial gadget, a UART)
    KEY_FILE = "/etc/diagbridge/key"
    MAX_HOSTS = 4                           # TCP hosts served at once (the serial line: one more)
    DIAGNOSTIC_TX_IDS = ((0x700, 0x7FF, False), (0x18DA0000, 0x18DBFFFF, True))
    FULL_TX_IDS = None                      # or ranges: what a full-role host may send on
    def gateway_config(): ...               # optional: a diagbridge.gateway.GatewayConfig
    def link_config(keys, open_role): ...   # optional: a diagbridge.link.config.LinkConfig

The key file holds the pre-shared keys, one per role; a key proves its role
and every lower one, and never crosses the link (HMAC challenge)::

    # /etc/diagbridge/key  (chmod 600)
    full: a-long-random-secret-of-16-bytes-or-more
    monitor: hex:00112233445566778899aabbccddeeff

``DIAGNOSTIC_TX_IDS`` and ``FULL_TX_IDS`` are the CAN ids each role may make
go out, as ``(first, last, extended)`` ranges (``diagbridge.gateway.limits``;
the defaults when left out: the diagnostic block and 29-bit normal fixed
addressing for the diagnostic role, every id for the full role).  A board
file with ``gateway_config()`` passes them to its ``GatewayConfig`` itself.

A file with a single bare line holds the key of the full role.  Values are
text, ``hex:...`` or ``base64:...``; keys are at least 16 bytes.
"""
from typing import Any
import importlib.util
import logging
import os
import stat

from diagbridge.errors import ConfigError
from diagbridge.gateway import GatewayConfig
from diagbridge.link import keyfile
from diagbridge.link.config import LinkConfig
from diagbridge.link.proto import (ROLE_NONE, ROLE_MONITOR, ROLE_DIAGNOSTIC, ROLE_FULL,
                                   BUS_CAN, BUS_CAN_FD)

log = logging.getLogger(__name__)

__all__ = ["Board", "load_board", "parse_keys", "read_key_file", "role_number", "ROLE_NAMES",
           "DEFAULT_PORT"]

DEFAULT_PORT = 6520
# A Pi has memory to spare: a host slot costs its LinkSession's buffers (with
# the deep queues below, about 0.1 MB each); boards set MAX_HOSTS, a board
# file with gateway_config() sets GatewayConfig.max_hosts there.
DEFAULT_MAX_HOSTS = 4
ROLE_NAMES = {ROLE_NONE: "none", ROLE_MONITOR: "monitor", ROLE_DIAGNOSTIC: "diagnostic",
              ROLE_FULL: "full"}
_CAN_KEYS = ("interface", "channel", "bitrate", "fd", "data_bitrate")


def role_number(name: str) -> int:
    """"none" / "monitor" / "diagnostic" / "full" -> ROLE_*."""
    for r, n in ROLE_NAMES.items():
        if n == name:
            return r
    raise ConfigError("role: %r is not one of %s" % (name, ", ".join(ROLE_NAMES.values())))


class Board:
    """What a board file says, with defaults for everything it leaves out."""

    def __init__(self, name: str = "diagbridge", can: Any = (), link_tcp: Any = None, link_serial: Any = None,
                 serial_baudrate: Any = 115200, key_file: Any = None, module: Any = None, path: Any = None,
                 max_hosts: Any = DEFAULT_MAX_HOSTS) -> None:
        self.name = name
        if not isinstance(max_hosts, int) or isinstance(max_hosts, bool) \
                or not 1 <= max_hosts <= 31:
            raise ConfigError("MAX_HOSTS: %r is not a number of hosts from 1 to 31" % (max_hosts,))
        self.max_hosts = max_hosts
        self.can = [dict(c) for c in can]
        self.link_tcp = link_tcp
        self.link_serial = link_serial
        self.serial_baudrate = serial_baudrate
        self.key_file = key_file
        self.module = module
        self.path = path
        for i, c in enumerate(self.can):
            unknown = sorted(set(c) - set(_CAN_KEYS))
            if unknown or "interface" not in c or "channel" not in c:
                raise ConfigError("CAN[%d]: needs interface and channel (keys: %s), got %s"
                                  % (i, ", ".join(_CAN_KEYS), sorted(c)))

    def gateway_config(self) -> GatewayConfig:
        fn = getattr(self.module, "gateway_config", None)
        if fn is not None:
            cfg = fn()
            if not isinstance(cfg, GatewayConfig):
                raise ConfigError("gateway_config() must return a GatewayConfig")
            if cfg.n_buses < len(self.can):
                raise ConfigError("gateway_config(): n_buses %d < %d CAN buses"
                                  % (cfg.n_buses, len(self.can)))
            return cfg
        kw = {}
        for name in ("DIAGNOSTIC_TX_IDS", "FULL_TX_IDS"):
            if hasattr(self.module, name):
                kw[name.lower()] = getattr(self.module, name)
        try:
            return GatewayConfig(n_buses=max(1, len(self.can)), max_hosts=self.max_hosts,
                                 tx_confirm=True, **kw)
        except ConfigError as e:
            raise ConfigError("board file %s: %s: write ((first, last, extended), ...) "
                              "ranges of CAN ids%s" % (self.path, str(e).upper(),
                                                       " or None" if "full" in str(e) else "")
                              ) from None

    def link_config(self, keys: Any, open_role: Any) -> LinkConfig:
        fn = getattr(self.module, "link_config", None)
        if fn is not None:
            cfg = fn(keys, open_role)
            if not isinstance(cfg, LinkConfig):
                raise ConfigError("link_config() must return a LinkConfig")
            return cfg
        buses = []
        for i, c in enumerate(self.can):
            buses.append((i, BUS_CAN_FD if c.get("fd") else BUS_CAN, int(c.get("bitrate") or 0),
                          int(c.get("data_bitrate") or 0)))
        # A Pi has memory to spare: deep event queues ride out a host's hiccups.
        return LinkConfig(name=self.name.encode()[:64], keys=keys, open_role=open_role,
                          buses=tuple(buses), event_queue=1024, event_queue_bytes=65536)


def load_board(path: str) -> Board:
    """Run a board file and read its constants.  ConfigError says what is wrong."""
    if not os.path.isfile(path):
        raise ConfigError("board file %s: no such file (see boards/pi-can-hat/board.py)" % path)
    spec = importlib.util.spec_from_file_location("diagbridge_board", path)
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)
    except SyntaxError as e:
        raise ConfigError("board file %s, line %s: %s" % (path, e.lineno, e.msg)) from None
    except Exception as e:             # noqa: BLE001 (whatever the file does wrong)
        raise ConfigError("board file %s failed to load: %s: %s"
                          % (path, type(e).__name__, e)) from None
    g = getattr
    try:
        return Board(name=str(g(mod, "NAME", os.path.basename(os.path.dirname(path)) or "board")),
                     can=tuple(g(mod, "CAN", ())), link_tcp=g(mod, "LINK_TCP", None),
                     link_serial=g(mod, "LINK_SERIAL", None),
                     serial_baudrate=int(g(mod, "SERIAL_BAUDRATE", 115200)),
                     key_file=g(mod, "KEY_FILE", None), module=mod, path=path,
                     max_hosts=g(mod, "MAX_HOSTS", DEFAULT_MAX_HOSTS))
    except (TypeError, ValueError) as e:
        raise ConfigError("board file %s: %s" % (path, e)) from None


def parse_keys(text: str, where: str = "key file") -> tuple:
    """The key file's text -> ((role, key), ...) for LinkConfig.keys (diagbridge.link.keyfile)."""
    return keyfile.parse_keys(text, where)


def read_key_file(path: str) -> tuple:
    """Read and parse a key file; warns when others may read it."""
    try:
        with open(path, "r", encoding="utf-8") as fh:
            text = fh.read()
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ConfigError("key file %s: no such file (create one: `umask 077; head -c 24 "
                          "/dev/urandom | base64 | sed 's/^/full: /' > %s`)"
                          % (path, path)) from None
    except PermissionError:
        raise ConfigError("key file %s: permission denied (run the daemon as the user "
                          "that owns it)" % path) from None
    except UnicodeDecodeError:
        # not the decoder's message: it quotes the offending byte, a byte of the key
        raise ConfigError("key file %s: not UTF-8 text (write a binary key as hex:... or "
                          "base64:...)" % path) from None
    except OSError as e:
        raise ConfigError("key file %s: cannot read it: %s" % (path, e.strerror or e)) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("key file %s can be read by other users: chmod 600 %s", path, path)
    return parse_keys(text, "key file %s" % path)
