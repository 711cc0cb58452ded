# A memory-image commit cut by a power loss at every NVM write point: after
# power-up each 4 KiB sector (with the profile memory region that overlaps
# it) holds wholly the old or wholly the new bytes, never a mix, and a commit
# that ran to its end is wholly new.  uds/server/mem_store.py writes the new
# sectors into their other slots, then flips one record; a cut after the flip
# is rolled forward at power-up.
import gc

from uds_xfer_driver import make, ask, h, run_pending, T0
from diagbridge.uds.server.services import transfer as srv_transfer
from diagbridge.uds.server.services import memory as srv_memory
from diagbridge.uds.server.nvm import MemNvm
from diagbridge.uds.server.transfer_machine import context

# sectors 0..2; the mirror 0x6000F0..0x6010EF straddles sectors 0 and 1
PROFILE = {"sessions": {1: {}, 2: {}, 3: {}},
           "memory": [{"start": 0x6000F0, "size": 0x1000, "write": {"sessions": [2]}}],
           "transfer": {"download_regions": [{"start": 0x600000, "size": 0x3000}],
                        "max_block_length": 0x0402}}
SPECS = [srv_transfer.SPECS, srv_memory.SPECS]
SECTOR = 0x1000
OLD = bytes((i * 7 + 1) & 0xFF for i in range(0x3000))
NEW = bytes((i * 13 + 5) & 0xFF for i in range(0x2000)) + OLD[0x2000:]   # sectors 0, 1 change
M0 = 0xF0                   # the mirror's offset in the image
M1 = 0x10F0


class CutNvm(MemNvm):
    """A MemNvm whose power goes after `budget` more writes: the write that
    would exceed it, and every later one, raises OSError and stores nothing."""

    def __init__(self, contents, budget):
        self.budget = len(contents)
        MemNvm.__init__(self, contents)
        self.budget = budget

    def put(self, key, value):
        if self.budget <= 0:
            raise OSError(5)
        self.budget -= 1
        MemNvm.put(self, key, value)

    def after_cut(self):
        """The NVM as the next power-up finds it (power back: writes work)."""
        self.budget = 1 << 30
        self.unsynced = {}
        return _Plain(self)


class _Plain:
    """An NVM's contents without its deferred interface (a power-up reads
    it as a plain store)."""

    def __init__(self, nvm):
        self._n = nvm
        self.get = nvm.get
        self.keys = nvm.keys
        self.delete = nvm.delete
        self.put = lambda key, value: MemNvm.put(nvm, key, value)

    @property
    def writes(self):
        return self._n.writes


class CutDeferredNvm(CutNvm):
    """The same with the deferred interface: a cut loses every put_nowait not
    yet synced (keep=False) or keeps them all (keep=True: the disk had
    written them anyway); what a finished sync made durable stays."""

    def __init__(self, contents, budget, keep):
        CutNvm.__init__(self, contents, budget)
        self.keep = keep
        self.unsynced = {}          # key -> the value before the put_nowait
        self.cut = False

    def put_nowait(self, key, value):
        if key not in self.unsynced:
            self.unsynced[key] = self.get(key)
        try:
            self.put(key, value)
        except OSError:
            self.cut = True
            raise

    def sync_start(self):
        if self.cut or self.budget <= 0:
            return
        self.budget -= 1            # the sync is a write point too
        self.unsynced = {}

    def sync_poll(self):
        return -1 if self.cut or self.unsynced else 0

    def sync(self):
        self.sync_start()
        if self.sync_poll() < 0:
            raise OSError(5)

    def after_cut(self):
        """The NVM as the next power-up finds it (power back: writes work)."""
        if not self.keep:
            for k in self.unsynced:
                v = self.unsynced[k]
                if v is None:
                    MemNvm.delete(self, k)
                else:
                    MemNvm.put(self, k, v)
        return CutNvm.after_cut(self)


def _download(s, addr, data):
    assert ask(s, T0, h("34 00 33") + addr.to_bytes(3, "big") + len(data).to_bytes(3, "big")) \
        == h("74 20 04 02")
    bsc = 1
    for pos in range(0, len(data), 0x400):
        assert ask(s, T0, bytes((0x36, bsc)) + data[pos:pos + 0x400]) == bytes((0x76, bsc))
        bsc = (bsc + 1) & 0xFF


def _exit(s):
    r = ask(s, T0, h("37"))
    if r is None:                           # deferred: 7F 37 78 first
        _, r, _ = run_pending(s, T0, 0x37)
    return r


