# Byte-stream framing of the host link: COBS with a 0x00 delimiter and a CRC.
#
#   wire frame = 00 | COBS(message | crc16_be(message)) | 00
#
# COBS (Cheshire and Baker, "Consistent Overhead Byte Stuffing", 1999)
# removes every 0x00 from the frame body at a cost of one byte per 254, so
# 0x00 only ever marks a frame boundary and a receiver resynchronises at the
# next 0x00 whatever garbage came before.  Every frame starts with a 0x00 as
# well as ending with one, so the first frame after line noise is never glued
# onto the noise; the empty frame between two back-to-back frames (00 00) is
# ignored.  The CRC is CRC-16/IBM-3740 (diagbridge/crc.py).
#
#   encode_frame(msg, n, out, start=0) -> end       encoder, into the caller's buffer
#   cobs_encode(src, n, out, start, crc=-1) -> end  plain COBS (no delimiters)
#   Deframer(max_frame):                            decoder, sans-I/O
#       i = d.feed_bytes(now, data, n, start=0)     stops after each frame end
#       ev = d.poll()                               EV_FRAME | EV_FRAME_BAD | EV_NONE
#       d.payload[:d.length], d.result, d.rx_time   valid until the next feed_bytes()
#
# A bad frame is never raised: `result` says why (LINK_BAD_CRC, LINK_OVERSIZE,
# LINK_TRUNCATED) and per-reason counters keep the tally.  Neither side
# allocates after __init__.
from diagbridge._compat import const
from diagbridge.codes import EV_NONE, OK, LINK_BAD_CRC, LINK_OVERSIZE, LINK_TRUNCATED
from diagbridge.errors import ConfigError, UsageError
from diagbridge.crc import CRC16_INIT, CRC16_TABLE as _T, crc16_update

EV_FRAME = const(1)         # a good frame: payload[:length]
EV_FRAME_BAD = const(2)     # a frame was discarded: see result

_CRC_LEN = const(2)
_MAX_MAX_FRAME = const(0x10000 + 16)    # 64 KiB and a frame MAC tag (proto.TAG_LEN)


def frame_size(n):
    """Worst-case wire size of an n-byte message (both delimiters, CRC, COBS)."""
    body = n + _CRC_LEN
    return body + (body + 253) // 254 + 2


def cobs_encode(src, n, out, start, crc=-1):
    """COBS of src[0:n] (then the 2 bytes of crc, big-endian, if crc >= 0)
    into out[start:]; returns the index after it.  No delimiters."""
    ci = start              # where the current block's code byte goes
    w = ci + 1
    code = 1
    total = n + _CRC_LEN if crc >= 0 else n
    for i in range(total):
        if i < n:
            b = src[i]
        elif i == n:
            b = crc >> 8
        else:
            b = crc & 0xFF
        if code == 0xFF:            # a full block: no zero follows it
            out[ci] = 0xFF
            ci = w
            w += 1
            code = 1
        if b == 0:
            out[ci] = code
            ci = w
            w += 1
            code = 1
        else:
            out[w] = b
            w += 1
            code += 1
    out[ci] = code
    return w


def encode_frame(msg, n, out, start=0):
    """Frame msg[0:n] into out[start:]; returns the index after the frame.

    Raises UsageError if out cannot hold frame_size(n) bytes."""
    if len(out) - start < frame_size(n):
        raise UsageError("frame buffer too small")
    out[start] = 0
    w = cobs_encode(msg, n, out, start + 1, crc16_update(CRC16_INIT, msg, 0, n))
    out[w] = 0
    return w + 1


class Deframer:
    def __init__(self, max_frame=1024):
        if not 1 <= max_frame <= _MAX_MAX_FRAME:
            raise ConfigError("max_frame")
        self._cap = max_frame + _CRC_LEN
        self._buf = bytearray(self._cap)
        self.payload = memoryview(self._buf)
        self.length = 0             # message bytes in payload (CRC excluded)
        self.result = OK
        self.rx_time = 0            # `now` of the byte that ended the last frame
        self.frames = 0             # good frames
        self.bad_crc = 0
        self.oversize = 0
        self.truncated = 0
        self._ev = EV_NONE
        self._n = 0                 # decoded bytes of the frame in progress
        self._left = 0              # data bytes left in the current COBS block
        self._zero = False          # a 0x00 goes in before the next block
        self._crc = CRC16_INIT
        self._skip = False          # oversize: discard up to the next 0x00

    def reset(self):
        """Forget any partial frame (after a reconnect)."""
        self._n = 0
        self._left = 0
        self._zero = False
        self._crc = CRC16_INIT
        self._skip = False
        self._ev = EV_NONE

    def poll(self):
        ev = self._ev
        self._ev = EV_NONE
        return ev

    def feed_bytes(self, now, data, n, start=0):
        """Decode data[start:n]; returns the index after the last byte used.

        Stops right after a frame ends (good or bad) so that the caller can
        poll() it before the next frame overwrites the payload."""
        buf = self._buf
        cap = self._cap
        cnt = self._n
        left = self._left
        crc = self._crc
        i = start
        while i < n:
            b = data[i]
            i += 1
            if b == 0:
                if self._skip:
                    self._skip = False
                elif cnt or left or self._zero:
                    self._end(now, cnt, left, crc)
                    cnt = 0
                    left = 0
                    crc = CRC16_INIT
                    self._zero = False
                    break
                self._zero = False
                continue
            if self._skip:
                continue
            if left == 0:                   # a COBS code byte
                if self._zero:
                    if cnt == cap:
                        self._oversize()
                        cnt = 0
                        crc = CRC16_INIT
                        break
                    buf[cnt] = 0
                    cnt += 1
                    j = ((crc >> 8) & 0xFF) << 1
                    crc = ((crc << 8) & 0xFF00) ^ (_T[j] << 8) ^ _T[j + 1]
                self._zero = b != 0xFF
                left = b - 1
                continue
            if cnt == cap:
                self._oversize()
                cnt = 0
                left = 0
                crc = CRC16_INIT
                break
            buf[cnt] = b
            cnt += 1
            left -= 1
            j = (((crc >> 8) ^ b) & 0xFF) << 1
            crc = ((crc << 8) & 0xFF00) ^ (_T[j] << 8) ^ _T[j + 1]
        self._n = cnt
        self._left = left
        self._crc = crc
        return i

    def _oversize(self):
        self.oversize += 1
        self.result = LINK_OVERSIZE
        self._ev = EV_FRAME_BAD
        self._skip = True
        self._zero = False
        self._n = 0

    def _end(self, now, cnt, left, crc):
        self.rx_time = now
        if left != 0 or cnt <= _CRC_LEN:
            # The stream stopped inside a COBS block, or no room for a message
            # and its CRC: a frame cut short by a reset or line noise.
            self.truncated += 1
            self.result = LINK_TRUNCATED
            self._ev = EV_FRAME_BAD
        elif crc != 0:
            self.bad_crc += 1
            self.result = LINK_BAD_CRC
            self._ev = EV_FRAME_BAD
        else:
            self.frames += 1
            self.length = cnt - _CRC_LEN
            self.result = OK
            self._ev = EV_FRAME

