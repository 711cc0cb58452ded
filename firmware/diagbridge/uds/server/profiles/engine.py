# An example engine ECU profile (the shape is documented in uds/server/profile.py).
#
#   from diagbridge.uds.server.profiles import engine
#   prof = engine.make()                  # Profile with a fresh EngineState
#   # or, to drive the live values:
#   state = engine.EngineState()
#   prof = Profile(engine.profile(), sources=engine.sources(state))
#
# Physical request 0x7E0, response 0x7E8, functional 0x7DF (ISO 15765-4
# 11-bit OBD identifiers).  Sessions 01/02/03 and a VM-specific end-of-line
# session 0x40; SecurityAccess levels 01 (extended: calibration writes, IO
# control), 03 (programming) and 0x11 (end of line).  Secrets are examples.
#
# Locked down, as a copied profile should be: nothing that changes the ECU
# works with security locked (0x33 securityAccessDenied).  Programming
# (RequestDownload 0x34 into the download region, the erase and dependency
# routines) and RequestUpload 0x35 need level 03 (programming session);
# RequestFileTransfer 0x38 needs level 01 (extended) or 03 (programming),
# through the profile's "services" override; every writable DID (0x2E) and
# memory region (0x3D) names its levels.
from diagbridge.uds.codec.data import formula_scaling, unit_scaling
from diagbridge.uds.server.profile import Profile

_UNIT_RPM = 0x33
_UNIT_DEG_C = 0x17
_UNIT_V = 0x0E
_UNIT_KMH = 0x30
_UNIT_PCT = 0x35

_EXT = (0x03,)
_EXT_EOL = (0x03, 0x40)


class EngineState:
    """The values behind the live DIDs; a simulation changes them."""

    def __init__(self):
        self.rpm = 850                  # 1/min
        self.coolant_c = 88
        self.battery_mv = 13800
        self.speed_kmh = 0
        self.throttle_pct = 0


