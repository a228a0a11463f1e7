"""Several hosts, one schedule: singleton schedules fenced through Redis or etcd.

Nothing here is imported unless the config has a `cluster:` section. The parts:
`settings` (the section), `slots` and `lease` (pure arithmetic and decision rules),
`engine`, `redis_engine`, `etcd_engine` (the two backends), `coordinator` (the helper
process that holds the engine connection), `link` (the master's side of it), `fleet`
(the `status --cluster` view) and `failover` (a client over several masters).
"""
