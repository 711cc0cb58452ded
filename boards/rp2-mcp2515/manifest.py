# Freeze the portable core and this board's files into the firmware:
#   make -C ports/rp2 BOARD=RPI_PICO FROZEN_MANIFEST=$PWD/boards/rp2-mcp2515/manifest.py
# (paths are relative to this file).  This freezes the whole package: cpy/ and
# sim/ are never imported on the board; list files=[...] to leave them out
# when flash is tight.
include("$(PORT_DIR)/boards/manifest.py")
package("diagbridge", base_path="../../firmware",
        opt=3)
module("board.py")
module("main.py")
