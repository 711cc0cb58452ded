"""A flash image read in blocks as TransferData needs them (CPython).

``ImageReader`` stands in for the image ``bytes`` the core ``Flasher`` is
given: it has ``len()`` and slicing / indexing, and holds only the block the
Flasher is sending (kept for a repeat after a lost response) plus the rest
of the source's last chunk, so a 1 MiB or 1 GiB image never sits in RAM::

    report = uds.flash("ecu.bin", cfg)                 # a path
    report = uds.flash(open("ecu.bin", "rb"), cfg)     # a file-like object
    report = uds.flash(chunks, cfg, size=total)        # an iterable of chunks

The Flasher reads its image in order (each block once, a repeat re-reads
the block held); a read before the held block rewinds a seekable source and
raises ``UsageError`` for an iterable.  The CRC-16 of the checksum routine
is computed as the blocks go by (``crc16()``).  ``reads`` (source reads) and
``peak_bytes`` (most image bytes held at once) show what it cost.
"""
from __future__ import annotations

import binascii
import os
from typing import BinaryIO, Iterable, Iterator, Optional, Union

from diagbridge.errors import ConfigError, UsageError

__all__ = ["ImageReader", "as_image"]

#: what ``as_image`` accepts besides a bytes-like image
ImageSource = Union[str, "os.PathLike[str]", BinaryIO, Iterable[bytes], "ImageReader"]


class ImageReader:
    """A read-in-order view of an image in a file, a file-like object or an
    iterable of byte chunks (see the module documentation).

    ``size``: the image length; found by seeking for a path or a seekable
    file, required for an iterable.  A source shorter than ``size`` raises
    ``ConfigError`` when the missing bytes are read."""

    def __init__(self, source: ImageSource, size: Optional[int] = None) -> None:
        self._owned = None
        self._fh = None
        self._it: Optional[Iterator[bytes]] = None
        if isinstance(source, (str, os.PathLike)):
            self._fh = self._owned = open(source, "rb")
        elif hasattr(source, "read"):
            self._fh = source
        elif isinstance(source, (bytes, bytearray, memoryview)):
            raise TypeError("a bytes-like image needs no ImageReader")
        else:
            self._it = iter(source)
        self._base = 0                  # source offset of the start of the image
        if self._fh is not None and size is None:
            try:
                self._base = self._fh.tell()
                end = self._fh.seek(0, os.SEEK_END)
                self._fh.seek(self._base)
            except (OSError, AttributeError, ValueError):
                raise ConfigError("size") from None
            size = end - self._base
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            self.close()
            raise ConfigError("size")
        self.size = size
        self._win = b""                 # the block held
        self._win_off = 0
        self._pos = 0                   # image offset of the next source byte
        self._rest = b""                # an iterable's chunk beyond the block held
        self._crc16 = 0xFFFF            # CRC-16/CCITT-FALSE of image[0:_crc_upto]
        self._crc_upto = 0
        self.reads = 0
        self.peak_bytes = 0

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, key: int | slice) -> int | bytes | memoryview:
        if isinstance(key, slice):
            start, stop, step = key.indices(self.size)
            if step != 1:
                raise UsageError("ImageReader slices have step 1")
            if stop <= start:
                return b""
            self._hold(start, stop)
            o = start - self._win_off
            return memoryview(self._win)[o:o + stop - start]
        i = key + self.size if key < 0 else key
        if not 0 <= i < self.size:
            raise IndexError("image index out of range")
        self._hold(i, i + 1)
        return self._win[i - self._win_off]

    def crc16(self) -> int:
        """CRC-16/CCITT-FALSE of the whole image (reads what is left)."""
        if self._crc_upto < self.size:
            self._hold(self._crc_upto, self.size, block=65536)
        return self._crc16

    def close(self) -> None:
        """Close the file opened from a path (a caller's file stays open)."""
        if self._owned is not None:
            self._owned.close()
            self._owned = None

    def __enter__(self) -> "ImageReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------
    def _hold(self, start: int, stop: int, block: int = 0) -> None:
        """Make image[start:stop] the block held (stepping through the rest
        ``block`` bytes at a time when given: only the CRC needs that)."""
        w0 = self._win_off
        if w0 <= start and stop <= w0 + len(self._win):
            return
        if start < self._pos:           # before what was read: seek back
            self._rewind(start)
        if start > self._pos:
            self._skip(start - self._pos)
        if block:
            while self._pos < stop:
                n = min(block, stop - self._pos)
                self._win = self._take(n)
                self._win_off = self._pos - n
            return
        self._win = b""                 # drop the old block before reading the next
        n = stop - start
        self._win = self._take(n)
        self._win_off = start

    def _take(self, n: int) -> bytes:
        """The next n source bytes (the CRC follows them)."""
        if self._fh is not None:
            parts = []
            got = 0
            while got < n:
                d = self._fh.read(n - got)
                self.reads += 1
                if not d:
                    break
                parts.append(d)
                got += len(d)
            data = parts[0] if len(parts) == 1 else b"".join(parts)
        else:
            data = self._rest
            self._rest = b""
            parts = [data] if data else []
            got = len(data)
            while got < n:
                try:
                    d = bytes(next(self._it))
                except StopIteration:
                    break
                self.reads += 1
                parts.append(d)
                got += len(d)
            data = b"".join(parts) if len(parts) != 1 else parts[0]
            if len(data) > n:
                self._rest = data[n:]
                data = data[:n]
        if len(data) < n:
            raise ConfigError("size")    # the source ended before the image did
        held = len(data) + len(self._rest) + len(self._win)
        if held > self.peak_bytes:
            self.peak_bytes = held
        if self._pos == self._crc_upto:
            self._crc16 = binascii.crc_hqx(data, self._crc16)
            self._crc_upto += n
        self._pos += n
        return data

    def _skip(self, n: int) -> None:
        while n:
            k = min(n, 65536)
            self._take(k)
            n -= k

    def _rewind(self, start: int) -> None:
        if self._fh is None or not getattr(self._fh, "seekable", lambda: False)():
            raise UsageError("an iterable image is read in order")
        self._fh.seek(self._base + start)
        self._pos = start
        self._rest = b""


def as_image(image: bytes | bytearray | memoryview | ImageSource,
             size: Optional[int] = None) -> bytes | bytearray | memoryview | ImageReader:
    """``image`` as the Flasher takes it: a bytes-like image as it is, an
    ``ImageReader`` as it is, anything else (a path, a file-like object, an
    iterable of chunks) wrapped in an ``ImageReader``."""
    if isinstance(image, (bytes, bytearray, memoryview, ImageReader)):
        if size is not None and size != len(image):
            raise ConfigError("size")
        return image
    return ImageReader(image, size)
