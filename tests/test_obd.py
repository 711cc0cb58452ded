"""OBD-II through the host library and the CLI (diagbridge_host.obd,
diagbridge_host.cli_obd) against the simulated vehicle (sim://): the engine
(7E0/7E8) and the gearbox (7E1/7E9) both answer OBD on bus 0, so a
functional request on 7DF gets two answers.  The decoding tables are checked
against J1979's formulas with bytes."""
import json
import os
import subprocess
import sys

import pytest

from diagbridge_host import connect
from diagbridge_host.errors import UsageError
from diagbridge_host.obd import (PIDS, Obd, ObdError, decode_dtc, parse_dtcs, parse_info,
                                 parse_mode01, pid_by_name)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT_S = 120


@pytest.fixture(scope="module")
def obd():
    with connect("sim://") as conn, Obd.open(conn) as o:
        yield o


# ---- against the simulated vehicle -------------------------------------------------------
def test_rpm_speed_coolant_with_units(obd):
    rpm = obd.query("RPM")
    assert (rpm.pid, rpm.value, rpm.unit, rpm.raw, rpm.ecu) == (0x0C, 850.0, "rpm",
                                                               b"\x0d\x48", 0x7E8)
    speed = obd.query(0x0D)
    assert (speed.name, speed.value, speed.unit) == ("SPEED", 0, "km/h")
    coolant = obd.query("coolant_temp")
    assert (coolant.name, coolant.value, coolant.unit, coolant.raw) == ("COOLANT_TEMP", 88,
                                                                        "degC", b"\x80")
    assert str(rpm) == "850 rpm" and str(coolant) == "88 degC"


def test_several_pids_in_one_request_and_an_unsupported_one(obd):
    got = obd.query_many(["RPM", "CONTROL_MODULE_VOLTAGE", "FUEL_LEVEL", "OBD_COMPLIANCE",
                          "FUEL_PRESSURE", "OIL_TEMP", "BAROMETRIC_PRESSURE"])
    by = {v.name: v for v in got}
    assert by["CONTROL_MODULE_VOLTAGE"].value == pytest.approx(13.8)
    assert by["CONTROL_MODULE_VOLTAGE"].unit == "V"
    assert by["FUEL_LEVEL"].value == pytest.approx(0xA0 * 100 / 255)
    assert by["OBD_COMPLIANCE"].value == "EOBD (Europe)"
    assert (by["OIL_TEMP"].value, by["BAROMETRIC_PRESSURE"].value) == (82, 101)
    # 0x0A is not supported by the engine: a null value, as python-OBD gives
    assert by["FUEL_PRESSURE"].is_null() and by["FUEL_PRESSURE"].value is None
    assert str(by["FUEL_PRESSURE"]) == "FUEL_PRESSURE: no answer"


def test_supported_pids(obd):
    pids = obd.supported_pids()
    assert len(pids) >= 30
    for pid in (0x01, 0x04, 0x05, 0x0B, 0x0C, 0x0D, 0x0F, 0x10, 0x11, 0x1C, 0x1F, 0x21, 0x2F,
                0x33, 0x42, 0x46, 0x5C):
        assert pid in pids
    assert 0x0A not in pids and 0x20 not in pids and 0x40 not in pids     # bitmaps excluded
    # every supported PID the table knows decodes
    values = obd.query_many([p for p in pids if p in PIDS])
    assert all(not v.is_null() for v in values)


def test_monitor_status_counts_the_confirmed_dtcs(obd):
    st = obd.query("STATUS").value
    assert st["mil"] is False and st["ignition"] == "compression"
    assert st["dtc_count"] == len(obd.dtcs())


def test_confirmed_pending_and_permanent_dtcs_as_p_codes(obd):
    confirmed = [d.code for d in obd.dtcs()]
    assert confirmed[:3] == ["P0101", "P0117", "P0121"] and "U0100" in confirmed
    assert "P0110" not in confirmed                 # pending only (status 0x24)
    pending = [d.code for d in obd.pending_dtcs()]
    assert "P0110" in pending and "P0171" in pending and "P0117" not in pending
    assert obd.permanent_dtcs() == []


def test_vin_calids_and_ecu_name(obd):
    assert obd.vin() == "W0L000043MB541326"
    assert obd.calids() == ["03L906018JL", "CAL-ENGINE-2.0"]
    assert obd.ecu_name() == "ECM-EngineControl"


def test_functional_requests_reach_both_obd_ecus(obd):
    status = obd.query_all("STATUS")
    assert sorted(status) == [0x7E8, 0x7E9]
    assert status[0x7E9].value["dtc_count"] == 0
    assert obd.vin_all() == {0x7E8: "W0L000043MB541326", 0x7E9: "W0L000043MB541326"}
    # only the engine knows the engine speed: the gearbox stays silent
    assert sorted(obd.query_all("RPM")) == [0x7E8]
    sup = obd.supported_pids_all()
    assert sup[0x7E9] == [0x01, 0x1C] and 0x0C in sup[0x7E8]
    dtcs = obd.dtcs_all()
    assert dtcs[0x7E9] == [] and "P0101" in [d.code for d in dtcs[0x7E8]]


def test_the_gearbox_alone_by_its_physical_id():
    with connect("sim://") as conn, Obd.open(conn, ecu=0x7E1, ecus=(0x7E1,)) as o:
        assert o.ecu_name() == "TCM-TransmissionCtl"
        assert o.query("RPM").is_null()
        assert o.calids() == []


