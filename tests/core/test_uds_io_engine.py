# The example engine profile (uds/server/profiles/engine.py) on a real server built
# from its module list: it builds, answers V23, and the services added last
# (0x2F, 0x2A, 0x2C, 0x87) work together on it.
from diagbridge.uds.server.profile import Profile
from diagbridge.uds.server.profiles import engine
from diagbridge.uds.server.services import SERVICES, specs as service_specs
from diagbridge.uds.server.core import UdsServer
from diagbridge.errors import ConfigError
from support import raises
from uds_xfer_driver import ask, h, run, pop_all, T0


def _engine():
    st = engine.EngineState()
    srv = UdsServer(Profile(engine.profile(), sources=engine.sources(st)))
    srv.power_up(T0)
    return srv, st


def test_engine_profile_builds_from_its_modules_and_answers_v23():
    srv = UdsServer(engine.profile())
    srv.power_up(T0)
    assert ask(srv, T0, h("22 F1 90")) == h("62 F1 90 57 30 4C 30 30 30 30 34 33 4D 42 35 34 "
                                            "31 33 32 36")
    for name in engine.profile()["modules"]:
        for spec in service_specs(name):
            assert srv.supports(spec.sid), name


def test_engine_io_control_periodic_dddid_and_link():
    srv, st = _engine()
    assert ask(srv, T0, h("10 03")) == h("50 03 00 32 01 F4")
    assert ask(srv, T0, h("2F 03 00 03 01")) == h("6F 03 00 03 01")    # no level needed
    assert ask(srv, T0, h("22 03 00")) == h("62 03 00 01")
    assert ask(srv, T0, h("2F 9B 00 03 3C")) == h("7F 2F 33")          # level 01
    assert ask(srv, T0, h("2C 01 F2 E3 01 00 01 02 01 01 01 01")) == h("6C 01 F2 E3")
    st.rpm = 2000
    srv.feed_pdu(T0, h("2A 03 E3"), 3, False)
    assert pop_all(srv) == [h("6A"), h("E3 1F 40 80")]              # 2000 rpm, 88 C
    sent = run(srv, T0, 100000)
    assert sent == [(50000, h("E3 1F 40 80")), (100000, h("E3 1F 40 80"))]
    assert ask(srv, T0, h("87 01 12")) == h("C7 01")
    assert ask(srv, T0, h("10 01")) == h("50 01 00 32 01 F4")
    assert run(srv, T0, 1000000) == []                              # 0x2A stopped
    assert ask(srv, T0, h("22 03 00")) == h("62 03 00 00")          # back to the ECU


def test_every_service_module_in_the_table_loads_and_an_unknown_name_is_a_config_error():
    for name in SERVICES:
        assert len(service_specs(name)) >= 1, name
    raises(ConfigError, UdsServer, {"name": "x", "modules": ["session", "srv_session"]})
