"""K-Line (SSF 14230-2) over pyserial: ``port.KLinePort`` runs a link machine on
a serial port (init patterns by break_condition, echo handling, timing
checks); ``tester.KLineTesterPort`` is the blocking tester front,
``ecu.KLineEcuRunner`` serves a ``KLineEcu``; ``errors`` holds their
exceptions and ``PatternReport``; ``ptywire.PtyWire`` joins pseudo-terminals
into one echoing wire (tests, demos, foreign peers)."""
