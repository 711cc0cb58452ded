# Flasher: the ISO 14229-1 programming sequence as a sans-I/O machine over a
# UdsClient (§15 and Annex: the usual non-volatile server memory programming
# process).  It has the client's transport verbs (pop_pdu, sent, feed_pdu,
# rx_started, rx_failed, on_timer, deadline, busy, tx, tx_functional), so a
# runner binds it exactly as it binds a client, plus its own events.
#
#   f = Flasher(image, cfg, client=None, progress=None)
#   f.start(now)                            the sequence begins
#   ev = f.poll(): EV_SEND | EV_STEP | EV_PROGRESS | EV_DONE
#
# Steps (optional ones in brackets), each one request and its response:
#   [10 03] [85 82 func] [28 81 01 func] 10 02  27 lv  [27 lv+1 key]
#   [31 01 FF00 erase]  34 DFI ALFID addr size  36 01.. (blocks)  37
#   [verify: 35 .. 36* .. 37 read back, or 31 01 RID checksum]
#   [31 01 FF01 check]  11 01  [28 80 01 func] [85 81 func]
# Blocks carry maxNumberOfBlockLength - 2 bytes (or cfg.block_max, if
# smaller); the block sequence counter starts at 01 and wraps FF -> 00.  A
# block whose response is lost (A_TIMEOUT_P2, a transport error, 0x21) is
# sent again with the same counter, as §15.4.1 allows (the server answers a
# repeat without writing twice), up to cfg.retries times in a row.  After a
# failed reception of an answer (the transport's N_WRONG_SN, N_TIMEOUT_CR
# ...) the repeat waits cfg.rx_retry_ms first: the server's sender may still
# be waiting N_Bs for a flow control we no longer send (ISO 15765-2), and a
# half-duplex server ignores requests until its transfer has ended.
#
# Verification: crc_image is the CRC-32 (IEEE 802.3) of the image, computed
# as the blocks go out; VERIFY_UPLOAD reads the memory back (0x35) and
# crc_readback must equal it; VERIFY_ROUTINE starts the checksum routine
# and compares its 2-byte status with the image's CRC-16/CCITT-FALSE.
#
# Events:  EV_SEND      a PDU is ready (the client's)
#          EV_STEP      `step` changed (its name: link/proto.py flash_step_name)
#          EV_PROGRESS  done_bytes / total / rate_bps / elapsed_us
#          EV_DONE      result (OK or the failing step's code), nrc,
#                       failed_step, and the report attributes
from diagbridge._compat import const, copy_into
from diagbridge.clock import ticks_add, ticks_diff, due, earliest
from diagbridge.codes import (OK, A_TIMEOUT_P2, A_NEGATIVE_RESPONSE, A_MALFORMED_RESPONSE,
                              A_VERIFY_FAILED)
from diagbridge.errors import ConfigError, UsageError
from diagbridge.evq import EventQueue
from diagbridge.uds.client.core import UdsClient, EV_SEND as _C_SEND, EV_DONE as _C_DONE, \
    EV_PENDING as _C_PENDING, S_RECEIVING as _C_RECEIVING
from diagbridge.uds.codec.session import (build_dsc_request, build_request_seed, build_send_key,
                                          build_comm_control_request, build_ecu_reset_request,
                                          build_control_dtc_setting_request,
                                          parse_security_response, CC_ENABLE_RX_DISABLE_TX,
                                          CC_ENABLE_RX_AND_TX, COMM_NORMAL, DTC_SETTING_ON,
                                          DTC_SETTING_OFF)
from diagbridge.uds.codec.routine import (build_address_routine_request, RC_START,
                                          build_routine_control_request,
                                          parse_routine_control_response)
from diagbridge.uds.codec.transfer import (build_request_download, build_request_upload,
                                           build_transfer_data_request, next_bsc, uint_len,
                                           parse_request_download_response,
                                           parse_transfer_data_response,
                                           build_request_transfer_exit,
                                           parse_request_transfer_exit_response)
from diagbridge.crc import Crc32, crc16_ccitt
from diagbridge.uds.seedkey import key_function

EV_SEND = const(1)
EV_STEP = const(2)
EV_PROGRESS = const(3)
EV_DONE = const(4)

VERIFY_NONE = const(0)
VERIFY_UPLOAD = const(1)
VERIFY_ROUTINE = const(2)

_NRC_BRR = const(0x21)

