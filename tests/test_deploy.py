"""tools/deploy: the commands it prints (files, order), the custom-firmware
steps and the manifest check, one clear line for a bad board or port; and
the deployment replayed on this machine: the printed mpy-cross commands run,
the board-side preparation and the copies are played into a folder that
stands for the board's filesystem, and the MicroPython unix port imports the
gateway from it and builds the board's configs.  No board is attached here,
so mpremote itself never reaches a device."""
import pathlib
import shlex
import shutil
import subprocess
import sys

import pytest

from frozen_size import read_manifest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "tools" / "deploy"
BOARD = ROOT / "boards" / "rp2-mcp2515"
MICROPYTHON = pathlib.Path(sys.executable).parent / "micropython"


def run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, str(DEPLOY)] + list(args), cwd=cwd,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)


def commands(out):
    """The printed commands (comment lines dropped), each split as a shell would."""
    text = out.replace(" \\\n", " ")
    return [shlex.split(c) for c in _split_commands(text)]


def _split_commands(text):
    """Lines, except that a quoted argument (the exec script) spans lines."""
    out = []
    cur = ""
    for line in text.split("\n"):
        cur = line if not cur else cur + "\n" + line
        try:
            shlex.split(cur)
        except ValueError:          # an open quote: the command goes on
            continue
        if cur.strip() and not cur.startswith("#"):
            out.append(cur)
        cur = ""
    return out


def chain(cmd):
    """An mpremote command line split at '+' into its commands."""
    parts = [[]]
    for a in cmd[3:]:
        if a == "+":
            parts.append([])
        else:
            parts[-1].append(a)
    return parts


def _dry_run(*extra):
    r = run("rp2-mcp2515", "--dry-run", *extra)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("# deploy rp2-mcp2515 to ")
    return commands(r.stdout)


def test_dry_run_compiles_every_manifest_file_then_copies_and_resets():
    cmds = _dry_run("--port", "/dev/ttyACM0")
    manifest = read_manifest(BOARD / "manifest.py")
    compiled = [c for c in cmds if pathlib.Path(c[0]).name == "mpy-cross"]
    mpremote = [c for c in cmds if pathlib.Path(c[0]).name == "mpremote"]
    assert len(compiled) + len(mpremote) == len(cmds)
    assert cmds[:len(compiled)] == compiled                  # compile first
    # one compile per frozen file but main.py, at the manifest's -O level
    want = [f for f in manifest.files if f.target != "main.py"]
    assert [c[c.index("-s") + 1] for c in compiled] == [f.target for f in want]
    for c, f in zip(compiled, want):
        assert (ROOT / c[-1]).resolve() == f.source.resolve()
        if f.opt is None:
            assert not [a for a in c if a.startswith("-O")]
        else:
            assert "-O%d" % f.opt in c
    assert "diagbridge/mpy/mcp2515.py" in [f.target for f in want]
    assert not [f for f in want if "/cpy/" in f.target or "/sim/" in f.target]
    # then prepare, copy, reset; all on the given port
    assert [m[1:3] for m in mpremote] == [["connect", "/dev/ttyACM0"]] * 3
    assert mpremote[0][3] == "exec" and mpremote[2][3:] == ["reset"]
    copies = chain(mpremote[1])
    assert all(p[:2] == ["fs", "cp"] and len(p) == 4 for p in copies)
    outputs = [c[c.index("-o") + 1] for c in compiled]
    assert [p[2] for p in copies[:-1]] == outputs            # every .mpy, in order
    remote = [p[3] for p in copies]
    assert remote[-1] == ":main.py" and copies[-1][2] == "boards/rp2-mcp2515/main.py"
    assert ":board.mpy" in remote and ":lib/diagbridge/mpy/mcp2515.mpy" in remote
    assert all(r.startswith(":lib/diagbridge/") for r in remote[:-2])
    assert ":key.txt" not in remote                          # none given
    assert "no key.txt on the board" in mpremote[0][4]       # the board warns instead


def test_dry_run_default_port_and_key_file(tmp_path):
    key = tmp_path / "key.txt"
    key.write_text("full: 0123456789abcdef\n")
    cmds = _dry_run("--key-file", str(key))
    mp = [c for c in cmds if pathlib.Path(c[0]).name == "mpremote"]
    assert mp[0][1:3] == ["connect", "auto"]
    copies = chain(mp[1])
    assert copies[-2] == ["fs", "cp", str(key), ":key.txt"]  # the key, then main.py
    assert copies[-1][3] == ":main.py"
    assert "no key.txt" not in mp[0][4]


