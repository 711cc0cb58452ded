"""OsFileStore (cpy/files_os.py): 0x38 over a real sandbox folder."""
import os


from uds_xfer_driver import make, ask, h, T0  # noqa: E402
from diagbridge.cpy.files_os import OsFileStore  # noqa: E402
from diagbridge.uds.server.services import transfer as srv_transfer  # noqa: E402
from diagbridge.uds.codec.transfer import build_request_file_transfer  # noqa: E402

PROFILE = {"transfer": {"max_block_length": 0x0102}}


def _req(mode, path, size=0):
    out = bytearray(300)
    n = build_request_file_transfer(out, mode, path, 0, size, size, 4)
    return bytes(out[:n])


def _srv(root):
    s = make(PROFILE, [srv_transfer.SPECS], session=2)
    srv_transfer.set_file_store(s, OsFileStore(str(root), 4096))
    return s


def test_add_read_list_delete(tmp_path):
    s = _srv(tmp_path)
    data = bytes(range(256)) * 2
    assert ask(s, T0, _req(1, b"logs/a.bin", 512)) == h("78 01 02 01 02 00")
    for i, bsc in ((0, 1), (256, 2)):
        assert ask(s, T0, bytes((0x36, bsc)) + data[i:i + 256]) == bytes((0x76, bsc))
    assert not (tmp_path / "logs" / "a.bin").exists()          # only the .part so far
    assert ask(s, T0, h("37")) == h("77")
    assert (tmp_path / "logs" / "a.bin").read_bytes() == data
    r = ask(s, T0, _req(5, b"logs"))
    assert r[:6] == h("78 05 02 01 02 00")
    assert ask(s, T0, h("36 01")) == h("76 01") + b"a.bin\n"
    assert ask(s, T0, h("37")) == h("77")
    assert ask(s, T0, _req(4, b"logs/a.bin"))[:2] == h("78 04")
    assert ask(s, T0, h("36 01"))[2:] == data[:256]
    assert ask(s, T0, h("36 02"))[2:] == data[256:]
    assert ask(s, T0, h("37")) == h("77")
    assert ask(s, T0, _req(2, b"logs/a.bin")) == h("78 02")
    assert not (tmp_path / "logs" / "a.bin").exists()


def test_resume_continues_the_part_file(tmp_path):
    # a '.part' a power loss left behind (no abort ran) is what ResumeFile continues
    s = _srv(tmp_path)
    ask(s, T0, _req(1, b"fw.bin", 300))
    assert ask(s, T0, h("36 01") + bytes(range(200))) == h("76 01")
    s = _srv(tmp_path)                                  # power cut, power up
    r = ask(s, T0, _req(6, b"fw.bin", 300))
    assert r[-8:] == (200).to_bytes(8, "big")
    assert ask(s, T0, h("36 01") + bytes(100)) == h("76 01")
    assert ask(s, T0, h("37")) == h("77")
    assert (tmp_path / "fw.bin").read_bytes() == bytes(range(200)) + bytes(100)


def test_sandbox_escapes_are_rejected(tmp_path):
    box = tmp_path / "box"
    box.mkdir()
    outside = tmp_path / "secret.txt"
    outside.write_bytes(b"secret")
    os.symlink(str(outside), str(box / "link.txt"))
    os.symlink(str(tmp_path), str(box / "up"))
    s = _srv(box)
    for p in (b"../secret.txt", b"/etc/passwd", b"link.txt", b"up/secret.txt",
              b"a/../../secret.txt", b"x.part", str(outside).encode()):
        assert ask(s, T0, _req(4, p)) == h("7F 38 31"), p
        assert ask(s, T0, _req(1, p, 4)) == h("7F 38 31"), p
        assert ask(s, T0, _req(2, p)) == h("7F 38 31"), p
    assert ask(s, T0, _req(5, b"up")) == h("7F 38 31")
    assert outside.read_bytes() == b"secret"


