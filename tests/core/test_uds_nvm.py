# The NVM interface (uds/server/nvm.py) and the simulation store MemNvm.
from diagbridge.errors import UsageError
from diagbridge.uds.server.nvm import MemNvm
from support import raises


def test_get_put_delete_keys():
    m = MemNvm()
    assert m.get("a") is None and m.keys() == []
    m.put("a", bytearray(b"\x01\x02"))
    v = m.get("a")
    assert v == b"\x01\x02" and isinstance(v, bytes)
    m.put("b", b"")
    assert sorted(m.keys()) == ["a", "b"]
    m.delete("a")
    m.delete("zz")                                  # absent: no error
    assert m.get("a") is None and m.keys() == ["b"]
    assert raises(UsageError, m.put, 1, b"x")


def test_put_stores_a_copy():
    m = MemNvm()
    buf = bytearray(b"\x01")
    m.put("k", buf)
    buf[0] = 9
    assert m.get("k") == b"\x01"


def test_power_cycle_keeps_contents_and_failure_hook():
    m = MemNvm({"x": b"\x07"})
    m.fail_writes = True
    assert raises(OSError, m.put, "x", b"\x08")
    assert m.power_cycle() is m
    assert m.get("x") == b"\x07"
    m.put("x", b"\x08")
    assert m.get("x") == b"\x08" and m.writes == 2
