# Upload/download codecs, ISO 14229-1 §15 (digest §9): RequestDownload 0x34,
# RequestUpload 0x35, TransferData 0x36, RequestTransferExit 0x37 and
# RequestFileTransfer 0x38.  Pure functions on caller buffers, shared by the
# client (build_*_request / parse_*_response) and the server (read_* /
# write_*).  All integers are big-endian (MSB first).
#
# A parse that finds the PDU malformed returns None (or -1 where the result is
# an int); it never raises because of the peer.
from diagbridge._compat import const
from diagbridge.uds.codec.ints import get_uint, put_uint, uint_len, alfid  # noqa: F401

SID_REQUEST_DOWNLOAD = const(0x34)
SID_REQUEST_UPLOAD = const(0x35)
SID_TRANSFER_DATA = const(0x36)
SID_REQUEST_TRANSFER_EXIT = const(0x37)
SID_REQUEST_FILE_TRANSFER = const(0x38)

# modeOfOperation (Annex G.1, digest §9.5)
MOP_ADD_FILE = const(0x01)
MOP_DELETE_FILE = const(0x02)
MOP_REPLACE_FILE = const(0x03)
MOP_READ_FILE = const(0x04)
MOP_READ_DIR = const(0x05)
MOP_RESUME_FILE = const(0x06)

_RSP = const(0x40)
_FILE_POSITION_LEN = const(8)   # filePosition of ResumeFile is 8 bytes (digest §9.5)
_DIR_INFO_PARAM_LEN = const(2)  # fileSizeOrDirInfoParameterLength is 2 bytes


def read_address_and_size(req, off, n):
    """Parse `ALFID addr size` at req[off:n] that must end exactly at n.

    Returns (alfid, addr, size), None if the length does not match the ALFID,
    or -1 if the ALFID has a zero nibble (the caller answers 0x31, §9.1)."""
    if off >= n:
        return None
    fmt = req[off]
    al = fmt & 0x0F
    sl = fmt >> 4
    if al == 0 or sl == 0:
        return -1
    if off + 1 + al + sl != n:
        return None
    return fmt, get_uint(req, off + 1, al), get_uint(req, off + 1 + al, sl)


# ---- 0x34 / 0x35 ----------------------------------------------------------------
def _build_transfer(out, sid, addr, size, addr_len, size_len, dfi):
    out[0] = sid
    out[1] = dfi
    out[2] = alfid(addr_len, size_len)
    i = put_uint(out, 3, addr, addr_len)
    return put_uint(out, i, size, size_len)


def build_request_download(out, addr, size, addr_len=4, size_len=4, dfi=0x00):
    """`34 DFI ALFID addr size` -> length."""
    return _build_transfer(out, SID_REQUEST_DOWNLOAD, addr, size, addr_len, size_len, dfi)


def build_request_upload(out, addr, size, addr_len=4, size_len=4, dfi=0x00):
    """`35 DFI ALFID addr size` -> length."""
    return _build_transfer(out, SID_REQUEST_UPLOAD, addr, size, addr_len, size_len, dfi)


def _mbl_len(max_block_length):
    """Bytes of maxNumberOfBlockLength as written: at least 2."""
    nb = uint_len(max_block_length)
    return 2 if nb < 2 else nb


def write_max_block_length(out, off, max_block_length):
    """`LFI maxNumberOfBlockLength` at out[off]; returns the next offset.
    LFI high nibble = bytes of maxNumberOfBlockLength, low nibble 0 (§9.1)."""
    nb = _mbl_len(max_block_length)
    out[off] = nb << 4
    return put_uint(out, off + 1, max_block_length, nb)


def write_transfer_response(out, sid, max_block_length):
    """`74|75 LFI maxNumberOfBlockLength` -> length."""
    out[0] = sid | _RSP
    return write_max_block_length(out, 1, max_block_length)


