"""Seed-to-key functions for SecurityAccess (0x27) on the laptop side: the
built-in algorithms (``diagbridge.uds.seedkey``) or the OEM's own function,
found the way udsoncan users expect (``security_algo(level, seed, params)``).

    key_fn = load_key_function("diagbridge1", secret=b"...")        # built in
    key_fn = load_key_function("mycompany.seedkey:ecu_key", params={"mask": 0x1234})
    key_fn = load_key_function("acme")     # entry point "acme" in group "diagbridge.seedkey"
    uds.unlock(0x03, key_fn)

A plug-in is any callable ``fn(level: int, seed: bytes, params) -> bytes``
(udsoncan's ``security_algo`` signature; ``params`` is what was given here,
None by default).  The built-in names take ``secret`` instead.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Optional

from diagbridge.uds.seedkey import ALGORITHMS, key_function

from diagbridge_host.errors import UsageError

__all__ = ["ENTRY_POINT_GROUP", "BUILT_IN", "load_key_function", "is_built_in"]

ENTRY_POINT_GROUP = "diagbridge.seedkey"
BUILT_IN = ALGORITHMS

KeyFunction = Callable[[int, bytes], bytes]


def is_built_in(name: str) -> bool:
    """True for an algorithm the gateway itself computes (a flash job's)."""
    return name in ALGORITHMS


def _entry_point(name: str) -> Optional[Callable]:
    from importlib.metadata import entry_points
    try:
        eps = entry_points(group=ENTRY_POINT_GROUP)
    except TypeError:                           # Python 3.9's dict interface
        eps = entry_points().get(ENTRY_POINT_GROUP, ())
    for ep in eps:
        if ep.name == name:
            return ep.load()
    return None


def load_key_function(name: str, *, secret: bytes = b"", params: Any = None) -> KeyFunction:
    """``fn(level, seed) -> key`` for ``name``: a built-in algorithm
    (secret), ``module.path:function``, or an entry point of group
    ``diagbridge.seedkey``.  Raises UsageError saying what was not found."""
    if name in ALGORITHMS:
        if name in ("diagbridge1", "xor") and not secret:
            raise UsageError("the %s key algorithm needs a secret (--secret)" % name)
        return key_function(name, secret)
    if ":" in name:
        mod_name, _, attr = name.partition(":")
        try:
            mod = importlib.import_module(mod_name)
        except ImportError as e:
            raise UsageError("key algorithm %r: cannot import %s (%s)" % (name, mod_name, e))
        fn = getattr(mod, attr, None)
        if fn is None:
            raise UsageError("key algorithm %r: %s has no %r" % (name, mod_name, attr))
    else:
        fn = _entry_point(name)
        if fn is None:
            raise UsageError("unknown key algorithm %r: use one of %s, module.path:function, "
                             "or an entry point of group %r"
                             % (name, ", ".join(ALGORITHMS), ENTRY_POINT_GROUP))
    if not callable(fn):
        raise UsageError("key algorithm %r is not callable" % name)

    def call(level: int, seed: bytes) -> bytes:
        key = fn(level, bytes(seed), params)
        if not isinstance(key, (bytes, bytearray)):
            raise UsageError("key algorithm %r returned %s, not bytes"
                             % (name, type(key).__name__))
        return bytes(key)
    return call
