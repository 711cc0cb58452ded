# One exception root.  Exceptions are for the caller's mistakes only; a peer's
# fault is a result code (diagbridge.codes), never an exception.
#
#   DiagbridgeError
#    +-- UsageError   (also RuntimeError): request in the wrong state, buffer too small
#    +-- ConfigError  (also ValueError):   a config field out of range; names the field
#
# MicroPython allows one built-in exception base per class ("multiple bases
# have instance lay-out conflict"), so there the builtin mix-in is dropped and
# the classes keep only the diagbridge root, which is what callers catch.


class DiagbridgeError(Exception):
    pass


try:
    class UsageError(DiagbridgeError, RuntimeError):
        pass

    class ConfigError(DiagbridgeError, ValueError):
        pass
except TypeError:
    class UsageError(DiagbridgeError):
        pass

    class ConfigError(DiagbridgeError):
        pass


def config_int(name, v, lo, hi):
    """v if it is an int (not a bool) in lo..hi, else ConfigError(name)."""
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise ConfigError(name)
    return v
