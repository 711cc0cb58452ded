# One memory model (uds/server/transfer_machine.py MemoryStore mirrors): a download that
# overlaps a profile memory region writes through to it, so 0x23 and a
# DDDID defined by memory address read what 0x36 programmed, and 0x35 /
# the checksum read what 0x3D wrote; the programmed bytes survive a
# power cycle through the region's NVM key.
from diagbridge.uds.server.services import data as srv_data
from diagbridge.uds.server.services import memory as srv_memory
from diagbridge.uds.server.services import transfer as srv_transfer
from diagbridge.uds.server.services import dddid as srv_dddid
from diagbridge.uds.server.nvm import MemNvm
from uds_xfer_driver import make, ask, h, T0

PROFILE = {
    "sessions": {1: {}, 2: {}, 3: {}},
    "memory": [{"start": 0x600100, "size": 0x20, "write": {"sessions": [2]}}],
    "transfer": {"download_regions": [{"start": 0x600000, "size": 0x1000}],
                 "upload_regions": [{"start": 0x600000, "size": 0x1000}],
                 "max_block_length": 0x42},
}
SPECS = [srv_data.SPECS, srv_memory.SPECS, srv_transfer.SPECS, srv_dddid.SPECS]
IMAGE = bytes(range(0x40))          # programmed at 0x6000F0..0x60012F


def _download(srv):
    assert ask(srv, T0, h("34 00 44 00 60 00 F0 00 00 00 40")) == h("74 20 00 42")
    assert ask(srv, T0, b"\x36\x01" + IMAGE) == h("76 01")
    assert ask(srv, T0, h("37")) == h("77")


def test_0x23_reads_back_what_0x36_programmed():
    nvm = MemNvm()
    srv = make(PROFILE, SPECS, session=2, nvm=nvm)
    assert ask(srv, T0, h("23 14 00 60 01 00 04")) == h("63 FF FF FF FF")   # erased flash
    _download(srv)
    assert ask(srv, T0, h("23 14 00 60 01 00 04")) == h("63 10 11 12 13")
    # the region is kept in NVM: a power cycle reads the same bytes
    srv2 = make(PROFILE, SPECS, session=2, nvm=nvm)
    assert ask(srv2, T0, h("23 14 00 60 01 1C 04")) == h("63 2C 2D 2E 2F")


def test_0x35_reads_what_0x3d_wrote():
    srv = make(PROFILE, SPECS, session=2)
    _download(srv)
    assert ask(srv, T0, h("3D 14 00 60 01 08 02 AA BB")) == h("7D 14 00 60 01 08 02")
    assert ask(srv, T0, h("35 00 44 00 60 01 04 00 00 00 08")) == h("75 20 00 42")
    assert ask(srv, T0, h("36 01")) == h("76 01 14 15 16 17 AA BB 1A 1B")
    assert ask(srv, T0, h("37")) == h("77")


def test_dddid_by_memory_address_reads_programmed_bytes():
    srv = make(PROFILE, SPECS, session=2)
    assert ask(srv, T0, h("2C 02 F3 01 14 00 60 01 02 03")) == h("6C 02 F3 01")
    assert ask(srv, T0, h("22 F3 01")) == h("62 F3 01 FF FF FF")
    _download(srv)
    assert ask(srv, T0, h("22 F3 01")) == h("62 F3 01 12 13 14")
