"""The layering rules of ARCHITECTURE.md, checked on the source."""
import ast
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(ROOT, "firmware", "diagbridge")
HOST = os.path.join(ROOT, "host", "diagbridge_host")

# Adapter folders: CPython, MicroPython.  sim is portable and counts as core+.
ADAPTERS = ("cpy", "mpy")
# What the host may import from the gateway package: the wire format, the codes
# and the pure leaves and tables (no state machine): the UDS layouts, names and
# seed/key algorithms, the CRCs and the CAN facts.  One copy of each fact.
HOST_MAY_USE = ("diagbridge.link", "diagbridge.codes", "diagbridge.errors",
                "diagbridge.crc", "diagbridge.can", "diagbridge.uds.codec", "diagbridge.uds.sid",
                "diagbridge.uds.nrc", "diagbridge.uds.seedkey",
                # the tester's request builders and response decoders over the codecs
                # (the CLI's one-request commands); never the tester's machines
                "diagbridge.uds.client.api")
# ... plus the simulated vehicle, only for the sim:// transport (an in-process
# gateway), imported inside the function that opens it.
HOST_SIM_TRANSPORT = os.path.join(HOST, "transports", "sim.py")
# ... plus the ECU runner, only for the `diagbridge ecu` command of the entry
# point, imported inside the function that runs it.
HOST_ENTRY = os.path.join(HOST, "main.py")
# ... plus the simulated vehicle and the daemon's link transports, only for
# `diagbridge sim`, imported inside the functions that serve it.
HOST_SIM_SERVER = os.path.join(HOST, "sim_server.py")


def _modules(folder):
    for d, _dirs, files in os.walk(folder):
        for f in sorted(files):
            if f.endswith(".py"):
                yield os.path.join(d, f)


def _imports(path):
    with open(path) as fh:
        tree = ast.parse(fh.read(), path)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                out.append("<relative>")
            else:
                out.append(node.module)
    return out


def _area(path):
    rel = os.path.relpath(path, FIRMWARE).split(os.sep)
    return rel[0] if len(rel) > 1 and rel[0] in ADAPTERS + ("sim",) else "core"


def test_core_and_sim_import_only_the_core():
    bad = []
    for path in _modules(FIRMWARE):
        area = _area(path)
        if area in ADAPTERS:
            continue
        for m in _imports(path):
            top = m.split(".")[0]
            rel = os.path.relpath(path, ROOT)
            if m == "<relative>":
                bad.append((rel, "relative import"))
            elif top == "micropython":
                if not path.endswith("_compat.py"):
                    bad.append((rel, m + " (only _compat may import micropython)"))
            elif top != "diagbridge":
                bad.append((rel, m))
            elif any(m.startswith("diagbridge." + a) for a in ADAPTERS):
                bad.append((rel, m + " (the core never imports an adapter)"))
            elif area == "core" and m.startswith("diagbridge.sim"):
                bad.append((rel, m + " (the core never imports the simulation)"))
    assert bad == []


def test_adapters_do_not_import_each_other():
    bad = []
    for path in _modules(FIRMWARE):
        area = _area(path)
        if area not in ADAPTERS:
            continue
        for m in _imports(path):
            for other in ADAPTERS + ("sim",):
                if other != area and m.startswith("diagbridge." + other):
                    bad.append((os.path.relpath(path, ROOT), m))
    assert bad == []


def test_host_imports_only_the_wire_format_and_codes():
    bad = []
    for path in _modules(HOST):
        for m in _imports(path):
            if m.split(".")[0] != "diagbridge" or m.startswith(HOST_MAY_USE):
                continue
            if path == HOST_SIM_TRANSPORT and m.startswith("diagbridge.sim"):
                continue
            if path == HOST_ENTRY and m == "diagbridge.cpy.ecu.runner":
                continue
            if path == HOST_SIM_SERVER and m.startswith(("diagbridge.sim", "diagbridge.cpy")):
                continue
            bad.append((os.path.relpath(path, ROOT), m))
    assert bad == []


