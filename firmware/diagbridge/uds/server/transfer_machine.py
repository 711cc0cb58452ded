# The upload/download state machine of the UDS server, ISO 14229-1 §15
# (digest §9): one transfer at a time, opened by RequestDownload 0x34,
# RequestUpload 0x35 or RequestFileTransfer 0x38, fed by TransferData 0x36,
# closed by RequestTransferExit 0x37 (or aborted by a session change/reset).
# A download's target stages what TransferData wrote; only the exit of that
# same download commits it, an abort calls the target's discard().
#
#              START_DOWN                BLOCK (accepted)
#    S_IDLE ─────────────▶ S_DOWNLOAD ─────────────────▶ S_WRITING
#     ▲  │ START_UP          │  ▲        WRITTEN (program time over)│
#     │  ▼                   │  └─────────────────────────────────────┘
#     │ S_UPLOAD ◀─ BLOCK    │ EXIT (all data in) / ABORT (any state)
#     └──────────────────────┘
#     ▲                      │ EXIT_WAIT (commit still running)
#     └──── COMMITTED ── S_COMMITTING (RequestTransferExit answered 0x78)
#
# The data goes to or comes from a *target* (read / write / commit /
# commit_poll, see uds/server/mem_store.py): the MemoryStore of mem_store.py
# (download/upload regions, NVM commit per sector; re-exported here) and the
# file stores of uds/server/file_store.py.  A commit that runs on (COMMIT_PENDING, a
# deferred NVM) makes RequestTransferExit answer RSP_PENDING (S_COMMITTING).
#
# TransferData counter rules (§15.4.1, digest §9.3): the counter starts at 01
# after 34/35/38, +1 per block, wrapping FF -> 00.  A block carrying the
# counter of the last accepted block is a repeat after a lost response: it is
# answered again without writing twice (upload: the same data is sent again).
# Check order (Fig 33 is missing from the source; reconstructed [K?]):
# 13 short -> 24 no transfer -> 73 counter -> 24 all data already in ->
# 13 block length -> 31 beyond memorySize -> 71/72/92/93 faults.
from diagbridge.uds.nrc import NRC_IMLOIF, NRC_CNC, NRC_RSE, NRC_ROOR, NRC_TDS, NRC_GPF, NRC_WBSC
from diagbridge._compat import const
from diagbridge.clock import ticks_add, due
from diagbridge.errors import ConfigError
from diagbridge.uds.codec.transfer import next_bsc
from diagbridge.uds.server.mem_store import MemoryStore, COMMIT_PENDING   # re-exported
from diagbridge.uds.server.service import RSP_PENDING


_RSP_TD = const(0x76)

# States
S_IDLE = const(0)
S_DOWNLOAD = const(1)       # blocks flow client -> server
S_UPLOAD = const(2)         # blocks flow server -> client
S_WRITING = const(3)        # a download block is being programmed (0x78 pending)
S_COMMITTING = const(4)     # RequestTransferExit: the NVM commit runs (0x78 pending)
# Inputs
_I_START_DOWN = const(0)
_I_START_UP = const(1)
_I_BLOCK = const(2)
_I_WRITTEN = const(3)
_I_EXIT = const(4)
_I_ABORT = const(5)
_I_EXIT_WAIT = const(6)     # exit accepted, the target's commit is still running
_I_COMMITTED = const(7)     # ... and has ended (done or failed)

# _NEXT[state][input] = next state, or -1: not allowed in that state (the
# caller answers 0x22 for a second start, 0x24 for a block or exit).
_NEXT = (
    (S_DOWNLOAD, S_UPLOAD, -1, -1, -1, S_IDLE, -1, -1),             # S_IDLE
    (-1, -1, S_WRITING, -1, S_IDLE, S_IDLE, S_COMMITTING, -1),      # S_DOWNLOAD
    (-1, -1, S_UPLOAD, -1, S_IDLE, S_IDLE, S_COMMITTING, -1),       # S_UPLOAD
    (-1, -1, -1, S_DOWNLOAD, -1, S_IDLE, -1, -1),                   # S_WRITING
    (-1, -1, -1, -1, -1, S_IDLE, -1, S_IDLE),                       # S_COMMITTING
)

_COMMIT_POLL_US = const(2000)   # how often a pending commit is polled


