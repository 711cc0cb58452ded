"""Interoperability: udsoncan's client (over can-isotp on python-can's
virtual bus) drives our ECU -- the engine profile served by
diagbridge.cpy.ecu.runner -- through every udsoncan service method that
maps to a service the server supports.  Negative responses are checked as
the NRC udsoncan reports.  Real clock: generous timeouts, no timing asserts.
"""
import itertools
import os
import struct

import can
import isotp
import pytest
import udsoncan
from udsoncan import (AsciiCodec, DataFormatIdentifier, Dtc, DynamicDidDefinition,
                      IOValues, MemoryLocation, services)
from udsoncan.client import Client
from udsoncan.connections import PythonIsoTpConnection
from udsoncan.exceptions import NegativeResponseException

from diagbridge.cpy.ecu.runner import EcuRunner, build_ecu
from diagbridge.uds.seedkey import compute_key
from diagbridge.uds.server.profiles import engine

VIN = "W0L000043MB541326"
_chan = itertools.count()

# The engine profile's SecurityAccess secrets, with the core's default
# algorithm ("diagbridge1", uds/server/security_access.py): udsoncan computes the keys.
_LEVELS = engine.profile()["security"]["levels"]


def key_algorithm(level: int, seed: bytes, params=None) -> bytes:
    lv = _LEVELS[level]
    out = bytearray(len(seed))
    assert compute_key(lv["algorithm"], seed, len(seed), lv["secret"], out)
    return bytes(out)


class Int(udsoncan.DidCodec):
    """An unsigned big-endian integer of n bytes."""

    def __init__(self, n: int) -> None:
        self.n = n

    def encode(self, value: int) -> bytes:
        return value.to_bytes(self.n, "big")

    def decode(self, data: bytes) -> int:
        return int.from_bytes(data, "big")

    def __len__(self) -> int:
        return self.n


def _client_config():
    cfg = dict(udsoncan.configs.default_client_config)
    cfg.update({
        "request_timeout": 60, "p2_timeout": 10, "p2_star_timeout": 30,
        "use_server_timing": False,         # real clock on a busy machine: generous
        "security_algo": key_algorithm,
        "data_identifiers": {
            0xF190: AsciiCodec(17), 0xF187: AsciiCodec(11), 0xF18C: AsciiCodec(10),
            0xF186: Int(1), 0x0100: Int(2), 0x0101: Int(1), 0x0102: Int(2), 0x0200: Int(2),
            0xF200: ">HB",
        },
        "input_output": {0x0300: Int(1), 0x9B00: Int(1), 0x1234: Int(1)},
        "dtc_snapshot_did_size": 2,
        "server_address_format": 32, "server_memorysize_format": 32,
        "extended_data_size": 1,
    })
    return cfg


class Setup:
    """The engine ECU served on one virtual channel, udsoncan on another Bus
    object of the same channel."""

    def __init__(self, tmp_path, fd=False):
        chan = "uds-interop-%d-%d" % (os.getpid(), next(_chan))
        self.bus_ecu = can.Bus(interface="virtual", channel=chan, fd=fd)
        self.bus_tester = can.Bus(interface="virtual", channel=chan, fd=fd)
        self.files = str(tmp_path / "files")
        self.ecu = build_ecu("engine", nvm_dir=str(tmp_path / "nvm"), files_dir=self.files,
                             fd=fd)
        self.runner = EcuRunner(self.bus_ecu, self.ecu)
        self.notifier = can.Notifier(self.bus_tester, [], timeout=0.1)
        params = {"blocking_send": True, "rx_flowcontrol_timeout": 5000,
                  "rx_consecutive_frame_timeout": 5000}
        if fd:
            params.update(can_fd=True, tx_data_length=64)
        addr = isotp.Address(isotp.AddressingMode.Normal_11bits, txid=0x7E0, rxid=0x7E8)
        self.stack = isotp.NotifierBasedCanStack(self.bus_tester, self.notifier, address=addr,
                                                 params=params)
        self.client = Client(PythonIsoTpConnection(self.stack), config=_client_config())
        self.client.open()

    def close(self):
        self.client.close()
        self.runner.close()
        self.notifier.stop()
        self.bus_tester.shutdown()
        self.bus_ecu.shutdown()


