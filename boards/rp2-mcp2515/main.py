# Runs at boot on the Pico: the diagbridge gateway (boards/rp2-mcp2515).
import board
from diagbridge.mpy.runner import main

main(board)
