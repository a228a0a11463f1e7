"""What an operator controls and sees: the control socket and its commands, status snapshots,
metrics, systemd notify and watchdog, and peer access on tcp endpoints.

Sees the master only through the narrow `operations.Controls` protocol (facts and verbs).
May import `errors`, `wire`, `config`, `pool`, `worker`, `lifecycle`, `scheduling`, `tars`.
"""
