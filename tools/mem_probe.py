# The probes of tools/mem_imports.py; runs inside MicroPython (the unix port
# from .mpy files), one probe per interpreter:
#
#   import mem_probe; mem_probe.imports(ENTRIES)   # import cost per module
#   mem_probe.buffers(NAME, MODS)                  # the largest buffers of a build
#
# imports: every import statement goes through a hook that charges the heap a
# module's body keeps (gc.collect() + gc.mem_alloc() before and after) to that
# module: "incl" is the module with everything it imported first, "self" its
# own part (incl minus what its own imports cost).  A dotted name's parent
# packages are imported (and charged) first, so a package's __init__ is never
# hidden in a submodule's figure.  Prints one line per module, and the qstr
# pool's figures (micropython.qstr_info) before and after each import:
#   @@imp NAME INCL SELF SEQ PARENT_SEQ
#   @@q SEQ a|b  + the qstr_info line
#
# buffers: builds the scenario's objects (an Ecu with the engine profile, its
# service modules imported first; a Gateway with two buses), prints the heap
# they hold and every bytearray
# reachable from them of at least MIN_BYTES, with its attribute path:
#   @@obj NAME BYTES
#   @@buf BYTES PATH
import gc
import sys

import micropython

MIN_BYTES = 256

_rows = []          # (name, incl, self, seq, parent seq) in completion order
_stack = []         # heap charged to the children of each import in progress
_seqs = []          # seq of each import in progress
_next = [0]


def _used():
    gc.collect()
    return gc.mem_alloc()


def _hook_factory(orig):
    def hook(name, globals=None, locals=None, fromlist=None, level=0):
        if level or name in sys.modules:
            return orig(name, globals, locals, fromlist, level)
        dot = name.rfind(".")
        if dot > 0 and name[:dot] not in sys.modules:
            hook(name[:dot], globals, locals, None, 0)
        seq = _next[0]
        _next[0] += 1
        parent = _seqs[-1] if _seqs else -1
        _seqs.append(seq)
        _stack.append(0)
        before = _used()
        _qstr(seq, "a")
        try:
            m = orig(name, globals, locals, fromlist, level)
        finally:
            incl = _used() - before
            _qstr(seq, "b")
            children = _stack.pop()
            _seqs.pop()
            if _stack:
                _stack[-1] += incl
        _rows.append((name, incl, incl - children, seq, parent))
        return m
    return hook


def _qstr(seq, when):
    # the qstr pool's figures, for the caller to subtract: the pool grows in
    # chunks, charged to whichever import starts one
    print("@@q %d %s" % (seq, when))
    micropython.qstr_info()


def imports(entries, build=None, mods=None):
    """Import `entries` under the hook; then, if `build` names a scenario,
    build its objects too (what they import lazily, such as a profile's
    service modules, is charged to those modules)."""
    import builtins
    builtins.__import__ = _hook_factory(builtins.__import__)
    for name in entries:
        __import__(name)
    if build is not None:
        base = _used()
        label, obj, held = _BUILD[build](mods, False)
        print("@@obj %s %d" % (label, _used() - base))
    for name, incl, own, seq, parent in _rows:
        print("@@imp %s %d %d %d %d" % (name, incl, own, seq, parent))


def _mod(name):
    m = __import__(name)
    for part in name.split(".")[1:]:
        m = getattr(m, part)
    return m


def _walk(obj, path, seen, out, depth):
    if depth > 12:
        return
    t = type(obj)
    if t is bytearray:
        if id(obj) not in seen:
            seen.add(id(obj))
            if len(obj) >= MIN_BYTES:
                out.append((len(obj), path))
        return
    if t in (int, bool, str, bytes, float, memoryview) or obj is None:
        return
    if id(obj) in seen:
        return
    if t is type or t is type(sys) or callable(obj):
        return
    seen.add(id(obj))
    if t is list or t is tuple:
        for i in range(len(obj)):
            _walk(obj[i], "%s[%d]" % (path, i), seen, out, depth + 1)
        return
    if t is dict:
        for k in obj:
            _walk(obj[k], "%s[%r]" % (path, k), seen, out, depth + 1)
        return
    d = getattr(obj, "__dict__", None)
    if d is not None:
        for k in d:
            _walk(d[k], path + "." + k, seen, out, depth + 1)


def _ecu(mods, data_only):
    e = _mod("diagbridge.ecu")
    profiles = _mod(mods["profiles"])
    eng = _mod(profiles.PROFILES["engine"])
    if data_only:
        # the service modules first, so the figure is the ECU's own data
        svc = _mod(mods["services"])
        for name in eng.profile()["modules"]:
            svc.specs(name)
    base = _used()
    node = e.Ecu(profiles.make("engine"))
    return "ecu", node, _used() - base


def _gateway(mods, data_only):
    gwm = _mod("diagbridge.gateway")
    lcm = _mod(mods["linkconfig"])
    P = _mod(mods["proto"])
    import hashlib
    import os
    base = _used()
    gw = gwm.Gateway(gwm.GatewayConfig(n_buses=2),
                     lcm.LinkConfig(name=b"diagbridge-board", open_role=P.ROLE_FULL),
                     hashlib.sha256, os.urandom)
    return "gw", gw, _used() - base


_BUILD = {"ecu": _ecu, "gateway": _gateway}


def buffers(name, mods):
    label, obj, held = _BUILD[name](mods, True)
    print("@@obj %s %d" % (label, held))
    out = []
    _walk(obj, label, set(), out, 0)
    out.sort(key=lambda r: -r[0])
    for n, path in out:
        print("@@buf %d %s" % (n, path))