def _old_image():
    nvm = MemNvm()
    s = make(PROFILE, SPECS, session=2, nvm=nvm)
    _download(s, 0x600000, OLD)
    assert _exit(s) == h("77")
    return dict((k, nvm.get(k)) for k in nvm.keys())


def _view(nvm):
    """Power up on nvm: the image as 0x35/checksum read it, and the mirror as 0x23 reads it."""
    s = make(PROFILE, SPECS, session=2, nvm=nvm)
    out = bytearray(0x3000)
    context(s).store.read(0x600000, out, 0, 0x3000)
    mirror = b""
    for a in range(0x6000F0, 0x6010F0, 0x100):
        r = ask(s, T0, h("23 24") + a.to_bytes(4, "big") + h("01 00"))
        assert r[0] == 0x63 and len(r) == 0x101
        mirror += r[1:]
    return bytes(out), mirror


def _check(image, mirror):
    """Each sector wholly old or wholly new; the mirror agrees with the
    image it overlaps.  The list of 'new' flags per sector."""
    assert mirror == image[M0:M1]
    flags = []
    for k in range(3):
        got = image[k * SECTOR:(k + 1) * SECTOR]
        old = OLD[k * SECTOR:(k + 1) * SECTOR]
        new = NEW[k * SECTOR:(k + 1) * SECTOR]
        assert got == old or got == new, k
        flags.append(got == new and got != old)
    return flags


def _cut_everywhere(make_nvm):
    old = _old_image()
    outcomes = []
    k = 0
    while True:
        gc.collect()                        # one server at a time fits a board's heap
        nvm = make_nvm(old, 1 << 30)
        s = make(PROFILE, SPECS, session=2, nvm=nvm)
        nvm.budget = k                      # cut points count from the download on (the
                                            # power-up's own write, the boot counter, is not one)
        _download(s, 0x600000, NEW[:0x2000])
        r = _exit(s)
        done = r == h("77")
        if not done:
            assert r == h("7F 37 72"), (k, r)
        s = None
        flags = _check(*_view(nvm.after_cut()))
        assert flags[2] is False
        # the commit is atomic as a whole: both changed sectors agree
        assert flags[0] == flags[1], (k, flags)
        outcomes.append(flags[0])
        if done:
            assert flags[:2] == [True, True]            # a completed commit is fully new
            return k, outcomes
        k += 1


def test_a_plain_nvm_cut_at_every_write_leaves_each_sector_old_or_new():
    n, outcomes = _cut_everywhere(lambda old, k: CutNvm(old, k))
    # 2 sectors, the record, the mirror, the record cleared
    assert n == 5
    assert outcomes == [False] * 3 + [True] * 3      # old until the record flips


def test_a_deferred_nvm_cut_losing_unsynced_writes():
    n, outcomes = _cut_everywhere(lambda old, k: CutDeferredNvm(old, k, False))
    assert n == 9                   # 5 puts and 4 syncs
    assert outcomes[0] is False and outcomes[-1] is True
    assert outcomes.count(True) < len(outcomes)


def test_a_deferred_nvm_cut_keeping_unsynced_writes():
    n, outcomes = _cut_everywhere(lambda old, k: CutDeferredNvm(old, k, True))
    assert n == 9
    assert outcomes[0] is False and outcomes[-1] is True


def test_recover_rolls_the_mirror_forward_once():
    # cut right after the flip: the record says new, the mirror key is old;
    # power-up copies the new sectors into the mirror, persists it, clears the flag
    old = _old_image()
    nvm = CutNvm(old, 1 << 30)
    s = make(PROFILE, SPECS, session=2, nvm=nvm)
    nvm.budget = 3                          # the 2 sectors and the flipped record
    _download(s, 0x600000, NEW[:0x2000])
    assert _exit(s) == h("7F 37 72")
    after = nvm.after_cut()
    assert after.get("mem.image")[0] == 1                   # flag: mirrors pending
    assert after.get("mem:006000F0") == OLD[M0:M1]
    w = after.writes
    image, mirror = _view(after)
    assert after.writes == w + 3        # the boot counter (sec.boot), the mirror, the record
    assert after.get("mem:006000F0") == NEW[M0:M1]
    assert after.get("mem.image")[0] == 0
    assert _check(image, mirror) == [True, True, False]
    w = after.writes
    _view(after)
    assert after.writes == w + 1        # the boot counter only: nothing left to roll forward
