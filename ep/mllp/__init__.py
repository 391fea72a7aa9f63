"""`ep mllp serve`: HL7 v2 ORU^R01 over MLLP, the usual transport of lab results in Swedish
regions, into the same pipeline as the lab inbox (ep.domain.lab_import).

MLLP frames a message as <VT> message <FS><CR>. Each message is recorded (imported,
duplicate, unmatched or rejected, exactly as a file in the inbox would be) and
committed before its ACK is sent: an AA or AE means EP has it. When storing fails (the
database is away), no ACK is sent and the connection is closed, so the sender sends the
message again; a duplicate of one that was stored after all is recorded, not imported
twice.

Many connections are served at once (a thread each). SIGTERM (systemd's stop) or
Ctrl-C: no new connections, each connection finishes the message it is storing and
answers it, then the listener records that it stopped and exits 0.

The listener's state is one row in ``mllp_listener`` (listening since, messages since
the start, the last message's time, stopped at), for the health check.
"""
