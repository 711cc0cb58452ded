"""The board image: firmware/manifest.py freezes what a board runs
and nothing else, and a board manifest freezes the core only through it.

The manifests are executed with the functions MicroPython's manifest reader
offers (tools/frozen_size.py read_manifest), and imports are found with ast,
including the ones inside functions (a lazy import on a board fails at run
time, long after the build)."""
import ast
import pathlib

import pytest

from frozen_size import (FIRMWARE_MANIFEST, PACKAGE, ROOT, read_manifest, whole_package,
                         mpy_sizes)

BOARDS = ROOT / "boards"
BOARD_MANIFESTS = sorted(BOARDS.glob("*/manifest.py"))

# Firmware modules a board does not freeze, each with the reason.  A new module
# must be added to the manifest or here: test_every_firmware_module_is_classified.
NOT_ON_BOARD_FOLDERS = {
    "cpy/": "CPython adapters (python-can, pyserial, files, the daemon)",
    "sim/": "the simulation kernel and the simulated vehicle",
    "kline/": "K-Line (ISO 14230): no board runner drives it yet; frozen with the "
              "gateway's K-Line transport",
    "kwp/": "KWP2000 services over K-Line: frozen with kline/ once a board runner drives K-Line",
    "tacho/": "the tachograph calibration protocol over kwp/: frozen with kwp/ and kline/",
}
NOT_ON_BOARD = {
    "mpy/kline_uart.py": "the K-Line UART port needs kline/, frozen with it once a board "
                         "runner drives K-Line",
    "uds/client/api.py": "request builders and decoders for the CPython facades; the "
                         "gateway's jobs use the codecs directly",
    "uds/nrc_names.py": "NRC name strings: the host and the CPython facades print them, "
                        "a board sends only the codes",
    "uds/server/nvm.py": "MemNvm, the simulation's store; a board passes its own store "
                         "(or none) to the ECU",
    "uds/server/profiles/engine.py": "an example profile: a board that hosts it adds it in "
                                     "its own manifest (the PROFILES table is frozen)",
}


# ---- helpers ---------------------------------------------------------------------------------
def _firmware_modules():
    """Every .py of firmware/diagbridge/ as a path relative to it ("cantp/pci.py")."""
    return sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")
                  if "__pycache__" not in p.parts)


def _module_of(rel):
    """"cantp/pci.py" -> "diagbridge.cantp.pci"; "cantp/__init__.py" -> "diagbridge.cantp"."""
    parts = ["diagbridge"] + rel[:-3].split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _known_modules():
    """module name -> relative path, for every firmware module."""
    return {_module_of(rel): rel for rel in _firmware_modules()}


