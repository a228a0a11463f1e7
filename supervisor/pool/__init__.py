"""Which worker runs which request: worker records, their state machine, the queue.

Pure: no processes or sockets, only decisions the master then carries out. Holds every
write of a worker's state (`states` checks each transition), the recycling rules and the
restart backoff. May import `errors`, `config`.
"""