def sources(state):
    """Live DID sources for profile(): name -> fn(srv, did) -> int."""
    return {
        "engine_speed": lambda srv, did: state.rpm * 4,             # 0.25 rpm/bit
        "coolant_temperature": lambda srv, did: state.coolant_c + 40,
        "battery_voltage": lambda srv, did: state.battery_mv,        # 1 mV/bit
        "vehicle_speed": lambda srv, did: max(0, (state.speed_kmh - 30) * 4 // 3),
        "vehicle_speed_kmh": lambda srv, did: state.speed_kmh,      # OBD PID 0x0D: 1 km/h/bit
        "throttle_position": lambda srv, did: state.throttle_pct * 255 // 100,
    }


def _dtc(code, status, severity, rpm, coolant, occurrences):
    return {
        "code": code, "status": status, "severity": severity, "functional_unit": 0x10,
        # snapshot record 1: engine speed and coolant temperature at the failure
        "snapshots": {1: {0x0100: bytes(((rpm * 4) >> 8, (rpm * 4) & 0xFF)),
                          0x0101: bytes((coolant + 40,))}},
        # extended record 1: occurrence counter; 2: aging counter
        "extended": {1: bytes((occurrences,)), 2: bytes((0,))},
    }


def profile():
    """A fresh profile dict (Profile() keeps written values in its own copy)."""
    return {
        "name": "engine",
        "addresses": {"rx_id": 0x7E0, "tx_id": 0x7E8, "functional_id": 0x7DF,
                      "format": "normal"},
        # the flow control its receiver advertises: BS 0 (one FC per request,
        # none after it) and STmin 0, so a 0x36 block streams at the bus's rate
        "cantp": {"block_size": 0, "stmin_us": 0},
        "modules": ["session", "security", "data", "memory", "dtc", "roe", "routine", "io",
                    "periodic", "dddid", "link", "secured", "transfer", "obd"],
        "sessions": {
            0x01: {"p2_ms": 50, "p2star_ms": 5000},
            0x02: {"p2_ms": 50, "p2star_ms": 5000},
            0x03: {"p2_ms": 50, "p2star_ms": 5000},
            0x40: {"p2_ms": 100, "p2star_ms": 5000, "from": [0x03]},  # end of line (VMS)
        },
        "security": {
            "levels": {
                0x01: {"seed_len": 4, "algorithm": "diagbridge1", "secret": b"EngineExt01",
                       "attempts": 3, "delay_ms": 10000, "sessions": [0x03, 0x40]},
                0x03: {"seed_len": 4, "algorithm": "diagbridge1", "secret": b"EngineProg03",
                       "attempts": 3, "delay_ms": 10000, "sessions": [0x02]},
                0x11: {"seed_len": 8, "algorithm": "diagbridge1", "secret": b"EngineEOL17",
                       "attempts": 2, "delay_ms": 30000, "sessions": [0x40]},
            },
            "prng_seed": 0x5EED,        # extra mixing only: seeds come from entropy + boot counter
        },
        # RequestFileTransfer changes the file store: an unlocked level first
        "services": {0x38: {"levels": [0x01, 0x03]}},
        "reset": {"types": [1, 2, 3, 4, 5], "power_down_time_s": 2},
        "comm_control": {"types": [0, 1, 2, 3, 4, 5], "node_ids": [0x0001, 0x0002]},
        "limits": {"max_dids": 8},
        "dids": {
            0xF180: {"length": 8, "value": "BOOT0102"},
            0xF181: {"length": 8, "value": "APP04021"},
            0xF187: {"length": 11, "value": "03L906018JL"},
            0xF188: {"length": 4, "value": "4021"},
            0xF18B: {"length": 3, "value": b"\x24\x03\x15"},      # BCD YYMMDD
            0xF18C: {"length": 10, "value": "ENG0004711"},
            0xF190: {"length": 17, "value": "W0L000043MB541326", "scaling": b"\x6F\x62",
                     "write": {"sessions": _EXT_EOL, "levels": [0x01, 0x11]}},
            0xF191: {"length": 6, "value": "HW0003"},
            0xF197: {"length": 8, "value": "2.0 TDI "},
            0xF199: {"length": 3, "value": b"\x24\x03\x15",
                     "write": {"sessions": [0x02, 0x03], "levels": [0x01, 0x03]}},
            0x0100: {"length": 2, "live": "engine_speed",
                     "scaling": formula_scaling(2, 0x06, ((25, -2),)) + unit_scaling(_UNIT_RPM)},
            0x0101: {"length": 1, "live": "coolant_temperature",
                     "scaling": formula_scaling(1, 0x08, ((-40, 0),)) + unit_scaling(_UNIT_DEG_C)},
            0x0102: {"length": 2, "live": "battery_voltage",
                     "scaling": formula_scaling(2, 0x07, ((1000, 0),)) + unit_scaling(_UNIT_V)},
            # y = 0.75 x + 30 km/h: the §11.4.5 example -> 01 95 00 E0 4B 00 1E A1 30
            0x0105: {"length": 1, "live": "vehicle_speed",
                     "scaling": formula_scaling(1, 0x00, ((75, -2), (30, 0)))
                     + unit_scaling(_UNIT_KMH)},
            0x0106: {"length": 1, "live": "throttle_position",
                     "scaling": formula_scaling(1, 0x09, ((100, 0), (255, 0)))
                     + unit_scaling(_UNIT_PCT)},
            # idle speed calibration: extended session, level 01, kept in NVM
            0x0200: {"length": 2, "value": b"\x03\x52",
                     "write": {"sessions": _EXT, "levels": [0x01]},
                     "read": {"sessions": "non_default"}},
        },
        "memory": [
            {"start": 0x20000000, "size": 0x400, "fill": 0x00,
             "write": {"sessions": _EXT, "levels": [0x01]}},
            {"start": 0x00008000, "size": 0x100, "init": b"CAL-ENGINE-2.0-TDI",
             "read": {"sessions": _EXT}},
            # application header inside the download region: 0x23 reads what
            # 0x36 programmed (one memory model, uds/server/transfer_machine.py MemoryStore)
            {"start": 0x00010000, "size": 0x100, "read": {"sessions": [0x02, 0x03]}},
        ],
        "dtc": {"availability_mask": 0xFF, "format": 0x01, "severity_availability_mask": 0xE0},
        "dtcs": [
            _dtc(0x010100, 0x2F, 0x20, 2400, 95, 3),   # P0101 MAF range/performance
            _dtc(0x011000, 0x24, 0x20, 900, 20, 1),    # P0110 intake air temp circuit
            _dtc(0x011500, 0x50, 0x00, 0, 0, 0),       # P0115 coolant temp circuit
            _dtc(0x011700, 0x08, 0x40, 850, 110, 2),   # P0117 coolant temp low
            _dtc(0x012100, 0x2F, 0x20, 3100, 90, 5),   # P0121 throttle position range
            _dtc(0x017100, 0x24, 0x20, 1800, 88, 1),   # P0171 system too lean
            _dtc(0x020100, 0x2F, 0x80, 1200, 85, 4),   # P0201 injector circuit cyl 1
            _dtc(0x023400, 0x09, 0x80, 4200, 92, 1),   # P0234 turbo overboost
            _dtc(0x029900, 0x50, 0x00, 0, 0, 0),       # P0299 turbo underboost
            _dtc(0x030000, 0x2F, 0x80, 1500, 89, 7),   # P0300 random misfire
            _dtc(0x033500, 0x24, 0x40, 0, 30, 1),      # P0335 crankshaft sensor circuit
            _dtc(0x034000, 0x50, 0x00, 0, 0, 0),       # P0340 camshaft sensor circuit
            _dtc(0x040100, 0x28, 0x20, 2000, 90, 2),   # P0401 EGR flow insufficient
            _dtc(0x042000, 0x2C, 0x20, 2500, 91, 2),   # P0420 catalyst efficiency
            _dtc(0x047100, 0x50, 0x00, 0, 0, 0),       # P0471 exhaust pressure sensor
            _dtc(0x050000, 0x24, 0x20, 850, 80, 1),    # P0500 vehicle speed sensor
            _dtc(0x056200, 0x2F, 0x40, 800, 70, 6),    # P0562 system voltage low
            _dtc(0x060100, 0x08, 0x80, 0, 25, 1),      # P0601 ECU memory checksum
            _dtc(0x240100, 0x24, 0x20, 2200, 93, 1),   # P2401 EVAP leak detection pump
            _dtc(0xC10000, 0x2F, 0x40, 850, 88, 9),    # U0100 lost comm with ECM/PCM
        ],
        "routines": {
            0xFF00: {"sessions": [0x02], "levels": [0x03], "kind": "erase",
                     "duration_ms": 3000, "result": b"\x00", "option_length": -1},
            0xFF01: {"sessions": [0x02], "levels": [0x03], "kind": "check_dependencies",
                     "duration_ms": 200, "result": b"\x00", "option_length": 0},
            0x0201: {"sessions": [0x03], "levels": [], "kind": "generic",
                     "duration_ms": 2000, "result": b"\x00\x00", "option_length": 0},
            0x0202: {"sessions": [0x03], "levels": [0x01], "kind": "generic",
                     "duration_ms": 500, "result": b"\x00", "option_length": 2},
            0x0203: {"sessions": [0x02, 0x03], "levels": [], "kind": "checksum",
                     "duration_ms": 100, "result": b"\x00", "option_length": -1},
        },
        "io_controls": {
            0x9B00: {"length": 1, "sessions": [0x03], "levels": [0x01], "default": b"\x0C",
                     "max": 100},
            0x0300: {"length": 1, "sessions": [0x03], "levels": [], "default": b"\x00"},
        },
        "transfer": {
            "download_regions": [{"start": 0x00010000, "size": 0x100000,
                                  "erase_us_per_kib": 100, "levels": [0x03]}],
            "upload_regions": [{"start": 0x00010000, "size": 0x100000, "levels": [0x03]}],
            # 2 KiB of data per 0x36 (two flash pages), under the 4095-byte FF_DL
            # of classical CAN-TP; programming takes 1 ms per KiB (about 30 us per
            # 32-byte page with verify: a burst-programming automotive flash), inside
            # P2 (no 0x78)
            "max_block_length": 0x0802,
            "program_us_per_kib": 1000,
            "data_formats": [0x00],
        },
        "files": {"sandbox": "engine_files", "max_file_size": 0x100000},
        # OBD-II (ISO 15031-5 / SAE J1979, services/obd.py): mode 01 PIDs from the live
        # values (same raw scaling as the DIDs above unless mul/div/offset say otherwise)
        # or fixed readings; DTCs from the DTC memory; the VIN from F190
        "obd": {
            "pids": {
                0x01: {"value": b"\x00\x0F\x00\x00"},  # A: DTC memory; B-D: monitors (diesel)
                0x03: {"value": b"\x02\x00"},            # fuel system 1: closed loop
                0x04: {"value": b"\x33"},                 # calculated load 20 %
                0x05: {"live": "coolant_temperature"},    # A - 40 degC
                0x06: {"value": b"\x80"},                 # short term fuel trim 0 %
                0x07: {"value": b"\x82"},                 # long term fuel trim +1.6 %
                0x0B: {"value": b"\x21"},                 # intake manifold pressure 33 kPa
                0x0C: {"live": "engine_speed"},           # (256A + B) / 4 rpm
                0x0D: {"live": "vehicle_speed_kmh"},      # A km/h
                0x0E: {"value": b"\x94"},                 # timing advance +10 deg
                0x0F: {"value": b"\x3C"},                 # intake air 20 degC
                0x10: {"value": b"\x01\x90"},            # MAF 4.00 g/s
                0x11: {"live": "throttle_position"},      # A * 100 / 255 %
                0x13: {"value": b"\x03"},                 # O2 sensors: bank 1 sensors 1, 2
                0x14: {"value": b"\x5A\x80"},            # O2 B1S1 0.45 V, trim 0 %
                0x15: {"value": b"\x5A\xFF"},            # O2 B1S2 0.45 V, not used for trim
                0x1C: {"value": b"\x06"},                 # OBD standard: EOBD (Europe)
                0x1F: {"value": b"\x02\x58"},            # run time since start 600 s
                0x21: {"value": b"\x00\x00"},            # distance with MIL on 0 km
                0x2C: {"value": b"\x00"},                 # commanded EGR 0 %
                0x2F: {"value": b"\xA0"},                 # fuel level 62.7 %
                0x30: {"value": b"\x12"},                 # warm-ups since clear 18
                0x31: {"value": b"\x04\xD2"},            # distance since clear 1234 km
                0x33: {"value": b"\x65"},                 # barometric pressure 101 kPa
                0x3C: {"value": b"\x11\x94"},            # catalyst B1S1 410.0 degC
                0x42: {"live": "battery_voltage"},        # (256A + B) / 1000 V
                0x43: {"value": b"\x00\x33"},            # absolute load 20 %
                0x44: {"value": b"\x80\x00"},            # commanded equivalence ratio 1.0
                0x45: {"value": b"\x0A"},                 # relative throttle 3.9 %
                0x46: {"value": b"\x32"},                 # ambient air 10 degC
                0x49: {"value": b"\x26"},                 # accelerator pedal D 14.9 %
                0x4C: {"value": b"\x0A"},                 # commanded throttle actuator 3.9 %
                0x51: {"value": b"\x04"},                 # fuel type: diesel
                0x5C: {"value": b"\x7A"},                 # engine oil 82 degC
                0x5E: {"value": b"\x00\x50"},            # fuel rate 4.0 L/h
            },
            "vin_did": 0xF190,
            "calids": ["03L906018JL", "CAL-ENGINE-2.0"],
            "ecu_name": "ECM\x00-EngineControl",
        },
    }


def make():
    """The engine profile with a fresh EngineState behind its live DIDs."""
    return Profile(profile(), sources=sources(EngineState()))