def _imported_modules(source, known):
    """The diagbridge modules that `source` imports anywhere (module level or
    inside functions), with the packages whose __init__ that import runs.
    `from pkg import name` counts pkg.name when that is a module.  A
    diagbridge name that is no known module is returned as-is."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(node.module + "." + a.name for a in node.names
                         if node.module + "." + a.name in known)
    out = set()
    for n in names:
        parts = n.split(".")
        if parts[0] != "diagbridge":
            continue
        for i in range(1, len(parts) + 1):
            m = ".".join(parts[:i])
            if m in known:
                out.add(m)
        if n not in known:
            out.add(n)
    return out


def _frozen_rel(manifest):
    """The firmware files a read manifest freezes, relative to firmware/diagbridge/."""
    return {f.target[len("diagbridge/"):] for f in manifest.files
            if f.target.startswith("diagbridge/")}


def _not_on_board(rel):
    return rel in NOT_ON_BOARD or any(rel.startswith(d) for d in NOT_ON_BOARD_FOLDERS)


def import_gaps(frozen_rel, extra_sources=()):
    """(importer, module) for every diagbridge module a frozen file (or one of
    `extra_sources`, e.g. a board's main.py) imports that is not frozen."""
    known = _known_modules()
    frozen_mods = {_module_of(rel) for rel in frozen_rel}
    gaps = []
    sources = [(rel, PACKAGE / rel) for rel in sorted(frozen_rel)] + list(extra_sources)
    for name, path in sources:
        for m in sorted(_imported_modules(path.read_text(), known)):
            if m not in frozen_mods:
                gaps.append((name, m))
    return gaps


def _firmware():
    return read_manifest(FIRMWARE_MANIFEST)


# ---- the firmware manifest -------------------------------------------------------------------
def test_every_listed_file_exists():
    m = _firmware()
    assert m.files, "the manifest froze nothing"
    missing = sorted(f.target for f in m.files if not f.source.is_file())
    assert missing == []
    assert all(f.target.startswith("diagbridge/") for f in m.files)
    assert all(f.opt == 3 for f in m.files)          # as before: -O3, no asserts, no lines


def test_no_file_is_listed_twice():
    targets = [f.target for f in _firmware().files]
    assert sorted(t for t in set(targets) if targets.count(t) > 1) == []


def test_the_frozen_set_is_closed_under_imports():
    assert import_gaps(_frozen_rel(_firmware())) == []


def test_the_closure_check_sees_a_missing_module_and_a_lazy_import():
    """The check itself: leaving out a module that others import at module
    level, or one a board file imports only inside a function, is reported."""
    frozen = _frozen_rel(_firmware())
    gaps = import_gaps(frozen - {"cantp/pci.py"})
    assert ("cantp/rx.py", "diagbridge.cantp.pci") in gaps
    assert ("cantp/tx.py", "diagbridge.cantp.pci") in gaps
    gaps = import_gaps(frozen - {"uds/server/profiles/__init__.py"})
    assert ("gateway/requests.py", "diagbridge.uds.server.profiles") in gaps
    # boards/rp2-mcp2515/board.py imports diagbridge.link.config in link_config() only
    board_py = BOARDS / "rp2-mcp2515" / "board.py"
    gaps = import_gaps(frozen - {"link/config.py"}, [("board.py", board_py)])
    assert ("board.py", "diagbridge.link.config") in gaps
    src = "def f():\n    from diagbridge.sim.kernel import Kernel\n"
    assert _imported_modules(src, _known_modules()) \
        == {"diagbridge", "diagbridge.sim", "diagbridge.sim.kernel"}
    # a diagbridge name that is no module at all is a gap too
    assert _imported_modules("import diagbridge.nowhere\n", _known_modules()) \
        == {"diagbridge", "diagbridge.nowhere"}


def test_nothing_from_cpy_or_sim_is_frozen():
    frozen = _frozen_rel(_firmware())
    assert sorted(r for r in frozen if r.startswith(("cpy/", "sim/"))) == []


def test_no_example_profile_and_no_tester_convenience_builder_is_frozen():
    frozen = _frozen_rel(_firmware())
    assert "uds/client/api.py" not in frozen
    assert sorted(r for r in frozen if r.startswith("uds/server/profiles/")) \
        == ["uds/server/profiles/__init__.py"]


def test_every_firmware_module_is_classified():
    """Frozen or named as not on a board, never both, and no stale entry."""
    frozen = _frozen_rel(_firmware())
    files = set(_firmware_modules())
    unclassified = sorted(r for r in files if r not in frozen and not _not_on_board(r))
    assert unclassified == [], "add these to firmware/manifest.py or NOT_ON_BOARD"
    assert sorted(r for r in frozen if _not_on_board(r)) == []
    assert sorted(r for r in NOT_ON_BOARD if r not in files) == []
    assert all((PACKAGE / d).is_dir() for d in NOT_ON_BOARD_FOLDERS)


def test_every_service_a_profile_can_name_is_frozen():
    """A hosted ECU's profile may name any service module through the
    SERVICES table (loaded by name, so ast cannot see it)."""
    from diagbridge.uds.server.services import SERVICES
    frozen_mods = {_module_of(r) for r in _frozen_rel(_firmware())}
    assert sorted(v for v in SERVICES.values() if v not in frozen_mods) == []


def test_every_example_profile_is_frozen_or_left_to_the_board():
    from diagbridge.uds.server.profiles import PROFILES
    frozen_mods = {_module_of(r) for r in _frozen_rel(_firmware())}
    known = _known_modules()
    for name, mod in PROFILES.items():
        assert mod in frozen_mods or _not_on_board(known[mod]), name


def test_the_image_lost_exactly_what_does_not_run_on_a_board():
    """What the board froze before (the whole package) against the manifest,
    in .mpy bytes (mpy-cross -O3): the files left out are the not-on-board
    ones, cpy/ and sim/ among them, and nothing else."""
    before = mpy_sizes(whole_package())
    after = mpy_sizes(_firmware().files)
    assert set(after) < set(before)
    gone = {t[len("diagbridge/"):] for t in before if t not in after}
    assert sorted(r for r in gone if not _not_on_board(r)) == []
    assert any(r.startswith("cpy/") for r in gone) and any(r.startswith("sim/") for r in gone)
    assert all(after[t] == before[t] for t in after)     # same file, same -O3: same bytes
    assert 0 < sum(after.values()) < sum(before.values())


# ---- the board manifests ---------------------------------------------------------------------
@pytest.mark.parametrize("path", BOARD_MANIFESTS, ids=lambda p: p.parent.name)
def test_a_board_freezes_the_core_only_through_the_firmware_manifest(path):
    m = read_manifest(path)
    assert FIRMWARE_MANIFEST.resolve() in m.included
    mine = _frozen_rel(_firmware())
    by_board = [f for f in m.files if f.manifest == path.resolve()]
    extra = sorted(f.target for f in by_board if f.target.startswith("diagbridge/"))
    # a board may add example profiles (and nothing else of the package) itself
    assert all(t.startswith("diagbridge/uds/server/profiles/") for t in extra), extra
    assert _frozen_rel(m) - mine == {t[len("diagbridge/"):] for t in extra}


@pytest.mark.parametrize("path", BOARD_MANIFESTS, ids=lambda p: p.parent.name)
def test_a_board_image_is_closed_under_imports(path):
    """The board's own files (main.py, board.py) import only what is frozen."""
    m = read_manifest(path)
    board = [f for f in m.files if not f.target.startswith("diagbridge/")]
    assert {"main.py", "board.py"} <= {f.target for f in board}
    assert all(f.source.is_file() for f in board)
    assert import_gaps(_frozen_rel(m), [(f.target, f.source) for f in board]) == []


def test_a_board_that_needs_a_missing_module_is_reported():
    """A board file importing a module the image lacks shows as a gap."""
    m = read_manifest(BOARD_MANIFESTS[0])
    main_py = [(f.target, f.source) for f in m.files if f.target == "main.py"]
    gaps = import_gaps(_frozen_rel(m) - {"mpy/runner.py"}, main_py)
    assert [g for g in gaps if g[0] == "main.py"] == [("main.py", "diagbridge.mpy.runner")]


def test_a_board_manifest_may_set_its_metadata(tmp_path):
    """include() shares the including manifest's metadata, which MicroPython's
    reader lets be set once: the firmware manifest sets none, so a board's
    own metadata() still works; a second one is an error, as in the build."""
    board = tmp_path / "manifest.py"
    board.write_text('metadata(description="a board")\ninclude(%r)\n' % str(FIRMWARE_MANIFEST))
    m = read_manifest(board)
    assert {f.target for f in m.files} == {f.target for f in _firmware().files}
    (tmp_path / "part.py").write_text('metadata(description="a part")\n')
    board.write_text('metadata(description="a board")\ninclude("part.py")\n')
    with pytest.raises(ValueError, match="duplicate call to metadata"):
        read_manifest(board)
