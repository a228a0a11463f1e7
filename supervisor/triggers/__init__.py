"""When ticks are due: cron expressions and the slot arithmetic of a schedule. Pure.

No clocks read, no processes, no sockets: the scheduler process (`supervisor.scheduling`)
feeds these the time. Imports nothing else from the project.
"""