@pytest.fixture
def uds(tmp_path):
    s = Setup(tmp_path)
    yield s
    s.close()


def nrc(fn, *args, **kw):
    """The NRC udsoncan raises for fn(*args)."""
    with pytest.raises(NegativeResponseException) as e:
        fn(*args, **kw)
    return e.value.response.code


def on_ecu(uds, fn):
    return uds.runner.call(fn, uds.ecu)


# ---- 0x10 0x11 0x27 0x3E ---------------------------------------------------------
def test_sessions_and_tester_present(uds):
    c = uds.client
    r = c.change_session(3)
    assert r.service_data.session_echo == 3
    assert r.service_data.p2_server_max == 0.05 and r.service_data.p2_star_server_max == 5.0
    assert c.read_data_by_identifier_first(0xF186) == 3
    assert c.tester_present().positive
    with c.suppress_positive_response:
        c.tester_present()
    c.change_session(0x40)                              # EOL: only from extended
    assert on_ecu(uds, lambda e: e.srv.session) == 0x40
    c.change_session(1)
    assert nrc(c.change_session, 0x40) == 0x7E          # not from default
    assert nrc(c.change_session, 0x05) == 0x12


def test_ecu_reset(uds):
    c = uds.client
    c.change_session(3)
    r = c.ecu_reset(services.ECUReset.ResetType.hardReset)
    assert r.service_data.reset_type_echo == 1
    assert on_ecu(uds, lambda e: (e.resets, e.srv.session)) == (1, 1)
    r = c.ecu_reset(services.ECUReset.ResetType.enableRapidPowerShutDown)
    assert r.service_data.powerdown_time == 2
    c.ecu_reset(services.ECUReset.ResetType.softReset)
    assert nrc(c.ecu_reset, 0x06) == 0x12
    assert c.read_data_by_identifier_first(0xF190) == VIN   # answers after the reset


def test_security_access_with_the_profile_algorithm(uds):
    c = uds.client
    assert nrc(c.request_seed, 1) == 0x7F               # not in the default session
    c.change_session(3)
    r = c.unlock_security_access(1)
    assert r.positive and on_ecu(uds, lambda e: e.srv.level) == 1
    assert c.request_seed(1).service_data.seed == b"\x00\x00\x00\x00"   # already unlocked
    c.change_session(0x40)
    c.unlock_security_access(0x11)                      # 8-byte seed, own secret
    assert on_ecu(uds, lambda e: e.srv.level) == 0x11
    c.change_session(3)                                 # every transition re-locks
    seed = c.request_seed(1).service_data.seed
    bad = bytes(b ^ 0xFF for b in key_algorithm(1, seed))
    assert nrc(c.send_key, 2, bad) == 0x35              # invalidKey
    assert nrc(c.send_key, 2, bad) == 0x24              # the seed is void now
    assert nrc(c.request_seed, 3) == 0x7E               # level 3: programming only