def test_frozen_prints_the_build_and_checks_the_manifest():
    r = run("rp2-mcp2515", "--frozen", "--micropython", "/opt/mp", "--port", "/dev/ttyACM0")
    assert r.returncode == 0, r.stderr
    n = len(read_manifest(BOARD / "manifest.py").files)
    assert "manifest boards/rp2-mcp2515/manifest.py: %d files, every one present" % n \
        in r.stdout
    lines = [ln for ln in r.stdout.splitlines() if not ln.startswith("#")]
    assert lines[0].startswith("git clone") and lines[0].endswith(" /opt/mp")
    assert lines[1] == "make -C /opt/mp/mpy-cross"
    assert lines[2] == "make -C /opt/mp/ports/rp2 BOARD=RPI_PICO submodules"
    assert lines[3] == "make -C /opt/mp/ports/rp2 BOARD=RPI_PICO FROZEN_MANIFEST=%s" % (
        BOARD / "manifest.py")
    assert lines[4].startswith("cp /opt/mp/ports/rp2/build-RPI_PICO/firmware.uf2 ")
    assert lines[5] == "mpremote connect /dev/ttyACM0 fs cp key.txt :key.txt + reset"


def _board(tmp_path, manifest):
    boards = tmp_path / "boards"
    b = boards / "b1"
    b.mkdir(parents=True)
    shutil.copy(BOARD / "board.py", b / "board.py")
    shutil.copy(BOARD / "main.py", b / "main.py")
    (b / "manifest.py").write_text(manifest)
    return boards


def test_a_manifest_naming_a_missing_file_fails(tmp_path):
    boards = _board(tmp_path, 'module("board.py")\nmodule("main.py")\nmodule("gone.py")\n')
    r = run("b1", "--frozen", "--boards", str(boards))
    assert r.returncode == 1 and "every one present but 1" in r.stdout
    assert "MISSING %s" % (boards / "b1" / "gone.py") in r.stdout
    r = run("b1", "--dry-run", "--boards", str(boards))
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.strip().endswith("names missing files: %s" % (boards / "b1" / "gone.py"))
    assert len(r.stderr.splitlines()) == 1


@pytest.mark.parametrize("args, text", [
    (["no-such-board", "--dry-run"], "deploy: no board 'no-such-board' in boards/ (boards: "),
    (["no-such-board", "--frozen"], "deploy: no board 'no-such-board' in boards/"),
    (["pi-can-hat", "--dry-run"], "deploy: boards/pi-can-hat is not a MicroPython board"),
    (["rp2-mcp2515", "--port", "/dev/ttyNO-SUCH-PORT"], "deploy: no port /dev/ttyNO-SUCH-PORT"),
    (["rp2-mcp2515", "--key-file", "/no/such/key"], "deploy: no key file /no/such/key"),
], ids=["board", "board-frozen", "cpython-board", "port", "key-file"])
def test_bad_board_or_port_is_one_line_and_exit_2(args, text):
    r = run(*args)
    assert r.returncode == 2
    assert r.stdout == ""                      # nothing compiled, nothing copied
    assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith(text), r.stderr


@pytest.mark.skipif(not MICROPYTHON.exists(), reason="the MicroPython unix port (test extra)")
def test_replayed_deployment_imports_on_micropython(tmp_path):
    key = tmp_path / "key.txt"
    key.write_text("full: 0123456789abcdef0123\n")
    cmds = _dry_run("--key-file", str(key))
    compiled = [c for c in cmds if pathlib.Path(c[0]).name == "mpy-cross"]
    mp = [c for c in cmds if pathlib.Path(c[0]).name == "mpremote"]
    stage = pathlib.Path(compiled[0][compiled[0].index("-o") + 1]).parents[2]
    mine = tmp_path / "stage"
    for c in compiled:                          # the printed commands, into our stage
        c = [a.replace(str(stage), str(mine)) for a in c]
        pathlib.Path(c[c.index("-o") + 1]).parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(c, cwd=ROOT, check=True, timeout=60)
    fs = tmp_path / "board-fs"                  # the board's filesystem
    (fs / "lib" / "diagbridge").mkdir(parents=True)
    (fs / "lib" / "diagbridge" / "can.py").write_text("raise ImportError('stale source')\n")
    (fs / "board.py").write_text("raise ImportError('stale board source')\n")
    prep = subprocess.run([str(MICROPYTHON), "-c", mp[0][4]], cwd=fs, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=60)
    assert prep.returncode == 0, prep.stdout
    assert not (fs / "lib" / "diagbridge" / "can.py").exists() and not (fs / "board.py").exists()
    for p in chain(mp[1]):
        src = p[2].replace(str(stage), str(mine))
        shutil.copy(ROOT / src, fs / p[3][1:])
    assert sorted(x.name for x in fs.iterdir()) == ["board.mpy", "key.txt", "lib", "main.py"]
    assert [p.name for p in fs.rglob("*.py")] == ["main.py"]     # everything else is .mpy
    script = ("import sys\nsys.path.append('lib')\nimport board\n"
              "import diagbridge.mpy.runner, diagbridge.mpy.mcp2515\n"
              "gc = board.gateway_config()\nlc = board.link_config()\n"
              "print('ok', board.NAME, gc.n_buses, lc.name, len(lc.keys))\n")
    r = subprocess.run([str(MICROPYTHON), "-c", script], cwd=fs, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "ok rp2-mcp2515 1 b'rp2-mcp2515' 1", r.stdout
