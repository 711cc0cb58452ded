"""Type hints on the CPython-only code (firmware/diagbridge/cpy/, host/): every
def of every file is annotated (a new file too), and the table per file.  A
def counts as annotated when it has a return annotation and every
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


def test_every_def_of_the_cpython_only_code_is_annotated():
    """cpy/ and host/: every def, parameters and return (a new file too)."""
    gaps = {f: m for f, (_ok, _n, m) in coverage().items() if m}
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
