"""What runs inside a worker process: its main loop, handler resolution with interceptors,
output capture, and what every child does first (`child`: die with the master, a title).

May import `errors`, `wire`, `payload`, `config`.
"""