# Steps (the machine's states)
ST_IDLE = const(0)
ST_PRE_SESSION = const(1)
ST_DTC_OFF = const(2)
ST_CC_OFF = const(3)
ST_SESSION = const(4)
ST_SEED = const(5)
ST_KEY = const(6)
ST_ERASE = const(7)
ST_DOWNLOAD = const(8)
ST_TRANSFER = const(9)
ST_EXIT = const(10)
ST_UPLOAD = const(11)
ST_READBACK = const(12)
ST_UPLOAD_EXIT = const(13)
ST_CHECKSUM = const(14)
ST_CHECK = const(15)
ST_RESET = const(16)
ST_CC_ON = const(17)
ST_DTC_ON = const(18)
ST_DONE = const(19)
ST_FAILED = const(20)

# Their names travel on the host link: diagbridge.link.proto FLASH_STEP_NAMES
# (the wire format's table, index = ST_*), pinned by tests/core/test_uds_flash.py.

# The order of the linear steps; a step the config leaves out is skipped.
_ORDER = (ST_PRE_SESSION, ST_DTC_OFF, ST_CC_OFF, ST_SESSION, ST_SEED, ST_KEY, ST_ERASE,
          ST_DOWNLOAD, ST_TRANSFER, ST_EXIT, ST_UPLOAD, ST_READBACK, ST_UPLOAD_EXIT,
          ST_CHECKSUM, ST_CHECK, ST_RESET, ST_CC_ON, ST_DTC_ON, ST_DONE)


def key_diagbridge1(secret):
    """The server's default seed/key algorithm as a key function."""
    return key_function("diagbridge1", secret)


class FlashConfig:
    """The target and the sequence.
      address, addr_len/size_len (0 = the fewest bytes that hold the values),
      dfi (dataFormatIdentifier: compression/encryption method, 0x00 plain)
      session (programming), pre_session (0 = none), security_level (0 = none)
      and key_fn(level, seed_bytes) -> key bytes
      functional_prep: 85 82 and 28 81 01 on the functional address before,
                       28 80 01 and 85 81 after (suppressed responses)
      erase_rid (-1 = no erase), check_rid (-1 = none), reset_kind (0 = none)
      verify (VERIFY_*), checksum_rid
      block_max: cap on the TransferData length (0 = the server's)
      retries: repeats of one block after a lost response
      rx_retry_ms: wait before the repeat that follows a failed reception of
                   an answer: the server's N_Bs (ISO 15765-2: 1000 ms, its
                   sender waiting for our next flow control) plus the rest
                   of its block (100 ms)
    """

    def __init__(self, address, key_fn=None, addr_len=0, size_len=0, dfi=0x00, session=0x02,
                 pre_session=0x03, security_level=0x03, functional_prep=True,
                 erase_rid=0xFF00, check_rid=0xFF01, reset_kind=0x01, verify=VERIFY_UPLOAD,
                 checksum_rid=0x0203, block_max=0, retries=3, rx_retry_ms=1100):
        for name, v, lo, hi in (("address", address, 0, 0xFFFFFFFF),
                                ("addr_len", addr_len, 0, 4), ("size_len", size_len, 0, 4),
                                ("dfi", dfi, 0, 0xFF), ("session", session, 1, 0x7F),
                                ("pre_session", pre_session, 0, 0x7F),
                                ("security_level", security_level, 0, 0x7D),
                                ("erase_rid", erase_rid, -1, 0xFFFF),
                                ("check_rid", check_rid, -1, 0xFFFF),
                                ("reset_kind", reset_kind, 0, 0x7F),
                                ("verify", verify, 0, 2),
                                ("checksum_rid", checksum_rid, 0, 0xFFFF),
                                ("block_max", block_max, 0, 0x3FFFFFFE),
                                ("retries", retries, 0, 255),
                                ("rx_retry_ms", rx_retry_ms, 0, 200000)):
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                raise ConfigError(name)
        if security_level and (security_level % 2 == 0 or key_fn is None):
            raise ConfigError("security_level")     # odd requestSeed level, with a key_fn
        self.address = address
        self.key_fn = key_fn
        self.addr_len = addr_len
        self.size_len = size_len
        self.dfi = dfi
        self.session = session
        self.pre_session = pre_session
        self.security_level = security_level
        self.functional_prep = bool(functional_prep)
        self.erase_rid = erase_rid
        self.check_rid = check_rid
        self.reset_kind = reset_kind
        self.verify = verify
        self.checksum_rid = checksum_rid
        self.block_max = block_max
        self.retries = retries
        self.rx_retry_ms = rx_retry_ms


