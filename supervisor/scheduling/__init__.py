"""Ticks: the scheduler process (timing on its own clock) and the master-side dispatcher that
turns each tick into a pool request with its accounting.

May import `errors`, `triggers`, `config`, `pool`, `worker`, `lifecycle`.
"""
