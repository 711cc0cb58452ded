from diagbridge.errors import DiagbridgeError, UsageError, ConfigError
from diagbridge.codes import (code_name, OK, N_TIMEOUT_CR, N_WRONG_SN, N_BUFFER_OVFLW,
                              A_TIMEOUT_P2, EV_NONE)
from diagbridge.evq import EventQueue
from support import raises, run_locked, MICROPYTHON


def test_error_tree_has_one_root():
    assert raises(DiagbridgeError, _raise, UsageError("x"))
    assert raises(DiagbridgeError, _raise, ConfigError("field"))
    assert not issubclass(UsageError, ConfigError) and not issubclass(ConfigError, UsageError)
    assert str(ConfigError("n_cr_ms")) == "n_cr_ms"


def test_error_tree_mixes_in_builtins_on_cpython():
    # MicroPython allows one built-in exception base: there only the root holds.
    if MICROPYTHON:
        return
    assert raises(RuntimeError, _raise, UsageError("x"))
    assert raises(ValueError, _raise, ConfigError("field"))


def _raise(e):
    raise e


def test_code_names_follow_the_standard():
    assert code_name(OK) == "OK"
    assert code_name(N_TIMEOUT_CR) == "N_TIMEOUT_CR"
    assert code_name(N_WRONG_SN) == "N_WRONG_SN"
    assert code_name(N_BUFFER_OVFLW) == "N_BUFFER_OVFLW"
    assert code_name(A_TIMEOUT_P2) == "A_TIMEOUT_P2"
    assert code_name(0xEE) == "CODE_0xEE"


def test_event_queue_fifo_and_overflow_is_counted():
    q = EventQueue(3)
    assert q.pop() == EV_NONE
    assert q.push(1) and q.push(2) and q.push(3)
    assert not q.push(4)            # full: counted, not lost silently
    assert q.dropped == 1 and len(q) == 3
    assert (q.pop(), q.pop()) == (1, 2)
    assert q.push(5) and q.push(6)  # wraps around the ring
    assert (q.pop(), q.pop(), q.pop(), q.pop()) == (3, 5, 6, EV_NONE)


def test_event_queue_rejects_bad_size():
    assert raises(ConfigError, EventQueue, 0)
    assert raises(ConfigError, EventQueue, 256)


def test_event_queue_does_not_allocate():
    q = EventQueue(4)
    out = [0]

    def hot():
        s = 0
        for i in range(1, 40):
            q.push(i & 0x7F)
            s += q.pop()
        out[0] = s
    run_locked(hot)
    assert out[0] == sum(range(1, 40))


def test_nrc_names_are_one_table_with_the_mnemonic_and_the_standard_name():
    from diagbridge.uds.nrc_names import nrc_name, nrc_text
    from diagbridge.uds import nrc
    assert (nrc_name(0x31), nrc_text(0x31)) == ("ROOR", "requestOutOfRange")
    assert (nrc_name(0x78), nrc_text(0x78)) == ("RCRRP", "requestCorrectlyReceived-ResponsePending")
    assert nrc_name(0xA0) == "RFSCNC_0xA0" and nrc_text(0xA0) == "reservedForSpecificConditionsNotCorrect"
    assert nrc_name(0xF3) == "VMSCNC_0xF3" and nrc_text(0x3B) == "ISOSAEReserved"
    # every NRC_* constant has its own mnemonic as its name
    for name in dir(nrc):
        if name.startswith("NRC_"):
            assert nrc_name(getattr(nrc, name)) == name[4:], name