class Flasher:
    """crc32: a factory of CRC-32 objects with Crc32's verbs (reset, update,
    value), crc16(data, off, count): CRC-16/CCITT-FALSE; None = the portable
    ones here (a CPython runner passes zlib/binascii-backed ones)."""

    def __init__(self, image, cfg, client=None, progress=None, crc32=None, crc16=None):
        if client is None:
            client = UdsClient()
        self.client = client
        self.cfg = cfg
        self.image = image
        self.total = len(image)
        if self.total < 1:
            raise ConfigError("image")
        self.progress = progress
        self.addr_len = cfg.addr_len or uint_len(cfg.address)
        self.size_len = cfg.size_len or uint_len(self.total)
        self._events = EventQueue(16)
        if crc32 is None:
            crc32 = Crc32
        self._crc = crc32()
        self._crc_rb = crc32()
        self._crc16 = crc16_ccitt if crc16 is None else crc16
        self.step = ST_IDLE
        self._reset_report()

    def _reset_report(self):
        self.result = OK
        self.nrc = 0
        self.failed_step = ST_IDLE
        self.done_bytes = 0
        self.readback_bytes = 0
        self.rate_bps = 0
        self.elapsed_us = 0
        self.blocks = 0
        self.repeats = 0            # blocks sent again after a lost response
        self.pending = 0            # 0x78 answers seen
        self.mbl = 0                # server's maxNumberOfBlockLength (download)
        self.block_len = 0          # data bytes per TransferData
        self.crc_image = 0
        self.crc_readback = -1
        self.checksum = -1          # checksum routine status (CRC-16)
        self.crc16_image = -1
        self.verified = False
        self._bsc = 0
        self._off = 0
        self._count = 0
        self._tries = 0
        self._up_mbl = 0
        self._key = b""
        self._t_last = 0
        self._rx_lost = False       # the answer's reception failed (rx_failed)
        self._retry_at = None       # a repeat waits for the server's transfer to end
        self._crc.reset()
        self._crc_rb.reset()

    # ---- the client's verbs (a runner binds a Flasher like a client) -----------------
    @property
    def tx(self):
        return self.client.tx

    @property
    def tx_functional(self):
        return self.client.tx_functional

    def busy(self):
        return self.client.busy() or self._retry_at is not None

    def pop_pdu(self, out):
        return self.client.pop_pdu(out)

    def sent(self, now, result=OK):
        self.client.sent(now, result)
        self._drain(now)

    def rx_started(self, now):
        self.client.rx_started(now)
        self._drain(now)

    def rx_failed(self, now, result):
        if self.client.state == _C_RECEIVING:
            self._rx_lost = True        # the answer broke off: see _done
        self.client.rx_failed(now, result)
        self._drain(now)

    def feed_pdu(self, now, data, n):
        self.client.feed_pdu(now, data, n)
        self._drain(now)

    def on_timer(self, now):
        self.client.on_timer(now)
        self._drain(now)
        if self._retry_at is not None and due(now, self._retry_at) and self.running():
            self._retry_at = None
            self._send(now)             # the repeat: the client's EV_SEND
            self._drain(now)

    def deadline(self):
        return earliest(self.client.deadline(), self._retry_at)

    def poll(self):
        return self._events.pop()

    # ---- application ---------------------------------------------------------------
    def start(self, now):
        if self.step != ST_IDLE and self.step != ST_DONE and self.step != ST_FAILED:
            raise UsageError("a flash is running")
        self._reset_report()
        self._t_last = now
        self._advance(now, 0)

    def running(self):
        return ST_IDLE < self.step < ST_DONE

    # ---- the machine -----------------------------------------------------------------
    def _enabled(self, st):
        c = self.cfg
        if st == ST_PRE_SESSION:
            return c.pre_session != 0
        if st == ST_DTC_OFF or st == ST_CC_OFF or st == ST_CC_ON or st == ST_DTC_ON:
            return c.functional_prep
        if st == ST_SEED or st == ST_KEY:
            return c.security_level != 0
        if st == ST_ERASE:
            return c.erase_rid >= 0
        if st == ST_UPLOAD or st == ST_READBACK or st == ST_UPLOAD_EXIT:
            return c.verify == VERIFY_UPLOAD
        if st == ST_CHECKSUM:
            return c.verify == VERIFY_ROUTINE
        if st == ST_CHECK:
            return c.check_rid >= 0
        if st == ST_RESET:
            return c.reset_kind != 0
        return True

    def _advance(self, now, after):
        """Go to the first enabled step after the position `after` in _ORDER."""
        i = 0
        if after:
            while _ORDER[i] != after:
                i += 1
            i += 1
        while not self._enabled(_ORDER[i]):
            i += 1
        self._enter(now, _ORDER[i])

    def _enter(self, now, st):
        self.step = st
        self._events.push(EV_STEP)
        if st == ST_DONE:
            self._tick(now)
            self._events.push(EV_DONE)
            return
        self._tries = 0
        self._send(now)

    def _fail(self, now, result, nrc):
        self._retry_at = None
        self.failed_step = self.step
        self.result = result
        self.nrc = nrc
        self.step = ST_FAILED
        self._tick(now)
        self._events.push(EV_STEP)
        self._events.push(EV_DONE)

    def _send(self, now):
        self._rx_lost = False
        c = self.cfg
        st = self.step
        tx = self.client.tx
        func = False
        if st == ST_PRE_SESSION:
            n = build_dsc_request(tx, c.pre_session)
        elif st == ST_SESSION:
            n = build_dsc_request(tx, c.session)
        elif st == ST_DTC_OFF or st == ST_DTC_ON:
            n = build_control_dtc_setting_request(
                tx, DTC_SETTING_OFF if st == ST_DTC_OFF else DTC_SETTING_ON, suppress=True)
            func = True
        elif st == ST_CC_OFF or st == ST_CC_ON:
            n = build_comm_control_request(
                tx, CC_ENABLE_RX_DISABLE_TX if st == ST_CC_OFF else CC_ENABLE_RX_AND_TX,
                COMM_NORMAL, suppress=True)
            func = True
        elif st == ST_SEED:
            n = build_request_seed(tx, c.security_level)
        elif st == ST_KEY:
            n = build_send_key(tx, c.security_level, self._key)
        elif st == ST_ERASE:
            n = build_address_routine_request(tx, c.erase_rid, c.address, self.total,
                                              self.addr_len, self.size_len)
        elif st == ST_DOWNLOAD:
            n = build_request_download(tx, c.address, self.total, self.addr_len, self.size_len,
                                       c.dfi)
        elif st == ST_TRANSFER:
            n = build_transfer_data_request(tx, self._bsc)     # 36 BSC, then the data:
            copy_into(tx, n, self.image, self._off, self._count)  # a slice on CPython
            n += self._count
        elif st == ST_EXIT or st == ST_UPLOAD_EXIT:
            n = build_request_transfer_exit(tx)
        elif st == ST_UPLOAD:
            n = build_request_upload(tx, c.address, self.total, self.addr_len, self.size_len,
                                     c.dfi)
        elif st == ST_READBACK:
            n = build_transfer_data_request(tx, self._bsc)
        elif st == ST_CHECKSUM:
            n = build_address_routine_request(tx, c.checksum_rid, c.address, self.total,
                                              self.addr_len, self.size_len)
        elif st == ST_CHECK:
            n = build_routine_control_request(tx, RC_START, c.check_rid)
        else:                           # ST_RESET
            n = build_ecu_reset_request(tx, c.reset_kind)
        self.client.request_built(now, n, func)

    def _drain(self, now):
        c = self.client
        ev = c.poll()
        while ev:
            if ev == _C_SEND:
                self._events.push(EV_SEND)
            elif ev == _C_PENDING:
                self.pending += 1
            elif ev == _C_DONE and self.running():
                self._done(now)
            ev = c.poll()

    def _tick(self, now):
        self.elapsed_us += ticks_diff(now, self._t_last)
        self._t_last = now

    def _done(self, now):
        c = self.client
        st = self.step
        r = c.result
        if r != OK:
            retry = (r == A_TIMEOUT_P2 or r < 0x40 or
                     (r == A_NEGATIVE_RESPONSE and c.nrc == _NRC_BRR))
            if retry and self._tries < self.cfg.retries:
                self._tries += 1
                self.repeats += 1
                if self._rx_lost and self.cfg.rx_retry_ms:
                    # the server may still be sending (its N_Bs runs): later
                    self._rx_lost = False
                    self._retry_at = ticks_add(now, self.cfg.rx_retry_ms * 1000)
                    return
                self._send(now)         # the same block counter again (§15.4.1)
                return
            self._fail(now, r, c.nrc)
            return
        d = c.payload
        n = c.length
        if st == ST_SEED:
            r = parse_security_response(d, n)
            if r is None or r[0] != self.cfg.security_level:
                self._fail(now, A_MALFORMED_RESPONSE, 0)
                return
            seed = r[1]
            nz = 0
            for b in seed:
                nz |= b
            if nz == 0:                 # already unlocked (§10.4.1)
                self._advance(now, ST_KEY)
                return
            self._key = self.cfg.key_fn(self.cfg.security_level, seed)
        elif st == ST_DOWNLOAD or st == ST_UPLOAD:
            mbl = parse_request_download_response(d, n)
            if mbl < 3:
                self._fail(now, A_MALFORMED_RESPONSE, 0)
                return
            cap = self.cfg.block_max
            if cap and cap < mbl:
                mbl = cap
            room = len(c.tx)
            if mbl > room:
                mbl = room
            if st == ST_DOWNLOAD:
                self.mbl = mbl
                self.block_len = mbl - 2
                self._off = 0
                self._bsc = 1
                self._count = self._next_count()
                self._enter(now, ST_TRANSFER)
            else:
                self._up_mbl = mbl
                self._off = 0
                self._bsc = 1
                self._enter(now, ST_READBACK)
            return
        elif st == ST_TRANSFER:
            if parse_transfer_data_response(d, n) != self._bsc:
                self._fail(now, A_MALFORMED_RESPONSE, 0)
                return
            self._crc.update(self.image, self._off, self._count)
            self._off += self._count
            self.done_bytes = self._off
            self.blocks += 1
            self._progress(now)
            if self._off < self.total:
                self._bsc = next_bsc(self._bsc)
                self._count = self._next_count()
                self._tries = 0
                self._send(now)
                return
            self.crc_image = self._crc.value()
        elif st == ST_READBACK:
            if parse_transfer_data_response(d, n) != self._bsc or n < 3:
                self._fail(now, A_MALFORMED_RESPONSE, 0)
                return
            k = n - 2
            if self._off + k > self.total:
                k = self.total - self._off
            self._crc_rb.update(d, 2, k)
            self._off += k
            self.readback_bytes = self._off
            if self._off < self.total:
                self._bsc = next_bsc(self._bsc)
                self._tries = 0
                self._send(now)
                return
            self.crc_readback = self._crc_rb.value()
        elif st == ST_UPLOAD_EXIT:
            if parse_request_transfer_exit_response(d, n) < 0:
                self._fail(now, A_MALFORMED_RESPONSE, 0)
                return
            self.verified = self.crc_readback == self.crc_image
            if not self.verified:
                self._fail(now, A_VERIFY_FAILED, 0)
                return
        elif st == ST_CHECKSUM:
            r = parse_routine_control_response(d, n)
            if r is None or n < r[2] + 2:
                self._fail(now, A_MALFORMED_RESPONSE, 0)
                return
            p = r[2]
            self.checksum = (d[p] << 8) | d[p + 1]
            self.crc16_image = self._crc16(self.image, 0, self.total)
            self.verified = self.checksum == self.crc16_image
            if not self.verified:
                self._fail(now, A_VERIFY_FAILED, 0)
                return
        elif st == ST_CHECK:
            r = parse_routine_control_response(d, n)
            if r is None or (n > r[2] and d[r[2]] != 0):
                self._fail(now, A_VERIFY_FAILED, 0)     # dependencies not met
                return
        elif st == ST_EXIT:
            if parse_request_transfer_exit_response(d, n) < 0:
                self._fail(now, A_MALFORMED_RESPONSE, 0)
                return
        self._advance(now, st)

    def _next_count(self):
        k = self.total - self._off
        return k if k < self.block_len else self.block_len

    def _progress(self, now):
        self._tick(now)
        ms = self.elapsed_us // 1000
        done = self.done_bytes
        if ms > 0:
            # bytes/s without big intermediates: done * 1000 // ms
            self.rate_bps = (done // ms) * 1000 + ((done % ms) * 1000) // ms
        self._events.push(EV_PROGRESS)
        if self.progress is not None:
            self.progress(done, self.total, self.rate_bps)