# ---- 0x22 0x2E 0x23 0x3D 0x2C ------------------------------------------------------
def test_read_and_write_data_by_identifier(uds):
    c = uds.client
    r = c.read_data_by_identifier([0xF190, 0xF187, 0xF18C, 0x0100, 0x0101])
    v = r.service_data.values
    assert v[0xF190] == VIN and v[0xF187] == "03L906018JL" and v[0xF18C] == "ENG0004711"
    assert v[0x0100] == 850 * 4 and v[0x0101] == 88 + 40     # live engine values
    assert nrc(c.read_data_by_identifier, 0x0200) == 0x31   # non-default only
    # 0x2E is served in default, the DID is not writable there: 0x31
    assert nrc(c.write_data_by_identifier, 0xF190, "X" * 17) == 0x31
    c.change_session(3)
    assert nrc(c.write_data_by_identifier, 0xF190, "X" * 17) == 0x33
    c.unlock_security_access(1)
    c.write_data_by_identifier(0xF190, "WDB00000000000001")
    assert c.read_data_by_identifier_first(0xF190) == "WDB00000000000001"
    c.write_data_by_identifier(0x0200, 0x0320)
    assert c.read_data_by_identifier_first(0x0200) == 0x0320
    assert nrc(c.write_data_by_identifier, 0xF187, "X" * 11) == 0x31   # read-only


def test_memory_by_address(uds):
    c = uds.client
    c.change_session(3)
    r = c.read_memory_by_address(MemoryLocation(0x8000, 18, 32, 16))
    assert r.service_data.memory_block == b"CAL-ENGINE-2.0-TDI"
    assert nrc(c.read_memory_by_address, MemoryLocation(0x9000, 4, 32, 16)) == 0x31
    loc = MemoryLocation(0x20000010, 8, 32, 16)
    assert nrc(c.write_memory_by_address, loc, b"\x01" * 8) == 0x33
    c.unlock_security_access(1)
    r = c.write_memory_by_address(loc, bytes(range(8)))
    assert r.service_data.memory_location_echo.address == 0x20000010
    assert c.read_memory_by_address(loc).service_data.memory_block == bytes(range(8))


def test_dynamically_define_did(uds):
    c = uds.client
    c.change_session(3)
    d = DynamicDidDefinition(source_did=0x0100, position=1, memorysize=2)
    d.add(source_did=0x0101, position=1, memorysize=1)
    c.dynamically_define_did(0xF200, d)
    assert c.read_data_by_identifier_first(0xF200) == (850 * 4, 88 + 40)
    c.clear_dynamically_defined_did(0xF200)
    assert nrc(c.read_data_by_identifier, 0xF200) == 0x31
    c.dynamically_define_did(0xF200, DynamicDidDefinition(
        MemoryLocation(0x8000, 3, 32, 16)))
    raw = c.send_request(udsoncan.Request(services.ReadDataByIdentifier,
                                          data=b"\xf2\x00"))
    assert raw.data == b"\xf2\x00CAL"
    c.clear_all_dynamically_defined_did()


# ---- 0x28 0x85 0x14 0x19 ---------------------------------------------------------
def test_communication_control_and_dtc_setting(uds):
    c = uds.client
    ct = services.CommunicationControl.ControlType
    typ = udsoncan.CommunicationType(subnet=0, normal_msg=True, network_management_msg=True)
    assert nrc(c.communication_control, ct.disableRxAndTx, typ) == 0x7F
    c.change_session(3)
    c.communication_control(ct.enableRxAndDisableTx, typ)
    assert on_ecu(uds, lambda e: e.srv.comm_control) == 1
    c.control_dtc_setting(services.ControlDTCSetting.SettingType.off)
    assert on_ecu(uds, lambda e: e.srv.dtc_setting_on) is False
    c.control_dtc_setting(services.ControlDTCSetting.SettingType.on)
    assert nrc(c.communication_control, 0x7F, typ) == 0x12
    c.change_session(1)                               # default: both back to normal
    assert on_ecu(uds, lambda e: (e.srv.comm_control, e.srv.dtc_setting_on)) == (0, True)


