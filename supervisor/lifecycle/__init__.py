"""Master-side process management: spawning children, the forkserver preload, worker slots
(start, stop, replace, reset, scale) and the supervised helper processes.

Starts and signals processes; allocation decisions come from `supervisor.pool`.
May import `errors`, `wire`, `config`, `pool`, `worker`.
"""