class Transfer:
    """The transfer in progress; state and counters are public, read-only."""

    def __init__(self):
        self.state = S_IDLE
        self.target = None
        self.base = 0           # target address of byte 0 of the transfer
        self.size = 0           # bytes to transfer (memorySize / file size)
        self.pos = 0            # bytes accepted so far
        self.bsc = 0            # counter of the last accepted block
        self.last_len = 0       # data bytes of that block (for a repeat)
        self.any_block = False  # a repeat needs an accepted block first
        self.block_max = 0      # maxNumberOfBlockLength (SID + BSC + data)
        self.program_us_per_kib = 0
        self.fault = 0          # fault injection: the next block fails with this NRC
        self.writes = 0         # blocks written (a repeat does not count)
        self.writes_open = False  # a download target holds staged data
        self._busy_until = None
        self._bsc_pending = 0

    def _go(self, inp):
        nxt = _NEXT[self.state][inp]
        if nxt < 0:
            return False
        self.state = nxt
        return True

    # ---- opening and closing ------------------------------------------------------
    def start(self, upload, target, base, size, block_max, pos=0, program_us_per_kib=0):
        """Open a transfer (after 34/35/38 passed their checks): 0 or NRC 0x22."""
        if not self._go(_I_START_UP if upload else _I_START_DOWN):
            return NRC_CNC
        self.target = target
        self.base = base
        self.size = size
        self.pos = pos
        self.bsc = 0            # so the first expected counter is 01
        self.last_len = 0
        self.any_block = False
        self.block_max = block_max
        self.program_us_per_kib = program_us_per_kib
        self.writes_open = not upload
        return 0

    def exit(self, now, record_len):
        """RequestTransferExit: 0 (closed), the NRC, or RSP_PENDING: the
        target's commit runs on; call exit_resume until it is final."""
        if self.state != S_DOWNLOAD and self.state != S_UPLOAD:
            return NRC_RSE
        if self.pos < self.size:
            return NRC_RSE             # transfer not complete (Table 459)
        if record_len:
            return NRC_ROOR            # no VM transferRequestParameterRecord defined
        nrc = self.target.commit()
        if nrc == COMMIT_PENDING:
            self._go(_I_EXIT_WAIT)
            self._busy_until = ticks_add(now, _COMMIT_POLL_US)
            return RSP_PENDING
        if nrc:
            return nrc                  # 0x72: finalising failed
        self._go(_I_EXIT)
        self.target = None
        self.writes_open = False
        return 0

    def exit_resume(self, now):
        """While S_COMMITTING: 0 (closed), the NRC (0x72), or RSP_PENDING."""
        if self.state != S_COMMITTING:
            return NRC_GPF             # aborted while committing
        if not due(now, self._busy_until):
            return RSP_PENDING
        nrc = self.target.commit_poll()
        if nrc == COMMIT_PENDING:
            self._busy_until = ticks_add(now, _COMMIT_POLL_US)
            return RSP_PENDING
        self._busy_until = None
        self._go(_I_COMMITTED)
        if nrc:
            t = self.target             # the commit failed: nothing of it stays staged
            self.target = None
            self.writes_open = False
            t.discard()
            return nrc
        self.target = None
        self.writes_open = False
        return nrc

    def abort(self):
        """Session change, reset, or 0x71: drop the transfer and what it
        staged (the target's discard(): only its own exit commits it)."""
        t = self.target
        self._go(_I_ABORT)
        self.target = None
        self._busy_until = None
        if t is not None and self.writes_open:
            t.discard()
        self.writes_open = False

    # ---- TransferData -------------------------------------------------------------
    def transfer_data(self, now, req, n, rsp):
        """Handle `36 BSC [data]`: response length in rsp, -NRC or RSP_PENDING."""
        if n < 2:
            return -NRC_IMLOIF
        st = self.state
        if st != S_DOWNLOAD and st != S_UPLOAD:
            return -NRC_RSE
        bsc = req[1]
        upload = st == S_UPLOAD
        if self.any_block and bsc == self.bsc:
            return self._repeat(req, n, rsp, upload)
        if bsc != next_bsc(self.bsc):
            return -NRC_WBSC
        if self.pos >= self.size:
            return -NRC_RSE            # everything is in: only 37 may follow
        if upload:
            if n != 2:
                return -NRC_IMLOIF
            count = self.size - self.pos
            room = self.block_max - 2
            if count > room:
                count = room
        else:
            if n > self.block_max or n == 2:
                return -NRC_IMLOIF
            count = n - 2
            if self.pos + count > self.size:
                return -NRC_ROOR
        if self.fault:
            nrc = self.fault
            self.fault = 0
            if nrc == NRC_TDS:
                self.abort()
            return -nrc
        if upload:
            self.target.read(self.base + self.pos, rsp, 2, count)
        else:
            nrc = self.target.write(self.base + self.pos, req, 2, count)
            if nrc:
                return -nrc
            self.writes += 1
        self.pos += count
        self.bsc = bsc
        self.last_len = count
        self.any_block = True
        rsp[0] = _RSP_TD
        rsp[1] = bsc
        if upload:
            return 2 + count
        us = (count * self.program_us_per_kib) >> 10
        self._go(_I_BLOCK)
        if us <= 0:
            self._go(_I_WRITTEN)
            return 2
        self._busy_until = ticks_add(now, us)
        self._bsc_pending = bsc
        return RSP_PENDING

    def _repeat(self, req, n, rsp, upload):
        rsp[0] = _RSP_TD
        rsp[1] = self.bsc
        if not upload:
            if n > self.block_max:
                return -NRC_IMLOIF
            return 2                    # already written: do not write twice
        if n != 2:
            return -NRC_IMLOIF
        self.target.read(self.base + self.pos - self.last_len, rsp, 2, self.last_len)
        return 2 + self.last_len

    # programming time (RSP_PENDING): the server calls these through the spec
    def deadline(self):
        return self._busy_until

    def resume(self, now, rsp):
        """Final response once programming is over, else RSP_PENDING."""
        if self.state != S_WRITING:
            return -NRC_TDS            # aborted while programming
        if not due(now, self._busy_until):
            return RSP_PENDING
        self._busy_until = None
        self._go(_I_WRITTEN)
        rsp[0] = _RSP_TD
        rsp[1] = self._bsc_pending
        return 2