def read_max_block_length(data, off, n):
    """(maxNumberOfBlockLength, next offset) from `LFI mbl` at data[off], or None."""
    if off >= n:
        return None
    nb = data[off] >> 4
    if nb == 0 or off + 1 + nb > n:
        return None
    return get_uint(data, off + 1, nb), off + 1 + nb


def parse_request_download_response(data, n):
    """maxNumberOfBlockLength from `74|75 LFI mbl`, or -1 if malformed.
    (Also for RequestUpload: same layout.)"""
    if n < 3 or data[0] not in (SID_REQUEST_DOWNLOAD | _RSP, SID_REQUEST_UPLOAD | _RSP):
        return -1
    r = read_max_block_length(data, 1, n)
    if r is None or r[1] != n:
        return -1
    return r[0]


parse_request_upload_response = parse_request_download_response


# ---- 0x36 -----------------------------------------------------------------------
def build_transfer_data_request(out, bsc, data=None, off=0, count=0):
    """`36 BSC [data[off:off+count]]` -> length (count = 0 for an upload block)."""
    out[0] = SID_TRANSFER_DATA
    out[1] = bsc & 0xFF
    for i in range(count):
        out[2 + i] = data[off + i]
    return 2 + count


def write_transfer_data_response(out, bsc):
    """`76 BSC`; the caller appends upload data at out[2:]; returns 2."""
    out[0] = SID_TRANSFER_DATA | _RSP
    out[1] = bsc
    return 2


def parse_transfer_data_response(data, n):
    """blockSequenceCounter of `76 BSC [data]` (data = data[2:n]), or -1."""
    if n < 2 or data[0] != SID_TRANSFER_DATA | _RSP:
        return -1
    return data[1]


def next_bsc(bsc):
    """The counter after bsc: +1, wrapping 0xFF -> 0x00 (digest §9.3)."""
    return (bsc + 1) & 0xFF


# ---- 0x37 -----------------------------------------------------------------------
def build_request_transfer_exit(out, record=None):
    """`37 [transferRequestParameterRecord]` -> length."""
    out[0] = SID_REQUEST_TRANSFER_EXIT
    n = 1
    if record is not None:
        for b in record:
            out[n] = b
            n += 1
    return n


def parse_request_transfer_exit_response(data, n):
    """Length of the transferResponseParameterRecord of `77 [record]`, or -1."""
    if n < 1 or data[0] != SID_REQUEST_TRANSFER_EXIT | _RSP:
        return -1
    return n - 1


# ---- 0x38 -----------------------------------------------------------------------
def _mode_has_dfi(mode):
    return mode in (MOP_ADD_FILE, MOP_REPLACE_FILE, MOP_READ_FILE, MOP_RESUME_FILE)


def _mode_has_sizes(mode):
    return mode in (MOP_ADD_FILE, MOP_REPLACE_FILE, MOP_RESUME_FILE)


def build_request_file_transfer(out, mode, path, dfi=0x00, size_uncompressed=0,
                                size_compressed=None, size_len=4):
    """`38 mode pathLen(2) path [DFI] [sizeLen sizeUnc sizeComp]` -> length.
    path is bytes; DFI for modes 01/03/04/06, sizes for 01/03/06 (§9.5)."""
    out[0] = SID_REQUEST_FILE_TRANSFER
    out[1] = mode
    i = put_uint(out, 2, len(path), 2)
    for b in path:
        out[i] = b
        i += 1
    if _mode_has_dfi(mode):
        out[i] = dfi
        i += 1
    if _mode_has_sizes(mode):
        if size_compressed is None:
            size_compressed = size_uncompressed
        out[i] = size_len
        i = put_uint(out, i + 1, size_uncompressed, size_len)
        i = put_uint(out, i, size_compressed, size_len)
    return i


