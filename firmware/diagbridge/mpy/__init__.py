# MicroPython adapters: the gateway's runner loop (loop.py, portable and
# tested under MicroPython with simulated I/O) and the board runner
# (runner.py: asyncio, machine.UART, time.ticks_us) a board's main.py calls.
