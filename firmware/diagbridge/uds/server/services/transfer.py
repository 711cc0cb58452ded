# Server side of upload/download, ISO 14229-1 §15 (digest §9): SPECS for
# RequestDownload 0x34, RequestUpload 0x35, TransferData 0x36,
# RequestTransferExit 0x37 and RequestFileTransfer 0x38.  The transfer
# machine and the memory regions are in uds/server/transfer_machine.py; layouts in
# uds/codec/transfer.py; file stores in uds/server/file_store.py (set one with
# set_file_store(srv, store) to enable 0x38).
#
# Service-specific check order (Fig 31/32/35 are missing; reconstructed [K?]):
#   34/35: 13 length/ALFID layout -> 31 ALFID nibble 0, DFI, address/size ->
#          33 region level -> 22 transfer already active -> 70 not accepted
#          (region needs an erase first, or refused by fault injection)
#   38:    13 short -> 31 mode -> 13 layout -> 31 path, DFI, size, file
#          missing -> 70 file exists (AddFile) / store full -> 22 transfer active
# All of them are refused outside non-default sessions (Table 23, digest §2).
from diagbridge.uds.nrc import NRC_IMLOIF, NRC_CNC, NRC_ROOR, NRC_SAD, NRC_UDNA
from diagbridge.uds.codec.transfer import (
    SID_REQUEST_DOWNLOAD, SID_REQUEST_UPLOAD, SID_TRANSFER_DATA,
    SID_REQUEST_TRANSFER_EXIT, SID_REQUEST_FILE_TRANSFER, MOP_ADD_FILE,
    MOP_DELETE_FILE, MOP_REPLACE_FILE, MOP_READ_FILE, MOP_READ_DIR,
    MOP_RESUME_FILE, read_address_and_size, write_transfer_response,
    read_file_transfer_request, write_file_transfer_response)
from diagbridge.uds.server.file_store import _BytesTarget
from diagbridge.uds.server.service import ServiceSpec, NON_DEFAULT, RSP_PENDING
from diagbridge.uds.server.transfer_machine import context, S_IDLE, S_DOWNLOAD


def set_file_store(srv, store):
    """Enable RequestFileTransfer on srv with a store (uds/server/file_store.py interface)."""
    context(srv).files = store


def _start_memory(srv, req, n, upload):
    ctx = context(srv)
    if n < 3:
        return -NRC_IMLOIF
    r = read_address_and_size(req, 2, n)
    if r is None:
        return -NRC_IMLOIF
    if r == -1:
        return -NRC_ROOR
    _, addr, size = r
    if req[1] not in ctx.data_formats or size == 0:
        return -NRC_ROOR
    regions = ctx.upload_regions if upload else ctx.download_regions
    cfg = srv.profile.transfer or {}
    key = "upload_regions" if upload else "download_regions"
    region = None
    for k in range(len(regions)):
        start, rsize, _ = regions[k]
        if start <= addr and addr + size <= start + rsize:
            region = cfg[key][k]
            break
    if region is None:
        return -NRC_ROOR
    levels = region.get("levels", ())
    if levels and srv.level not in levels:
        return -NRC_SAD
    m = ctx.machine
    if m.state != S_IDLE:
        return -NRC_CNC
    if ctx.refuse or (not upload and region.get("erase_required") and
                      not _erased(ctx, addr, size)):
        return -NRC_UDNA
    if not upload:
        ctx.store.discard()         # nothing staged before this download is its own
    m.start(upload, ctx.store, addr, size, ctx.max_block_length, 0, ctx.program_us_per_kib)
    ctx.last_download = None if upload else (addr, size)
    return write_transfer_response(srv.rsp, req[0], ctx.max_block_length)


def _erased(ctx, addr, size):
    for e in ctx.erased:
        if e[0] <= addr and addr + size <= e[0] + e[1]:
            return True
    return False


def _h_download(srv, now, req, n, functional):
    return _start_memory(srv, req, n, False)


def _h_upload(srv, now, req, n, functional):
    return _start_memory(srv, req, n, True)


def _h_transfer_data(srv, now, req, n, functional):
    return context(srv).machine.transfer_data(now, req, n, srv.rsp)


def _r_transfer_data(srv, now):
    return context(srv).machine.resume(now, srv.rsp)


def _d_transfer_data(srv):
    ctx = getattr(srv, "uds_transfer", None)
    return None if ctx is None else ctx.machine.deadline()