def _regions(cfg, key):
    out = []
    lst = cfg.get(key, ())
    for k in range(len(lst)):
        r = lst[k]
        try:
            start = r["start"]
            size = r["size"]
        except (KeyError, TypeError):
            raise ConfigError("transfer.%s.%d" % (key, k))
        if start < 0 or size <= 0:
            raise ConfigError("transfer.%s.%d.size" % (key, k))
        out.append((start, size, r.get("erase_us_per_kib", 0)))
    return out


class TransferContext:
    """Everything the upload/download services share on one server: the
    transfer machine, the memory regions and (if configured) the file store."""

    def __init__(self, srv, files=None):
        p = srv.profile
        cfg = getattr(p, "transfer", None) or {}
        self.download_regions = _regions(cfg, "download_regions")
        self.upload_regions = _regions(cfg, "upload_regions")
        self.store = MemoryStore(self.download_regions + self.upload_regions,
                                 getattr(srv, "nvm", None), getattr(p, "memory", ()))
        mbl = cfg.get("max_block_length", 0x0402)
        if mbl > len(srv.rsp):
            mbl = len(srv.rsp)
        if mbl < 3:
            raise ConfigError("transfer.max_block_length")
        self.max_block_length = mbl
        self.data_formats = tuple(cfg.get("data_formats", (0x00,)))
        self.program_us_per_kib = cfg.get("program_us_per_kib", 0)
        self.files = files
        self.machine = Transfer()
        # [addr, size, bytes programmed since] per erase (eraseMemory 0xFF00):
        # checkProgrammingDependencies passes once every erased range is
        # programmed again; an "erase_required" region takes downloads only
        # inside an erased range (else 0x70)
        self.erased = []
        self.last_download = None   # (addr, size) of the open download
        self.exit_download = False  # the RequestTransferExit in progress ends one
        self.refuse = False         # fault injection: 34/35 answer 0x70

    def programmed(self, addr, size):
        """A download into [addr, addr+size) completed (RequestTransferExit)."""
        for e in self.erased:
            lo = addr if addr > e[0] else e[0]
            hi = addr + size
            if e[0] + e[1] < hi:
                hi = e[0] + e[1]
            if hi > lo:
                e[2] += hi - lo

    def dependencies_ok(self):
        for e in self.erased:
            if e[2] < e[1]:
                return False
        return True

    def region_for(self, regions, addr, size):
        for start, rsize, _ in regions:
            if start <= addr and addr + size <= start + rsize:
                return start
        return -1


def context(srv):
    """The server's TransferContext, made on first use (once per server)."""
    ctx = getattr(srv, "uds_transfer", None)
    if ctx is None:
        ctx = TransferContext(srv)
        srv.uds_transfer = ctx
    return ctx