def test_read_dtc_information(uds):
    c = uds.client
    r = c.get_number_of_dtc_by_status_mask(0xFF)
    assert r.service_data.dtc_count == 20
    dtcs = c.get_dtc_by_status_mask(0x08).service_data.dtcs       # confirmed
    assert [d.id for d in dtcs][:3] == [0x010100, 0x011700, 0x012100]
    assert all(d.status.confirmed for d in dtcs)
    assert len(c.get_supported_dtc().service_data.dtcs) == 20
    r = c.get_dtc_snapshot_identification()
    assert (0x010100, 1) in [(d.id, s) for d in r.service_data.dtcs for s in d.snapshots]
    r = c.get_dtc_snapshot_by_dtc_number(0x010100, record_number=1)
    snap = r.service_data.dtcs[0].snapshots[0]
    assert snap.record_number == 1 and snap.did == 0x0100 and snap.data == 2400 * 4
    r = c.get_dtc_extended_data_by_dtc_number(0x010100, 1, data_size=1)
    assert r.service_data.dtcs[0].extended_data[0].raw_data == b"\x03"
    r = c.get_dtc_by_status_severity_mask(0xFF, 0x80)
    assert all(d.severity.get_byte_as_int() & 0x80 for d in r.service_data.dtcs)
    assert len(r.service_data.dtcs) == 4
    n = c.get_number_of_dtc_by_status_severity_mask(0xFF, 0x80).service_data.dtc_count
    assert n == 4
    r = c.get_dtc_severity(0x020100)
    assert r.service_data.dtcs[0].severity.get_byte_as_int() == 0x80
    for fn in (c.get_first_test_failed_dtc, c.get_first_confirmed_dtc,
               c.get_most_recent_test_failed_dtc, c.get_most_recent_confirmed_dtc):
        assert fn().positive
    assert c.get_dtc_with_permanent_status().positive
    assert nrc(c.get_dtc_snapshot_by_dtc_number, 0x123456, record_number=1) == 0x31


def test_clear_dtc(uds):
    c = uds.client
    confirmed = c.get_number_of_dtc_by_status_mask(0x08).service_data.dtc_count
    c.clear_dtc(0x010100)
    ids = [d.id for d in c.get_dtc_by_status_mask(0x08).service_data.dtcs]
    assert 0x010100 not in ids and len(ids) == confirmed - 1
    # a cleared DTC reports testNotCompleted* (0x50) until tested again
    st = {d.id: d.status.get_byte_as_int() for d in c.get_dtc_by_status_mask(0xFF)
          .service_data.dtcs}
    assert st[0x010100] == 0x50
    c.clear_dtc()                                       # all groups
    assert c.get_number_of_dtc_by_status_mask(0x08).service_data.dtc_count == 0
    assert nrc(c.clear_dtc, 0x123456) == 0x31


# ---- 0x31 0x2F 0x87 --------------------------------------------------------------
def test_routine_control(uds):
    c = uds.client
    assert nrc(c.start_routine, 0x0201) == 0x31         # this RID: extended only
    c.change_session(3)
    r = c.start_routine(0x0201)
    assert r.service_data.routine_id_echo == 0x0201
    assert nrc(c.start_routine, 0x0201) == 0x22         # already running
    c.stop_routine(0x0201)
    r = c.get_routine_result(0x0201)
    assert r.service_data.routine_status_record == b"\x00\x00"
    assert nrc(c.start_routine, 0x0202, b"\x00\x01") == 0x33
    assert nrc(c.start_routine, 0x7777) == 0x31
    r = c.routine_control(0x0203, services.RoutineControl.ControlType.startRoutine,
                          b"\x44" + struct.pack(">II", 0x10000, 0x10))
    assert len(r.service_data.routine_status_record) == 2          # CRC-16


def test_io_control(uds):
    c = uds.client
    c.change_session(3)
    r = c.io_control(0x0300, services.InputOutputControlByIdentifier.ControlParam.shortTermAdjustment,
                     IOValues(0x55))
    assert r.service_data.decoded_data == 0x55
    r = c.io_control(0x0300, services.InputOutputControlByIdentifier.ControlParam.returnControlToECU)
    assert nrc(c.io_control, 0x9B00,
               services.InputOutputControlByIdentifier.ControlParam.resetToDefault) == 0x33
    c.unlock_security_access(1)
    r = c.io_control(0x9B00, services.InputOutputControlByIdentifier.ControlParam.resetToDefault)
    assert r.service_data.decoded_data == 0x0C
    assert nrc(c.io_control, 0x1234,
               services.InputOutputControlByIdentifier.ControlParam.resetToDefault) == 0x31


