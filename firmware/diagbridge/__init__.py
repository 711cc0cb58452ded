# diagbridge: the portable gateway core (sans-I/O).  Nothing runs at import.
__version__ = "0.1.0"