def test_the_firmware_never_imports_the_host_package():
    """No arrow back: the `diagbridge` command lives in the host package."""
    bad = []
    for path in _modules(FIRMWARE):
        for m in _imports(path):
            if m.split(".")[0] == "diagbridge_host":
                bad.append((os.path.relpath(path, ROOT), m))
    assert bad == []


def test_host_sim_import_is_lazy():
    """transports/sim.py imports diagbridge.sim inside a function only, so
    importing the host library never loads the simulation."""
    for path in (HOST_SIM_TRANSPORT, HOST_SIM_SERVER):
        with open(path) as fh:
            tree = ast.parse(fh.read())
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) \
                    else [node.module]
                assert not any(n.startswith(("diagbridge.sim", "diagbridge.cpy"))
                               for n in names), path


def test_nothing_runs_at_import():
    """Importing every portable module loads no I/O, clock or logging module
    and prints nothing."""
    names = []
    for path in _modules(FIRMWARE):
        if _area(path) in ADAPTERS:
            continue
        rel = os.path.relpath(path, os.path.dirname(FIRMWARE))[:-3].replace(os.sep, ".")
        names.append(rel[:-len(".__init__")] if rel.endswith(".__init__") else rel)
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "for n in %r: __import__(n)\n"
        "new = set(sys.modules) - before\n"
        "bad = sorted(m for m in new if m.split('.')[0] in %r)\n"
        "print(bad)\n"
    ) % (names, ("logging", "asyncio", "threading", "socket", "can", "serial", "select",
                 "subprocess", "msgpack", "cryptography", "typing", "enum", "dataclasses"))
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "firmware"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True)
    assert out.stdout.strip() == "[]" and out.stderr == ""


# One rule per folder of the core: which of the core's folders each may use.
# The protocol packages never import one another; inside uds/ the roles stay
# apart and the codecs are pure.
FOLDER_RULES = {
    "cantp": ("diagbridge.cantp",),
    "link": ("diagbridge.link",),
    "uds/codec": ("diagbridge.uds.codec", "diagbridge.uds.sid", "diagbridge.uds.nrc"),
    "uds/client": ("diagbridge.uds.client", "diagbridge.uds.codec", "diagbridge.uds.sid",
                   "diagbridge.uds.nrc", "diagbridge.uds.seedkey"),
    "uds/server": ("diagbridge.uds.server", "diagbridge.uds.codec", "diagbridge.uds.sid",
                   "diagbridge.uds.nrc", "diagbridge.uds.seedkey"),
}
# The shared leaves every folder may use.
LEAVES = ("diagbridge._compat", "diagbridge.clock", "diagbridge.codes", "diagbridge.errors",
          "diagbridge.evq", "diagbridge.crc", "diagbridge.can")


def test_each_core_folder_imports_only_what_its_rule_allows():
    bad = []
    for folder, allowed in FOLDER_RULES.items():
        for path in _modules(os.path.join(FIRMWARE, *folder.split("/"))):
            for m in _imports(path):
                if not m.startswith("diagbridge.") or m.startswith(LEAVES + allowed):
                    continue
                bad.append((os.path.relpath(path, ROOT), m))
    assert bad == []


def test_every_service_module_is_in_the_plugin_table_and_every_entry_exists():
    from diagbridge.uds.server.services import SERVICES
    from diagbridge.uds.server.profiles import PROFILES
    for folder, table in (("services", SERVICES), ("profiles", PROFILES)):
        d = os.path.join(FIRMWARE, "uds", "server", folder)
        files = sorted(f[:-3] for f in os.listdir(d) if f.endswith(".py") and f != "__init__.py")
        assert sorted(v.rsplit(".", 1)[1] for v in table.values()) == files, folder
        assert all(v.startswith("diagbridge.uds.server.%s." % folder) for v in table.values())
