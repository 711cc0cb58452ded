"""Load an ECU profile (diagbridge.uds.server.profile) from a JSON or TOML file
(CPython only).  TOML needs Python 3.11+ (tomllib); on 3.10 only JSON loads.

Files cannot hold bytes, so byte fields are ASCII strings, lists of ints or
{"hex": "01 02"}; identifier keys may be "0xF190" strings.  Profile()
normalises both and raises ConfigError naming the field.
"""
import json
from typing import Optional
import os

from diagbridge.errors import ConfigError
from diagbridge.uds.server.profile import Profile

try:
    import tomllib
except ImportError:             # Python 3.10
    tomllib = None


def load_dict(path: str) -> dict:
    ext = os.path.splitext(path)[1].lower()
    if ext == ".toml":
        if tomllib is None:
            raise ConfigError("profile: TOML needs Python 3.11+ (use JSON): " + path)
        with open(path, "rb") as f:
            try:
                return tomllib.load(f)
            except tomllib.TOMLDecodeError as e:
                raise ConfigError("profile: %s: %s" % (path, e)) from None
    with open(path, "r", encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise ConfigError("profile: %s: %s" % (path, e)) from None


def load_profile(path: str, sources: Optional[dict] = None) -> Profile:
    """A validated Profile from a .json or .toml file."""
    return Profile(load_dict(path), sources=sources)