def _h_exit(srv, now, req, n, functional):
    ctx = context(srv)
    m = ctx.machine
    ctx.exit_download = m.target is ctx.store and m.state == S_DOWNLOAD
    r = m.exit(now, n - 1)
    if r == RSP_PENDING:
        return r                    # the NVM commit runs: 0x78 until _r_exit
    return _exited(srv, ctx, r)


def _r_exit(srv, now):
    ctx = context(srv)
    r = ctx.machine.exit_resume(now)
    if r == RSP_PENDING:
        return r
    return _exited(srv, ctx, r)


def _exited(srv, ctx, nrc):
    if nrc:
        return -nrc
    if ctx.exit_download and ctx.last_download is not None:
        ctx.programmed(ctx.last_download[0], ctx.last_download[1])
        ctx.last_download = None
    srv.rsp[0] = SID_REQUEST_TRANSFER_EXIT | 0x40
    return 1


def _h_file(srv, now, req, n, functional):
    ctx = context(srv)
    if n < 5:
        return -NRC_IMLOIF
    mode = req[1]
    store = ctx.files
    if mode < MOP_ADD_FILE or mode > MOP_RESUME_FILE or store is None:
        return -NRC_ROOR
    r = read_file_transfer_request(req, n)
    if r is None:
        return -NRC_IMLOIF
    _, poff, plen, dfi, unc, comp = r
    path = store.check_path(req[poff:poff + plen])
    if path is None:
        return -NRC_ROOR
    if mode != MOP_DELETE_FILE and mode != MOP_READ_DIR and dfi not in ctx.data_formats:
        return -NRC_ROOR
    writing = mode == MOP_ADD_FILE or mode == MOP_REPLACE_FILE or mode == MOP_RESUME_FILE
    if writing:
        # no compression support: both sizes are the bytes that flow
        if unc != comp or unc == 0 or unc > store.max_file_size:
            return -NRC_ROOR
        if mode == MOP_ADD_FILE and store.size(path) >= 0:
            return -NRC_UDNA           # AddFile never overwrites
    elif mode == MOP_READ_DIR:
        if not store.is_dir(path):
            return -NRC_ROOR
    elif store.size(path) < 0:
        return -NRC_ROOR               # delete/read of a missing file
    m = ctx.machine
    if m.state != S_IDLE:
        return -NRC_CNC
    rsp = srv.rsp
    mbl = ctx.max_block_length
    if mode == MOP_DELETE_FILE:
        nrc = store.delete(path)
        if nrc:
            return -nrc
        return write_file_transfer_response(rsp, mode)
    if writing:
        t = store.open_write(path, unc, mode == MOP_RESUME_FILE)
        if isinstance(t, int):
            return -t
        target, pos = t
        m.start(False, target, 0, unc, mbl, pos)
        return write_file_transfer_response(rsp, mode, mbl, dfi, position=pos)
    if mode == MOP_READ_DIR:
        info = store.list_dir(path)
        if isinstance(info, int):
            return -info
        m.start(True, _BytesTarget(info), 0, len(info), mbl)
        return write_file_transfer_response(rsp, mode, mbl, 0, len(info))
    t = store.open_read(path)
    if isinstance(t, int):
        return -t
    target, size = t
    m.start(True, target, 0, size, mbl)
    return write_file_transfer_response(rsp, mode, mbl, dfi, size, size)


def _on_session(srv, now, old, new):
    # Every transition ends a transfer: outside default it would outlive the
    # security unlock it needed (§5.2 re-locks), into default it is not allowed.
    ctx = getattr(srv, "uds_transfer", None)
    if ctx is not None:
        ctx.machine.abort()


def _on_reset(srv, now, kind):
    _on_session(srv, now, 0, 1)


def _on_build(srv):
    # power-up: finish a memory-image commit cut after its flip
    context(srv).store.recover()


SPECS = (
    ServiceSpec(SID_REQUEST_DOWNLOAD, _h_download, min_len=3, sessions=NON_DEFAULT,
                on_session=_on_session, on_reset=_on_reset, on_build=_on_build),
    ServiceSpec(SID_REQUEST_UPLOAD, _h_upload, min_len=3, sessions=NON_DEFAULT),
    ServiceSpec(SID_TRANSFER_DATA, _h_transfer_data, min_len=2, sessions=NON_DEFAULT,
                resume=_r_transfer_data, deadline=_d_transfer_data),
    ServiceSpec(SID_REQUEST_TRANSFER_EXIT, _h_exit, min_len=1, sessions=NON_DEFAULT,
                resume=_r_exit, deadline=_d_transfer_data),
    ServiceSpec(SID_REQUEST_FILE_TRANSFER, _h_file, min_len=5, sessions=NON_DEFAULT),
)
