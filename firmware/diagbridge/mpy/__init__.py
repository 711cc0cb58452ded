# MicroPython adapters: the board runner (runner.py: asyncio, machine.UART,
# time.ticks_us) a board's main.py calls, around the portable runner body
# diagbridge.gateway.loop.GatewayLoop.
