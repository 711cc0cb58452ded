# K-Line data link (SSF 14230-2 / ISO 14230-2): sans-I/O, allocation-free per byte.
#
#   frame.py     header formats, checksum, build and parse
#   timing.py    P1-P4 (Tables 1a-1c), the ATP byte encodings and checks, init timing
#   keybytes.py  key byte parity and meaning
#   wire.py      one message in (length / inter-byte timeout), one out (echo checked)
#   events.py    EV_* events, LINE_* line actions
#   tester.py    KLineTester machine      ecu.py   KLineEcu machine
#
# An adapter moves bytes and line levels: feed_byte(now, b, flags) for every
# byte received (own echoes included), feed_line(now, level) for edges if it
# can see them (an ECU needs them to detect the wake-up pattern and a 5-baud
# address), and after every input: poll() events, pop_line(now) line actions
# (LINE_LOW for low_us / LINE_HIGH), pop_byte(now) the byte to write, and
# on_timer(now) once deadline() is due.
from diagbridge.kline.events import (EV_KEY_BYTES, EV_RESPONSE, EV_PENDING, EV_DONE,
                                     EV_FAILED, EV_ERROR, EV_STOPPED, EV_INIT, EV_REQUEST,
                                     EV_SENT, EV_TIMING, LINE_NONE, LINE_LOW, LINE_HIGH)
from diagbridge.kline.config import TesterConfig, EcuConfig
from diagbridge.kline.tester import KLineTester
from diagbridge.kline.ecu import KLineEcu
