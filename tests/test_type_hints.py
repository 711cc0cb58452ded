"""Type hints on the CPython-only code (firmware/diagbridge/cpy/, host/): the
fraction of fully annotated defs per file, and 100 % for the files listed in
COMPLETE.  A def counts as annotated when it has a return annotation and every
parameter has one (*args and **kwargs too), except the first parameter of a
method (self, cls).  Nested defs count like any other.  The portable core
carries none (MicroPython has no typing module) and is not measured.

    .venv/bin/python -m pytest -q tests/test_type_hints.py -s   # prints the table
"""
import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
CPY = ROOT / "firmware" / "diagbridge" / "cpy"
HOST = ROOT / "host" / "diagbridge_host"

# Files whose every def is annotated (paths relative to the repository root).
# Add a file here once it is complete.
COMPLETE = (
    "firmware/diagbridge/cpy/__init__.py",
    "firmware/diagbridge/cpy/canbus.py",
    "firmware/diagbridge/cpy/clock.py",
    "firmware/diagbridge/cpy/nvm_file.py",
    "firmware/diagbridge/cpy/cantp/__init__.py",
    "firmware/diagbridge/cpy/cantp/aio.py",
    "firmware/diagbridge/cpy/cantp/base.py",
    "firmware/diagbridge/cpy/cantp/blocking.py",
    "firmware/diagbridge/cpy/cantp/driver.py",
    "firmware/diagbridge/cpy/cantp/engine.py",
    "firmware/diagbridge/cpy/cantp/read.py",
    "firmware/diagbridge/cpy/uds/__init__.py",
    "firmware/diagbridge/cpy/uds/aio.py",
    "firmware/diagbridge/cpy/uds/client.py",
    "firmware/diagbridge/cpy/uds/image.py",
    "firmware/diagbridge/cpy/files_os.py",
    "firmware/diagbridge/cpy/ecu/runner.py",
    "firmware/diagbridge/cpy/ecu/profile_file.py",
    "host/diagbridge_host/aio.py",
    "host/diagbridge_host/bodies.py",
    "host/diagbridge_host/can_plugin.py",
    "host/diagbridge_host/cli.py",
    "host/diagbridge_host/cli_args.py",
    "host/diagbridge_host/cli_common.py",
    "host/diagbridge_host/cli_jobs.py",
    "host/diagbridge_host/cli_uds.py",
    "host/diagbridge_host/dids.py",
    "host/diagbridge_host/engine.py",
    "host/diagbridge_host/errors.py",
    "host/diagbridge_host/link_events.py",
    "host/diagbridge_host/seedkey.py",
    "host/diagbridge_host/uds.py",
)


def unannotated_defs(source):
    """(line, name) of every def in `source` that misses an annotation."""
    tree = ast.parse(source)
    methods = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    static = any(isinstance(d, ast.Name) and d.id == "staticmethod"
                                 for d in item.decorator_list)
                    if not static:
                        methods.add(item)
    missing = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        a = node.args
        params = a.posonlyargs + a.args
        if node in methods and params:
            params = params[1:]                 # self / cls
        params = params + a.kwonlyargs + [p for p in (a.vararg, a.kwarg) if p is not None]
        if node.returns is None or any(p.annotation is None for p in params):
            missing.append((node.lineno, node.name))
    return missing


def count_defs(source):
    return sum(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
               for n in ast.walk(ast.parse(source)))


def coverage():
    """relative path -> (annotated defs, all defs, [(line, name) missing])."""
    out = {}
    for base in (CPY, HOST):
        for p in sorted(base.rglob("*.py")):
            if "__pycache__" in p.parts:
                continue
            src = p.read_text()
            missing = unannotated_defs(src)
            n = count_defs(src)
            out[p.relative_to(ROOT).as_posix()] = (n - len(missing), n, missing)
    return out


def test_the_measure_counts_parameters_returns_and_skips_self():
    src = (
        "def a(x: int) -> int: ...\n"
        "def b(x) -> int: ...\n"
        "def c(x: int): ...\n"
        "def d(*args: int, **kw: str) -> None: ...\n"
        "def e(*args, k: int) -> None: ...\n"
        "class C:\n"
        "    def m(self, y: int) -> None: ...\n"
        "    @classmethod\n"
        "    def k(cls) -> 'C': ...\n"
        "    @staticmethod\n"
        "    def s(z) -> None: ...\n"
        "    async def n(self) -> None:\n"
        "        def inner(q): ...\n"
    )
    assert unannotated_defs(src) == [(2, "b"), (3, "c"), (5, "e"), (11, "s"), (13, "inner")]
    assert count_defs(src) == 10


def test_every_def_is_annotated_in_the_complete_files():
    cov = coverage()
    assert sorted(set(COMPLETE) - set(cov)) == []       # every listed file exists
    gaps = {f: cov[f][2] for f in COMPLETE if cov[f][2]}
    assert gaps == {}


def test_report_per_file():
    """The table (shown with -s): annotated / all defs per file."""
    cov = coverage()
    lines = []
    tot_ok = tot_all = 0
    for f, (ok, n, _missing) in sorted(cov.items()):
        tot_ok += ok
        tot_all += n
        lines.append("%5.1f %%  %3d/%-3d  %s" % (100.0 * ok / n if n else 100.0, ok, n, f))
    lines.append("%5.1f %%  %3d/%-3d  total" % (100.0 * tot_ok / tot_all, tot_ok, tot_all))
    print("\n".join(lines))
    assert tot_all > 0 and all(0 <= ok <= n for ok, n, _ in cov.values())
