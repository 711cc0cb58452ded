"""Serve a UDS ECU profile on a python-can bus (CPython, ``diagbridge ecu``):
``runner`` (the node on a bus), ``profile_file`` (JSON/TOML profiles)."""