def test_a_planted_part_file_is_never_followed(tmp_path):
    # '<name>.part' planted as a symlink (to a file outside the sandbox, or a
    # dangling one), a FIFO or a folder: AddFile, ReplaceFile and ResumeFile
    # answer 0x31 and nothing outside the sandbox changes.  A stale regular
    # '.part' from an aborted write is replaced by a fresh file.
    box = tmp_path / "box"
    box.mkdir()
    outside = tmp_path / "victim.bin"
    outside.write_bytes(b"keep me")
    s = _srv(box)
    planted = {"a.bin": lambda p: os.symlink(str(outside), p),
               "b.bin": lambda p: os.symlink(str(tmp_path / "nowhere"), p),
               "c.bin": os.mkfifo,
               "d.bin": os.mkdir}
    for name, plant in planted.items():
        plant(str(box / (name + ".part")))
        for mode in (1, 3, 6):              # AddFile, ReplaceFile, ResumeFile
            assert ask(s, T0, _req(mode, name.encode(), 4)) == h("7F 38 31"), (name, mode)
    assert outside.read_bytes() == b"keep me"
    assert not (tmp_path / "nowhere").exists()
    (box / "e.bin.part").write_bytes(b"stale data")
    assert ask(s, T0, _req(1, b"e.bin", 4))[:2] == h("78 01")
    assert (box / "e.bin.part").read_bytes() == b""
    assert not (box / "e.bin.part").is_symlink()


def _abort(s):
    s.set_session(T0, 3)                    # a session change ends the transfer
    s.set_session(T0, 2)


def test_64_aborted_writes_leave_no_part_file_no_descriptor_no_bytes(tmp_path):
    s = _srv(tmp_path)
    store = srv_transfer.context(s).files
    fds = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    for i in range(64):
        assert ask(s, T0, _req(1, b"logs/f%d.bin" % i, 4096)) == h("78 01 02 01 02 00")
        assert store.held == 4096
        assert (tmp_path / "logs" / ("f%d.bin.part" % i)).exists()
        for bsc in range(1, 1 + i % 4):
            assert ask(s, T0, bytes((0x36, bsc)) + bytes(256)) == bytes((0x76, bsc))
        _abort(s)
        assert store.held == 0
        assert ask(s, T0, h("36 01")) == h("7F 36 24")
    assert sorted(os.listdir(str(tmp_path / "logs"))) == []
    if fds is not None:
        assert len(os.listdir("/proc/self/fd")) == fds
    assert store._open == {}


def test_a_write_past_the_bound_is_70_and_creates_nothing(tmp_path):
    s = make(PROFILE, [srv_transfer.SPECS], session=2)
    store = OsFileStore(str(tmp_path), 4096, max_open_bytes=1000)
    srv_transfer.set_file_store(s, store)
    assert ask(s, T0, _req(1, b"big.bin", 1001)) == h("7F 38 70")
    assert os.listdir(str(tmp_path)) == [] and store.held == 0
    assert ask(s, T0, _req(1, b"big.bin", 1000))[:2] == h("78 01")
    assert store.held == 1000
    data = bytes(range(250)) * 4
    for bsc, pos in ((1, 0), (2, 256), (3, 512), (4, 768)):
        assert ask(s, T0, bytes((0x36, bsc)) + data[pos:pos + 256]) == bytes((0x76, bsc))
    assert ask(s, T0, h("37")) == h("77")
    assert store.held == 0 and (tmp_path / "big.bin").read_bytes() == data
    assert os.listdir(str(tmp_path)) == ["big.bin"]


def test_blocks_stream_to_the_part_file(tmp_path):
    # nothing of the file is held in RAM: each block is in the '.part' at once
    s = _srv(tmp_path)
    assert ask(s, T0, _req(1, b"a.bin", 512))[:2] == h("78 01")
    assert ask(s, T0, h("36 01") + bytes(range(256))) == h("76 01")
    assert (tmp_path / "a.bin.part").read_bytes() == bytes(range(256))
    assert ask(s, T0, h("36 02") + bytes(256)) == h("76 02")
    assert ask(s, T0, h("37")) == h("77")
    assert srv_transfer.context(s).files.held == 0
    assert not (tmp_path / "a.bin.part").exists()
    assert (tmp_path / "a.bin").read_bytes() == bytes(range(256)) + bytes(256)
