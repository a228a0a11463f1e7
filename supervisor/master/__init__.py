"""The master: one poll loop wiring socket, process and signal events to the pool, plus what
only the master process owns (signals, logs, run directory, pid file).

May import every package below it: `errors`, `wire`, `config`, `pool`, `worker`, `lifecycle`,
`scheduling`, `tars`, `ops`.
"""
