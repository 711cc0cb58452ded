# RequestTransferExit over a slow NVM (a file system's fsync): TransferData
# only marks RAM sectors dirty, 0x37 hands them all to a deferred NVM
# (put_nowait + one sync_start), then, once they are durable, the slot record
# that makes them the image (a second sync), and answers 7F 37 78 before P2
# and every P2* until the last sync is over -- the server never blocks.
# Virtual time only; the fake NVM's sync ends after a number of polls.
from uds_xfer_driver import make, ask, h, run_pending, T0
from diagbridge.uds.server.services import transfer as srv_transfer
from diagbridge.uds.server.nvm import MemNvm
from diagbridge.uds.server.transfer_machine import context, _NEXT, S_IDLE, S_COMMITTING

PROFILE = {"transfer": {"download_regions": [{"start": 0x600000, "size": 0x20000}],
                        "upload_regions": [{"start": 0x600000, "size": 0x20000}],
                        "max_block_length": 0x402}}
P2_US = 50000 - 10000            # P2_server 50 ms, pending_margin 10 ms
P2STAR_US = 5000000 - 10000
POLL_US = 2000                   # transfer.py _COMMIT_POLL_US


class DeferredNvm(MemNvm):
    """MemNvm with the deferred interface: put_nowait values are readable at
    once but 'durable' only when a sync ends, `polls` sync_poll calls after
    sync_start (or at sync())."""

    def __init__(self, polls=0, fail=False):
        MemNvm.__init__(self)
        self.polls = polls
        self.fail = fail
        self.unsynced = []
        self.durable = []
        self.syncs = 0
        self._left = -1

    def put_nowait(self, key, value):
        self.put(key, value)
        self.unsynced.append(key)

    def sync_start(self):
        self.syncs += 1
        self._left = self.polls

    def sync_poll(self):
        if self._left < 0:
            return 0
        if self._left > 0:
            self._left -= 1
            return 1
        self._left = -1
        if self.fail:
            return -1
        self.durable += self.unsynced
        self.unsynced = []
        return 0

    def sync(self):
        self.sync_start()
        self._left = 0
        if self.sync_poll() < 0:
            raise OSError(5)


def _image(n):
    return bytes((i * 11 + (i >> 8)) & 0xFF for i in range(n))


def _download(s, data, addr=0x600000):
    assert ask(s, T0, h("34 00 33") + addr.to_bytes(3, "big") + len(data).to_bytes(3, "big")) \
        == h("74 20 04 02")
    bsc = 1
    for pos in range(0, len(data), 0x400):
        assert ask(s, T0, bytes((0x36, bsc)) + data[pos:pos + 0x400]) == bytes((0x76, bsc))
        bsc = (bsc + 1) & 0xFF


def test_a_quick_sync_answers_77_after_a_poll_without_0x78():
    nvm = DeferredNvm(polls=0)
    s = make(PROFILE, [srv_transfer.SPECS], session=2, nvm=nvm)
    data = _image(3 * 4096 + 100)
    _download(s, data)
    assert nvm.unsynced == []                       # TransferData writes RAM only
    assert ask(s, T0, h("37")) == h("77")           # synced within the handler's poll
    assert nvm.syncs == 2 and len(nvm.durable) == 5     # 4 sectors, then the record
    assert nvm.durable[-1] == "mem.image"


def test_a_slow_sync_gets_0x78_before_p2_then_77():
    nvm = DeferredNvm(polls=30)                     # 30 polls x 2 ms = 60 ms > P2
    s = make(PROFILE, [srv_transfer.SPECS], session=2, nvm=nvm)
    data = _image(0x20000)                          # 128 KiB: 32 sectors
    _download(s, data)
    assert ask(s, T0, h("37")) is None              # pending: nothing blocks, nothing yet
    assert context(s).machine.state == S_COMMITTING
    assert len(nvm.unsynced) == 32 and nvm.syncs == 1
    assert ask(s, T0, h("36 21")) == h("7F 36 21")  # busy meanwhile
    pend, final, at = run_pending(s, T0, 0x37)
    assert pend == [P2_US] and final == h("77")
    assert at == 2 * 30 * POLL_US                   # sectors synced, then the record
    assert context(s).machine.state == S_IDLE and len(nvm.durable) == 33
    s2 = make(PROFILE, [srv_transfer.SPECS], session=2, nvm=nvm.power_cycle())
    assert ask(s2, T0, h("35 00 33 60 00 00 00 00 10")) == h("75 20 04 02")
    assert ask(s2, T0, h("36 01")) == h("76 01") + data[:16]


def test_a_sync_longer_than_p2star_gets_0x78_every_p2star():
    nvm = DeferredNvm(polls=6000)                   # 12 s per sync, two syncs
    s = make(PROFILE, [srv_transfer.SPECS], session=2, nvm=nvm)
    _download(s, _image(5000))
    assert ask(s, T0, h("37")) is None
    pend, final, at = run_pending(s, T0, 0x37)
    assert pend == [P2_US + k * P2STAR_US for k in range(5)] and final == h("77")
    assert at == 2 * 6000 * POLL_US


def test_a_failed_sync_is_72_after_the_0x78():
    nvm = DeferredNvm(polls=40, fail=True)
    s = make(PROFILE, [srv_transfer.SPECS], session=2, nvm=nvm)
    _download(s, _image(5000))
    assert ask(s, T0, h("37")) is None
    pend, final, at = run_pending(s, T0, 0x37)
    assert pend == [P2_US] and final == h("7F 37 72")
    assert context(s).machine.state == S_IDLE
    assert ask(s, T0, h("37")) == h("7F 37 24")     # the transfer is over


def test_an_upload_exit_syncs_nothing():
    nvm = DeferredNvm(polls=100)
    s = make(PROFILE, [srv_transfer.SPECS], session=2, nvm=nvm)
    assert ask(s, T0, h("35 00 33 60 00 00 00 00 10")) == h("75 20 04 02")
    assert ask(s, T0, h("36 01"))[:2] == h("76 01")
    assert ask(s, T0, h("37")) == h("77") and nvm.syncs == 0


def test_a_plain_nvm_commits_inside_the_handler_as_before():
    nvm = MemNvm()
    s = make(PROFILE, [srv_transfer.SPECS], session=2, nvm=nvm)
    _download(s, _image(5000))
    w = nvm.writes
    assert ask(s, T0, h("37")) == h("77") and nvm.writes == w + 3    # 2 sectors, record


def test_erase_waits_for_its_sync():
    nvm = DeferredNvm(polls=100)
    s = make(PROFILE, [srv_transfer.SPECS], session=2, nvm=nvm)
    assert context(s).store.erase(0x600000, 8192) == 0
    assert nvm.unsynced == [] and len(nvm.durable) == 3     # 2 sectors, record
    nvm.fail = True
    assert context(s).store.erase(0x600000, 4096) == 0x72


def test_transition_table_is_complete():
    for row in _NEXT:
        assert len(row) == len(_NEXT[0])
        for nxt in row:
            assert -1 <= nxt < len(_NEXT)
    assert _NEXT[S_COMMITTING].count(S_IDLE) == 2    # committed, or aborted
