# An example KWP2000 engine ECU on the K-Line (an older petrol engine
# controller), in the profile format of uds/server/profile.py with its KWP
# sections.  K-Line address 0x10 (functional group 0x33), key bytes EA 8F.
#
#   from diagbridge.kwp.profiles import kwp_engine
#   prof = kwp_engine.make()                       # fresh EngineState
#   state = EngineState(); prof = Profile(kwp_engine.profile(), kwp_engine.sources(state))
#
# Sessions: 0x81 standard, 0x82 periodic transmission, 0x85 programming,
# 0x86 development.  securityAccess level 01 (seed 2 bytes, diagbridge1 key,
# example secret) in 0x85 / 0x86.
#   readEcuIdentification 0x1A: 0x90 VIN, 0x91 hardware number, 0x92 supplier
#     hardware number, 0x94 software number, 0x97 system name
#   local ids (0x21): 01 engine speed (2 bytes, 1 rpm/bit), 02 coolant (1 byte,
#     degC + 40), 03 battery (1 byte, 0.1 V/bit), 04 throttle (1 byte, %*255/100),
#     10 idle speed target (2 bytes, rpm; 0x3B in 0x86 with level 01, NVM)
#   common ids (0x22 / 0x2E): 0x1001 calibration id (read-only), 0x1002 workshop
#     code (written in 0x86 with level 01)
#   DTCs: P0115 coolant sensor (failing now), P0301 misfire (stored),
#     P0562 battery voltage low (supported, not set), C0035 wheel speed (stored)
#   IO control (0x30) 0x20 idle air valve, 1 byte, in 0x86 with level 01
#   routines: 01 (0x86) self test -> 00; 02 (0x85, level 01) checksum over an
#     address range, 300 ms: answered 7F 31 78 first
#   download / upload 0x010000-0x010FFF in 0x85 with level 01, blocks of 129
from diagbridge.uds.server.profile import Profile
from diagbridge.uds.server.profiles.engine import EngineState

_DEV = (0x86,)
_PRG = (0x85,)
_DEV_PRG = (0x85, 0x86)
_LOCKED = {"sessions": _DEV, "levels": [0x01]}


def sources(state):
    """Live local-id sources for profile(): name -> fn(srv, lid) -> int."""
    return {
        "engine_speed": lambda srv, lid: state.rpm,
        "coolant_temperature": lambda srv, lid: state.coolant_c + 40,
        "battery_voltage": lambda srv, lid: state.battery_mv // 100,
        "throttle_position": lambda srv, lid: state.throttle_pct * 255 // 100,
    }


def profile():
    return {
        "name": "kwp_engine",
        "protocol": "kwp",
        "addresses": {"kline_address": 0x10, "kline_groups": [0x33]},
        "modules": ["session", "security", "data", "dtc", "io", "routine", "transfer"],
        "sessions": {
            0x81: {},
            0x82: {"from": [0x81]},
            0x85: {"from": [0x81, 0x85, 0x86]},
            0x86: {"from": [0x81, 0x85, 0x86]},
        },
        "security": {"levels": {0x01: {"seed_len": 2, "secret": b"kwp-engine",
                                       "attempts": 3, "delay_ms": 10000,
                                       "sessions": list(_DEV_PRG)}}},
        "reset": {"types": [0x01]},
        "ecu_identification": {
            0x90: "WDB2020181A000001",
            0x91: "0261203456",
            0x92: "0281001234",
            0x94: "1037350001",
            0x97: "M2.1",
        },
        "local_ids": {
            0x01: {"length": 2, "live": "engine_speed"},
            0x02: {"length": 1, "live": "coolant_temperature"},
            0x03: {"length": 1, "live": "battery_voltage"},
            0x04: {"length": 1, "live": "throttle_position"},
            0x10: {"length": 2, "value": b"\x03\x52", "write": _LOCKED},
        },
        "dids": {
            0x1001: {"length": 8, "value": "CAL00417"},
            0x1002: {"length": 4, "value": b"\x00\x00\x00\x00", "write": _LOCKED},
        },
        "dtcs": [
            {"code": 0x0115, "status": 0x09},        # testFailed + confirmed
            {"code": 0x0301, "status": 0x08},        # confirmed, not failing now
            {"code": 0x0562, "status": 0x00},
            {"code": 0x4035, "status": 0x88},        # confirmed, lamp on
        ],
        "io_controls": {0x20: {"length": 1, "default": b"\x40", "sessions": list(_DEV),
                               "levels": [0x01]}},
        "routines": {
            0x01: {"sessions": list(_DEV), "kind": "generic", "result": b"\x00",
                   "option_length": 0},
            0x02: {"sessions": list(_PRG), "levels": [0x01], "kind": "checksum",
                   "duration_ms": 300},
        },
        "memory": [{"start": 0x010000, "size": 0x1000}],
        "transfer": {
            "download_regions": [{"start": 0x010000, "size": 0x1000, "levels": [0x01]}],
            "upload_regions": [{"start": 0x010000, "size": 0x1000, "levels": [0x01]}],
            "max_block_length": 0x82,
            "data_formats": [0x00],
        },
    }


def make(state=None):
    """A Profile with live values from `state` (a fresh EngineState if None)."""
    return Profile(profile(), sources(state if state is not None else EngineState()))
