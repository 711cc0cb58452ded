# Value normalisation for the ECU profile (uds/server/profile.py) and the sections
# other modules own: identifier keys as ints (int, "0x1A" or "26"), byte
# values as bytes (bytes, a list of ints, {"hex": "01 02"} or an ASCII str),
# checked ints, dicts and lists, session sets and Access records.  Each
# raises ConfigError naming the field's path ("dids.0xF190.length").
from diagbridge.errors import ConfigError
from diagbridge.uds.server.service import NON_DEFAULT


def hex_id(v, w=2):
    return ("0x%0" + str(w) + "X") % v


def key_int(k, path, hi=0xFFFFFF):
    """A dict key or list item as an int: int, "0x1A" or "26"."""
    if isinstance(k, str):
        try:
            v = int(k, 16) if k[:2] in ("0x", "0X") else int(k)
        except ValueError:
            raise ConfigError(path)
    else:
        v = k
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= hi:
        raise ConfigError(path)
    return v


def to_bytes(v, path):
    """bytes, bytearray, a list of ints, {"hex": ".."} or an ASCII str."""
    if isinstance(v, (bytes, bytearray)):
        return bytes(v)
    if isinstance(v, str):
        try:
            return v.encode("ascii") if hasattr(v, "encode") else bytes(v, "ascii")
        except (UnicodeError, ValueError):
            raise ConfigError(path)
    if isinstance(v, dict) and "hex" in v and isinstance(v["hex"], str):
        s = v["hex"].replace(" ", "")
        if len(s) % 2:
            raise ConfigError(path)
        try:
            return bytes([int(s[i:i + 2], 16) for i in range(0, len(s), 2)])
        except ValueError:
            raise ConfigError(path)
    if isinstance(v, (list, tuple)):
        out = bytearray(len(v))
        for i in range(len(v)):
            out[i] = key_int(v[i], path, 0xFF)
        return bytes(out)
    raise ConfigError(path)


def int_field(d, k, path, default, lo, hi):
    v = d.get(k, default)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise ConfigError(path + "." + k)
    return v


def dict_field(v, path):
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise ConfigError(path)
    return v


def list_field(v, path):
    if v is None:
        return []
    if not isinstance(v, (list, tuple)):
        raise ConfigError(path)
    return v


def int_list(v, path, hi=0xFF):
    return tuple(key_int(x, path, hi) for x in list_field(v, path))


def sessions_set(v, path):
    """None/"any" -> ANY_SESSION, "non_default" -> NON_DEFAULT, else a tuple."""
    if v is None or v == "any":
        return None
    if v == "non_default":
        return NON_DEFAULT
    return int_list(v, path)


class Access:
    """Who may use an item: sessions (None = any, NON_DEFAULT, or a tuple),
    levels (() = no security), auth (False/0, True, or a role mask)."""

    def __init__(self, sessions=None, levels=(), auth=False):
        self.sessions = sessions
        self.levels = levels
        self.auth = auth


def access(v, path, default=None):
    if v is None:
        return default if default is not None else Access()
    if v is True:
        return Access()
    v = dict_field(v, path)
    auth = v.get("auth", False)
    if not isinstance(auth, (bool, int)):
        raise ConfigError(path + ".auth")
    return Access(sessions_set(v.get("sessions"), path + ".sessions"),
                  int_list(v.get("levels"), path + ".levels"), auth)
