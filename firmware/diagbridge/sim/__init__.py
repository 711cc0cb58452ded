# Simulation kernel: virtual clock, deterministic event queue, virtual wires.
# Portable: it imports only the core, so whole-vehicle scenarios also run
# under MicroPython.
