# Freeze the gateway core and this board's files into the firmware:
#   make -C ports/rp2 BOARD=RPI_PICO FROZEN_MANIFEST=$PWD/boards/rp2-mcp2515/manifest.py
# (paths are relative to this file).  The firmware's manifest lists what a
# board runs (never cpy/, sim/ or the example profiles); this board hosts no
# example ECU profile, so it adds none.
include("$(PORT_DIR)/boards/manifest.py")
include("../../firmware/manifest.py")
module("board.py")
module("main.py")
