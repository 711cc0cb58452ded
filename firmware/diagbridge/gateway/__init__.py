# The gateway router (section 3e of ARCHITECTURE.md): one sans-I/O object
# that bridges the host link and the vehicle's buses.  The face:
#
#   from diagbridge.gateway import Gateway, GatewayConfig
#
# Inside: core.py (the object and its pump), requests.py (one handler per
# host request), endpoint.py (tester channels), jobs.py (flash jobs and
# functional queries), route.py (CAN-TP routes), tenancy.py (what a host
# owns, and its teardown), loop.py (the runner body every platform drives).
from diagbridge.gateway.core import Gateway, GatewayConfig
