# The gateway router (section 3e of ARCHITECTURE.md): one sans-I/O object
# that bridges the host links (several hosts at once) and the vehicle's
# buses.  The face:
#
#   from diagbridge.gateway import Gateway, GatewayConfig
#
# Inside: core.py (the object and its pump), config.py (GatewayConfig),
# requests.py (one handler per host request), endpoint.py (tester channels),
# jobs.py (flash jobs and functional queries), route.py (CAN-TP routes),
# tenancy.py (what a host owns, and its teardown), limits.py (what a host may
# put on a bus: ids per role, keep-alive floor, rate limit), login.py (failed
# logins back off on a one-peer link), hosts.py (one slot per host: its
# session, tenancy, budget; bus locks), raw.py (raw CAN transmit slots),
# loop.py (the runner body every platform drives).
from diagbridge.gateway.core import Gateway, GatewayConfig
