# UDS request/response layouts shared by the tester and the ECU, one module
# per service group.  Pure functions over caller buffers; no state.
