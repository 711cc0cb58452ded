"""RAM and disk the 0x38/0x34 stores hold after aborted transfers (CPython:
tracemalloc), and the memory-image commit over a real FileNvm cut at every
rename (cpy/nvm_file.py's write points)."""
import os
import tracemalloc


import test_uds_transfer_abort as abort_tests  # noqa: E402
import test_uds_transfer_cut as cut  # noqa: E402
from uds_xfer_driver import make, ask, h, T0  # noqa: E402
from diagbridge.cpy import nvm_file  # noqa: E402
from diagbridge.cpy.nvm_file import FileNvm  # noqa: E402
from diagbridge.uds.codec.transfer import MOP_ADD_FILE  # noqa: E402


def test_1000_aborted_add_files_hold_no_ram():
    s, store = abort_tests._files()
    tracemalloc.start()
    try:
        for i in range(8):                          # warm up (caches, interned names)
            ask(s, T0, abort_tests._req(MOP_ADD_FILE, b"w.bin", 4096))
            abort_tests._abort(s, 0)
        base = tracemalloc.get_traced_memory()[0]
        peak_held = 0
        for i in range(1000):
            assert ask(s, T0, abort_tests._req(MOP_ADD_FILE, b"f%d.bin" % i, 4096))[:2] == h("78 01")
            abort_tests._blocks(s, 2, 0x33)
            peak_held = max(peak_held, store.held)
            abort_tests._abort(s, i % 3)
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert peak_held == 4096 and store.held == 0
    assert grown < 16384, grown                     # 1000 x 4 KiB would be 4 MB


class _Cut(Exception):
    pass


def test_file_nvm_commit_cut_at_every_rename_leaves_each_sector_old_or_new(tmp_path, monkeypatch):
    real_replace = os.replace
    outcomes = []
    k = 0
    while True:
        folder = str(tmp_path / ("k%d" % k))
        nvm = FileNvm(folder, fsync=False)
        for key, value in cut._old_image().items():
            nvm.put(key, value)
        left = [k]

        def replace(src, dst):
            if left[0] <= 0:
                raise OSError(5, "power cut")
            left[0] -= 1
            real_replace(src, dst)

        s = make(cut.PROFILE, cut.SPECS, session=2, nvm=nvm)   # power-up (boot counter) first
        monkeypatch.setattr(nvm_file.os, "replace", replace)
        cut._download(s, 0x600000, cut.NEW[:0x2000])
        r = cut._exit(s)
        monkeypatch.setattr(nvm_file.os, "replace", real_replace)
        flags = cut._check(*cut._view(FileNvm(folder, fsync=False)))     # power-up
        assert flags[2] is False and flags[0] == flags[1], (k, flags)
        outcomes.append(flags[0])
        if r == h("77"):
            assert flags[:2] == [True, True]
            break
        assert r == h("7F 37 72")
        k += 1
    assert k == 5 and outcomes == [False] * 3 + [True] * 3