# ---- the tables, with bytes --------------------------------------------------------------
def test_j1979_formulas():
    def one(pid, data):
        return parse_mode01(bytes((0x41, pid)) + data)[0].value
    assert one(0x0C, b"\x1a\xf8") == 1726.0                # (256A + B) / 4
    assert one(0x05, b"\x00") == -40
    assert one(0x10, b"\x01\x90") == 4.0                   # g/s
    assert one(0x0E, b"\x80") == 0.0                      # A / 2 - 64
    assert one(0x06, b"\x00") == -100.0
    assert one(0x5E, b"\x00\x50") == 4.0                   # L/h
    assert one(0x3C, b"\x11\x94") == pytest.approx(410.0)
    assert one(0x44, b"\x80\x00") == 1.0
    assert one(0x14, b"\x5a\xff") == (0.45, None)
    assert one(0x02, b"\x01\x33") == decode_dtc(0x01, 0x33)
    assert one(0x00, b"\xbe\x1f\xa8\x13") == [1, 3, 4, 5, 6, 7, 12, 13, 14, 15, 16, 17, 19, 21,
                                             28, 31, 32]
    assert one(0x51, b"\x04") == "diesel"
    assert len(PIDS) >= 30
    assert pid_by_name("AMBIANT_AIR_TEMP") is PIDS[0x46]   # python-OBD's spelling
    assert pid_by_name("0c") is PIDS[0x0C]


def test_dtc_codes_cover_all_four_systems():
    assert [decode_dtc(h, lo).code for h, lo in ((0x01, 0x01), (0x41, 0x23), (0x82, 0x34),
                                                 (0xC1, 0x00), (0x3F, 0xFF))] == \
        ["P0101", "C0123", "B0234", "U0100", "P3FFF"]
    assert [d.code for d in parse_dtcs(b"\x43\x02\x01\x01\xc1\x00", 0x03)] == ["P0101", "U0100"]
    assert parse_dtcs(b"\x47\x00", 0x07) == []


def test_malformed_answers_raise_obd_error():
    for rsp in (b"\x41\x0c\x01", b"\x41", b"\x7f\x01\x12", b"\x41\x0c\x01\x02\x0d",
                b"\x41\x99\x00"):
        with pytest.raises(ObdError):
            parse_mode01(rsp)
    with pytest.raises(ObdError):
        parse_dtcs(b"\x43\x02\x01\x01", 0x03)               # two announced, one sent
    with pytest.raises(ObdError):
        parse_info(b"\x49\x02\x01" + b"VIN", 0x02, 17)


def test_unknown_pids_are_usage_errors():
    for bad in ("NOPE", 0x100, -1, True, 1.5, 0x99):
        with pytest.raises(UsageError):
            pid_by_name(bad)


# ---- the CLI, as a user runs it ----------------------------------------------------------
def _cli(*argv):
    return subprocess.run([sys.executable, "-m", "diagbridge_host.main", "obd", *argv,
                           "--url", "sim://"], capture_output=True, text=True,
                          timeout=TIMEOUT_S, cwd=ROOT)


def test_cli_get_json():
    p = _cli("get", "RPM", "SPEED", "COOLANT_TEMP", "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["command"] == "obd" and doc["ok"] is True and doc["ecu"] == "7E0"
    vals = {v["name"]: v for v in doc["values"]}
    assert vals["RPM"] == {"pid": "0C", "name": "RPM", "value": 850.0, "unit": "rpm",
                           "raw": "0d48", "ecu": "7E8"}
    assert (vals["SPEED"]["value"], vals["SPEED"]["unit"]) == (0, "km/h")
    assert (vals["COOLANT_TEMP"]["value"], vals["COOLANT_TEMP"]["unit"]) == (88, "degC")


def test_cli_all_vin_dtc_pending_and_pids_json():
    p = _cli("--all", "vin", "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["vin"] == "W0L000043MB541326" and doc["functional"] is True
    assert [e["ecu"] for e in doc["ecus"]] == ["7E8", "7E9"]
    p = _cli("dtc", "--json")
    doc = json.loads(p.stdout)
    codes = [d["code"] for d in doc["ecus"][0]["dtcs"]]
    assert p.returncode == 0 and "P0101" in codes and "P0110" not in codes
    p = _cli("pending", "--json")
    assert "P0110" in [d["code"] for d in json.loads(p.stdout)["ecus"][0]["dtcs"]]
    p = _cli("7E1", "pids", "--json")
    doc = json.loads(p.stdout)
    assert doc["ecus"] == [{"ecu": "7E9", "pids": [{"pid": "01", "name": "STATUS"},
                                                   {"pid": "1C", "name": "OBD_COMPLIANCE"}]}]


def test_cli_text_output():
    p = _cli("get", "RPM", "FUEL_PRESSURE")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["7E8", "RPM", "850", "rpm"]
    assert "FUEL_PRESSURE" in lines[1] and "not supported" in lines[1]
    assert "not answered: FUEL_PRESSURE" in p.stderr


def test_cli_input_errors_are_one_line_and_exit_2():
    for argv, words in ((("get", "NOPE"), "unknown PID 'NOPE'"),
                        (("get",), "needs PIDs"),
                        (("7E9", "vin"), "7E0-7E7"),
                        (("frobnicate",), "ECU 'frobnicate'"),
                        (("vin", "RPM"), "takes no PIDs"),
                        (("7E1", "vin", "--all"), "an ECU or --all")):
        p = _cli(*argv)
        assert p.returncode == 2, (argv, p.stderr)
        assert words in p.stderr, (argv, p.stderr)
        assert "Traceback" not in p.stderr


def test_a_pid_without_a_formula_keeps_its_bytes():
    v = parse_mode01(b"\x41\x24\x80\x00\x40\x00")[0]
    assert (v.name, v.value, v.raw) == ("PID_24", b"\x80\x00\x40\x00", b"\x80\x00\x40\x00")
    assert json.dumps(v.as_dict()) and v.as_dict()["value"] == "80004000"
