# ISO 14229-1 (UDS): NRCs and SIDs (nrc, sid), the server (server, config,
# profile, nvm, security), the service contract (service), codecs shared by
# client and server (codec_*) and server service modules (srv_*).