def test_link_control(uds):
    c = uds.client
    lc = services.LinkControl.ControlType
    c.change_session(3)
    assert nrc(c.link_control, lc.transitionBaudrate) == 0x24     # nothing verified
    c.link_control(lc.verifyBaudrateTransitionWithFixedBaudrate,
                   udsoncan.Baudrate(500000, udsoncan.Baudrate.Type.Fixed))
    with c.suppress_positive_response:
        c.link_control(lc.transitionBaudrate)


# ---- 0x34 0x35 0x36 0x37 0x38 ----------------------------------------------------
def _program(c, data, start=0x10000):
    c.change_session(2)
    c.unlock_security_access(3)
    # erase: 0x78 pending reaches udsoncan while the routine runs
    c.start_routine(0xFF00, b"\x44" + struct.pack(">II", start, len(data)))
    r = c.request_download(MemoryLocation(start, len(data), 32, 32),
                           DataFormatIdentifier(0, 0))
    step = r.service_data.max_length - 2
    seq = 1
    for pos in range(0, len(data), step):
        r = c.transfer_data(seq & 0xFF, data[pos:pos + step])
        assert r.service_data.sequence_number_echo == seq & 0xFF
        seq += 1
    c.request_transfer_exit()
    assert c.start_routine(0xFF01).service_data.routine_status_record == b"\x00"


def _crc16(data):
    crc = 0xFFFF
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def test_download_1_mib_over_can_fd(tmp_path):
    s = Setup(tmp_path, fd=True)
    try:
        c = s.client
        data = bytes((i * 7 + (i >> 10)) & 0xFF for i in range(0x100000))
        _program(c, data)
        r = c.routine_control(0x0203, services.RoutineControl.ControlType.startRoutine,
                              b"\x44" + struct.pack(">II", 0x10000, len(data)))
        assert r.service_data.routine_status_record == struct.pack(">H", _crc16(data))
        # 0x23 sees what 0x36 programmed (one memory model)
        got = c.read_memory_by_address(MemoryLocation(0x10000, 32, 32, 16))
        assert got.service_data.memory_block == data[:32]
    finally:
        s.close()


def test_download_and_upload_classic(uds):
    c = uds.client
    data = bytes((i * 13) & 0xFF for i in range(0x4000))
    _program(c, data, 0x20000)
    r = c.request_upload(MemoryLocation(0x20000, len(data), 32, 32))
    step = r.service_data.max_length - 2
    back = b""
    seq = 1
    while len(back) < len(data):
        back += c.transfer_data(seq & 0xFF).service_data.parameter_records[:step]
        seq += 1
    c.request_transfer_exit()
    assert back == data
    assert nrc(c.transfer_data, 1, b"x") == 0x24        # no transfer active


def _write_file(c, body, max_length):
    step = max_length - 2
    seq = 1
    for pos in range(0, len(body), step):
        c.transfer_data(seq & 0xFF, body[pos:pos + step])
        seq += 1
    c.request_transfer_exit()


def _read_file(c, size):
    back = b""
    seq = 1
    while len(back) < size:
        back += c.transfer_data(seq & 0xFF).service_data.parameter_records
        seq += 1
    c.request_transfer_exit()
    return back


BODY = bytes(range(256)) * 20


