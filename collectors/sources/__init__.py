"""Sources: files (plain, gzip), stdin, followed files, the syslog server and EVTX files.

Each source reads records, turns them into ECS events (text lines through the parsers of
collectors.parsers, EVTX records through collectors.evtx_ecs) and hands them to a
collectors.ship.Shipper, which batches, stores, dead-letters and checkpoints.
"""