def read_file_transfer_request(req, n):
    """Server side: (mode, path_off, path_len, dfi, size_uncompressed,
    size_compressed) of a 0x38 request, or None when the length is wrong.
    Fields a mode does not carry are 0.  The mode must be 01..06 (the caller
    checks it first: an unknown mode is 0x31 whatever follows)."""
    if n < 5:
        return None
    mode = req[1]
    plen = get_uint(req, 2, 2)
    i = 4 + plen
    if plen == 0 or i > n:
        return None
    dfi = 0
    unc = comp = 0
    if _mode_has_dfi(mode):
        if i >= n:
            return None
        dfi = req[i]
        i += 1
    if _mode_has_sizes(mode):
        if i >= n:
            return None
        sl = req[i]
        if sl == 0 or i + 1 + 2 * sl != n:
            return None
        unc = get_uint(req, i + 1, sl)
        comp = get_uint(req, i + 1 + sl, sl)
        i += 1 + 2 * sl
    if i != n:
        return None
    return mode, 4, plen, dfi, unc, comp


def write_file_transfer_response(out, mode, max_block_length=0, dfi=0x00, size=0,
                                 size_compressed=0, position=0, size_len=4):
    """`78 mode [LFI mbl DFI] [sizeParamLen(2) size [sizeCompressed]] [filePosition(8)]`.
    Everything after `mode` is absent for DeleteFile; sizes for 04 (with the
    compressed size) and 05 (dir info length); the position for 06 (§9.5).
    Unlike 0x74/0x75, the 0x78 lengthFormatIdentifier is the plain number of
    bytes of maxNumberOfBlockLength (`02`, not `20`; ISO 14229-1:2020 §15.6,
    digest §9.5), which is how udsoncan reads it."""
    out[0] = SID_REQUEST_FILE_TRANSFER | _RSP
    out[1] = mode
    if mode == MOP_DELETE_FILE:
        return 2
    nb = _mbl_len(max_block_length)
    out[2] = nb
    i = put_uint(out, 3, max_block_length, nb)
    out[i] = 0x00 if mode == MOP_READ_DIR else dfi
    i += 1
    if mode == MOP_READ_FILE or mode == MOP_READ_DIR:
        i = put_uint(out, i, size_len, _DIR_INFO_PARAM_LEN)
        i = put_uint(out, i, size, size_len)
        if mode == MOP_READ_FILE:
            i = put_uint(out, i, size_compressed, size_len)
    elif mode == MOP_RESUME_FILE:
        i = put_uint(out, i, position, _FILE_POSITION_LEN)
    return i


def parse_request_file_transfer_response(data, n):
    """(mode, max_block_length, dfi, size, size_compressed, position) of a
    `78 ...` response, or None.  Missing fields are 0 (or -1 for mbl/dfi of
    DeleteFile)."""
    if n < 2 or data[0] != SID_REQUEST_FILE_TRANSFER | _RSP:
        return None
    mode = data[1]
    if mode == MOP_DELETE_FILE:
        return (mode, -1, -1, 0, 0, 0) if n == 2 else None
    if n < 3:
        return None
    nb = data[2]                        # plain byte count (not a nibble, as in 0x74)
    i = 3 + nb
    if nb == 0 or i >= n:
        return None
    mbl = get_uint(data, 3, nb)
    dfi = data[i]
    i += 1
    size = comp = pos = 0
    if mode == MOP_READ_FILE or mode == MOP_READ_DIR:
        if i + _DIR_INFO_PARAM_LEN > n:
            return None
        sl = get_uint(data, i, _DIR_INFO_PARAM_LEN)
        i += _DIR_INFO_PARAM_LEN
        count = 2 if mode == MOP_READ_FILE else 1
        if sl == 0 or i + count * sl != n:
            return None
        size = get_uint(data, i, sl)
        if mode == MOP_READ_FILE:
            comp = get_uint(data, i + sl, sl)
        i = n
    elif mode == MOP_RESUME_FILE:
        if i + _FILE_POSITION_LEN != n:
            return None
        pos = get_uint(data, i, _FILE_POSITION_LEN)
        i = n
    if i != n:
        return None
    return mode, mbl, dfi, size, comp, pos