def test_request_file_transfer_raw_requests(uds):
    """0x38 AddFile / ReadFile sent raw, the data through udsoncan's
    transfer_data / request_transfer_exit; the exact response bytes."""
    c = uds.client
    c.change_session(3)
    assert nrc(c.delete_file, "logs/trip.bin") == 0x33  # the engine profile: locked
    c.unlock_security_access(1)
    name = b"logs/trip.bin"
    size = len(BODY).to_bytes(4, "big")
    add = (b"\x01" + len(name).to_bytes(2, "big") + name + b"\x00\x04" + size + size)
    r = c.send_request(udsoncan.Request(services.RequestFileTransfer, data=add))
    assert r.data[0] == 0x01
    lfi = r.data[1]                                 # a byte count, not 0x34's nibble
    assert lfi == 2 and len(r.data) == 2 + lfi + 1
    _write_file(c, BODY, int.from_bytes(r.data[2:2 + lfi], "big"))
    with open(os.path.join(uds.files, "logs", "trip.bin"), "rb") as f:
        assert f.read() == BODY
    r = c.send_request(udsoncan.Request(services.RequestFileTransfer,
                                        data=b"\x04" + len(name).to_bytes(2, "big") + name
                                        + b"\x00"))
    assert _read_file(c, len(BODY)) == BODY
    # udsoncan's own DeleteFile (its response has no lengthFormatIdentifier)
    c.delete_file("logs/trip.bin")
    assert not os.path.exists(os.path.join(uds.files, "logs", "trip.bin"))
    assert nrc(c.delete_file, "../escape") == 0x31
    assert nrc(c.delete_file, "logs/none.bin") == 0x31


def test_request_file_transfer(uds):
    """udsoncan's own 0x38 calls: its interpret_response reads the 0x38
    lengthFormatIdentifier as the byte count of maxNumberOfBlockLength."""
    c = uds.client
    c.change_session(3)
    c.unlock_security_access(1)                         # 0x38 needs level 01 or 03
    r = c.add_file("logs/trip.bin", DataFormatIdentifier(0, 0), filesize=len(BODY))
    assert r.service_data.max_length == on_ecu(uds, lambda e: e.srv.uds_transfer.max_block_length)
    _write_file(c, BODY, r.service_data.max_length)
    assert nrc(c.add_file, "logs/trip.bin", DataFormatIdentifier(0, 0), filesize=1) == 0x70
    r = c.read_file("logs/trip.bin", DataFormatIdentifier(0, 0))
    assert r.service_data.filesize.uncompressed == len(BODY)
    assert _read_file(c, len(BODY)) == BODY
    r = c.read_dir("logs")
    assert _read_file(c, r.service_data.dirinfo_length) == b"trip.bin\n"
    new = bytes(reversed(BODY))
    r = c.replace_file("logs/trip.bin", DataFormatIdentifier(0, 0), filesize=len(new))
    _write_file(c, new, r.service_data.max_length)
    with open(os.path.join(uds.files, "logs", "trip.bin"), "rb") as f:
        assert f.read() == new


# ---- not supported / general behaviour -------------------------------------------
def test_services_the_ecu_does_not_serve(uds):
    c = uds.client
    assert nrc(c.authentication, services.Authentication.AuthenticationTask.deAuthenticate) \
        == 0x11
    assert nrc(c.access_timing_parameter,
               services.AccessTimingParameter.AccessType.readExtendedTimingParameterSet) == 0x11


def test_functional_tester_present_from_udsoncan(uds):
    """A functional 3E 80 keeps the session; the ECU stays silent."""
    c = uds.client
    c.change_session(3)
    fstack_addr = isotp.Address(isotp.AddressingMode.Normal_11bits, txid=0x7DF, rxid=0x7E8)
    uds.stack.set_address(fstack_addr)
    try:
        with c.suppress_positive_response:
            c.tester_present()
    finally:
        uds.stack.set_address(isotp.Address(isotp.AddressingMode.Normal_11bits,
                                            txid=0x7E0, rxid=0x7E8))
    assert on_ecu(uds, lambda e: e.srv.session) == 3
    assert c.read_data_by_identifier_first(0xF186) == 3
