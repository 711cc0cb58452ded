# KWP2000 application services (ISO 14230-3) over the K-Line data link (kline/),
# both roles, on the UDS server's machinery (sessions, security, DIDs, DTCs,
# routines, transfer, NVM, profiles):
#
#   sid.py          service identifiers
#   nrc.py          ISO 14230-3 response codes and the translation from the
#                   server's ISO 14229-1 codes
#   services/       the KWP service table: ServiceSpec modules (SERVICES)
#   ecu.py          KwpEcu: a UdsServer with the KWP table bound to a KLineEcu
#   client.py       KwpClient: one request at a time through a KLineTester
#   api.py          typed request builders and response decoders (tester)
#   profiles/       example KWP ECU profiles (PROFILES)
